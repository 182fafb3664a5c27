"""Amphorae: the record of each running LB instance (written through the noop provider's hook here),
its list/show/stats, and failover, config push and delete with Octavia's status rules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from lbaas.config import Settings
from lbaas.db import models as m
from lbaas.db.session import Database
from lbaas.providers.noop import NoopProvider
from lbaas.services import amphorae
from lbaas.services.env import ServiceEnv
from tests.contract.helpers import make_subnet, settle
from tests.contract.personas import persona_headers

AMP = "/v2/octavia/amphorae"
MEMBER = persona_headers("member", "p1")
ADMIN = persona_headers("admin", "p1")
pytestmark = pytest.mark.usefixtures("personas")  # persona_headers() needs it
FORBIDDEN = "Policy does not allow this request to be performed."
FIELDS = {
    "id", "loadbalancer_id", "compute_id", "lb_network_ip", "vrrp_ip", "ha_ip", "vrrp_port_id", "ha_port_id",
    "cert_expiration", "cert_busy", "role", "status", "vrrp_interface", "vrrp_id", "vrrp_priority", "cached_zone",
    "image_id", "compute_flavor", "created_at", "updated_at",
}  # fmt: skip
STATS = {"id", "listener_id", "loadbalancer_id", "active_connections", "bytes_in", "bytes_out", "request_errors",
         "total_connections"}  # fmt: skip


@pytest.fixture
def provider(database: Database, settings: Settings) -> Iterator[NoopProvider]:
    """The noop provider wired as the embedded build wires it: it records the instance when an LB turns ACTIVE."""
    prov = NoopProvider(
        database,
        hold=True,
        names=frozenset({"noop", "amphora", "octavia"}),
        on_active=lambda s, lb: amphorae.ensure_amphora(s, lb, settings.host),
    )
    yield prov
    prov.close()


def _fault(r: Any, code: int, text: str | None = None) -> None:
    assert r.status_code == code, r.text
    body = r.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}
    if text is not None:
        assert body["faultstring"] == text


def _lb(client: TestClient, provider: NoopProvider, subnet: str, **extra: Any) -> dict[str, Any]:
    r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet, **extra}})
    assert r.status_code == 201, r.text
    settle(provider)
    return dict(client.get(f"/v2/lbaas/loadbalancers/{r.json()['loadbalancer']['id']}").json()["loadbalancer"])


def _amps(client: TestClient, query: str = "") -> list[dict[str, Any]]:
    r = client.get(f"{AMP}{query}")
    assert r.status_code == 200, r.text
    return list(r.json()["amphorae"])


def _only_amp(client: TestClient, lb_id: str) -> dict[str, Any]:
    (amp,) = _amps(client, f"?loadbalancer_id={lb_id}")
    return amp


def _lb_status(client: TestClient, lb_id: str) -> str:
    return str(client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]["provisioning_status"])


def _set(database: Database, model: Any, ident: str, **values: Any) -> None:
    with database.write() as s:
        row = s.get(model, ident)
        assert row is not None
        for k, v in values.items():
            setattr(row, k, v)


def test_record_of_a_running_lb(client: TestClient, database: Database, provider: NoopProvider, settings: Settings) -> None:
    subnet = make_subnet(database)
    r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet}})
    lb_id = r.json()["loadbalancer"]["id"]
    assert _amps(client) == []  # nothing runs while the LB is PENDING_CREATE
    settle(provider)
    lb = client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
    amp = _only_amp(client, lb_id)
    assert set(amp) == FIELDS
    # compute_id names the host by a UUID as Octavia names its VM (octavia-tempest-plugin parses it): the
    # agent's id, or one derived from the host's name where no agent runs (this noop provider)
    with database.read() as s:
        agent_id = s.scalar(select(m.Agent.id).where(m.Agent.host == settings.host))
    assert amp["compute_id"] == amphorae.compute_id(agent_id, settings.host) == str(uuid.UUID(amp["compute_id"]))
    assert (amp["ha_ip"], amp["ha_port_id"]) == (lb["vip_address"], lb["vip_port_id"])
    # the namespace holds the VIP on the VIP port itself: that is the instance's own (vrrp) port and address
    assert (amp["vrrp_ip"], amp["vrrp_port_id"]) == (lb["vip_address"], lb["vip_port_id"])
    assert (amp["role"], amp["status"]) == ("STANDALONE", "ALLOCATED")
    assert (amp["cert_expiration"], amp["cert_busy"]) == (None, False)
    for name in ("vrrp_interface", "vrrp_id", "vrrp_priority", "image_id", "compute_flavor",
                 "lb_network_ip", "cached_zone"):  # fmt: skip
        assert amp[name] is None, name
    assert amp["created_at"] and amp["updated_at"] == amp["created_at"]  # every amphora has updated_at
    assert client.get(f"{AMP}/{amp['id']}").json()["amphora"] == amp
    assert client.get(f"{AMP}/{amp['id']}?fields=id&fields=status").json()["amphora"] == {"id": amp["id"], "status": "ALLOCATED"}

    # Later generations refresh the same record; they do not add instances.
    assert client.put(f"/v2/lbaas/loadbalancers/{lb_id}", json={"loadbalancer": {"name": "x"}}).status_code == 200
    settle(provider)
    again = _only_amp(client, lb_id)
    assert again["id"] == amp["id"]
    assert again["updated_at"] == amp["updated_at"]  # nothing changed, nothing rewritten

    # Deleting the LB removes its instance.
    assert client.delete(f"/v2/lbaas/loadbalancers/{lb_id}").status_code == 204
    settle(provider)
    assert _amps(client) == []
    _fault(client.get(f"{AMP}/{amp['id']}"), 404, f"Amphora {amp['id']} not found.")


def test_zone_and_agent(client: TestClient, database: Database, provider: NoopProvider, settings: Settings) -> None:
    subnet = make_subnet(database)
    with database.write() as s:
        s.add(m.AvailabilityZoneProfile(id=m.new_id(), name="p", provider_name="amphora", availability_zone_data="{}"))
        s.flush()
        profile_id = s.scalars(select(m.AvailabilityZoneProfile.id)).one()
        s.add(m.AvailabilityZone(name="az1", availability_zone_profile_id=profile_id))
    lb = _lb(client, provider, subnet, availability_zone="az1")
    assert _only_amp(client, lb["id"])["cached_zone"] == "az1"  # no agent known: the LB's zone
    with database.write() as s:
        agent = m.Agent(id=m.new_id(), host=settings.host, availability_zone="zone-a")
        s.add(agent)
        s.flush()
        row = s.get(m.LoadBalancer, lb["id"])
        assert row is not None
        amphorae.ensure_amphora(s, row, settings.host)
    amp = _only_amp(client, lb["id"])
    assert amp["cached_zone"] == "zone-a"  # the agent's own zone wins
    with database.read() as s:
        assert s.scalars(select(m.Amphora.agent_id)).one() == agent.id


def test_list_filters_fields_pages(client: TestClient, database: Database, provider: NoopProvider) -> None:
    subnet = make_subnet(database)
    lbs = [_lb(client, provider, subnet) for _ in range(3)]
    amps = _amps(client)
    assert sorted(a["loadbalancer_id"] for a in amps) == sorted(lb["id"] for lb in lbs)
    assert client.get(AMP).json()["amphorae_links"] == []
    assert [a["loadbalancer_id"] for a in _amps(client, f"?loadbalancer_id={lbs[1]['id']}")] == [lbs[1]["id"]]
    assert len(_amps(client, "?status=ALLOCATED&role=STANDALONE")) == 3
    assert _amps(client, "?status=ERROR") == []
    assert _amps(client, f"?ha_ip={lbs[2]['vip_address']}")[0]["loadbalancer_id"] == lbs[2]["id"]
    assert all(set(a) == {"id", "role"} for a in _amps(client, "?fields=id,role"))
    page = client.get(f"{AMP}?limit=2").json()
    assert [a["id"] for a in page["amphorae"]] == [a["id"] for a in amps[:2]]
    (link,) = page["amphorae_links"]
    assert link["rel"] == "next"
    page = client.get(f"{AMP}?limit=2&marker={amps[1]['id']}").json()
    assert [a["id"] for a in page["amphorae"]] == [amps[2]["id"]]
    assert [lk["rel"] for lk in page["amphorae_links"]] == ["previous"]


def test_stats(client: TestClient, database: Database, provider: NoopProvider) -> None:
    subnet = make_subnet(database)
    lb = _lb(client, provider, subnet, listeners=[{"protocol": "TCP", "protocol_port": p} for p in (80, 81)])
    listeners = client.get(f"/v2/lbaas/listeners?loadbalancer_id={lb['id']}&sort=protocol_port:asc").json()["listeners"]
    with database.write() as s:
        s.add(m.ListenerStats(listener_id=listeners[0]["id"], loadbalancer_id=lb["id"], bytes_in=10, bytes_out=20,
                              active_connections=1, total_connections=5, request_errors=2))  # fmt: skip
    amp = _only_amp(client, lb["id"])
    r = client.get(f"{AMP}/{amp['id']}/stats")
    assert r.status_code == 200
    stats = r.json()["amphora_stats"]
    assert all(set(st) == STATS for st in stats)
    by_listener = {st["listener_id"]: st for st in stats}
    assert set(by_listener) == {li["id"] for li in listeners}
    first, second = by_listener[listeners[0]["id"]], by_listener[listeners[1]["id"]]
    assert (first["id"], first["loadbalancer_id"]) == (amp["id"], lb["id"])
    assert (first["bytes_in"], first["bytes_out"], first["active_connections"], first["total_connections"],
            first["request_errors"]) == (10, 20, 1, 5, 2)  # fmt: skip
    assert all(second[k] == 0 for k in STATS - {"id", "listener_id", "loadbalancer_id"})


def test_failover(client: TestClient, database: Database, provider: NoopProvider) -> None:
    lb = _lb(client, provider, make_subnet(database))
    amp = _only_amp(client, lb["id"])
    with database.read() as s:
        row = s.get(m.LoadBalancer, lb["id"])
        assert row is not None
        epoch = row.binding_epoch
    r = client.put(f"{AMP}/{amp['id']}/failover")
    assert r.status_code == 202 and r.content == b""
    assert _lb_status(client, lb["id"]) == "PENDING_UPDATE"
    with database.read() as s:
        row = s.get(m.LoadBalancer, lb["id"])
        assert row is not None and row.binding_epoch == epoch + 1  # the same as an LB failover
    _fault(client.put(f"{AMP}/{amp['id']}/failover"), 409, f"Invalid state PENDING_UPDATE of loadbalancer resource {lb['id']}")
    assert _only_amp(client, lb["id"])["status"] == "PENDING_DELETE"  # being replaced
    settle(provider)
    assert _lb_status(client, lb["id"]) == "ACTIVE"
    # A failover makes a new instance, so a new amphora record with a new id (as in Octavia); the old one is gone.
    new = _only_amp(client, lb["id"])
    assert new["id"] != amp["id"] and new["status"] == "ALLOCATED" and new["updated_at"]
    _fault(client.get(f"{AMP}/{amp['id']}"), 404)
    # An LB in ERROR may be failed over too; so may the LB itself, with the same effect.
    _set(database, m.LoadBalancer, lb["id"], provisioning_status="ERROR")
    assert client.put(f"{AMP}/{new['id']}/failover").status_code == 202
    settle(provider)
    assert _lb_status(client, lb["id"]) == "ACTIVE"
    third = _only_amp(client, lb["id"])
    assert third["id"] not in (amp["id"], new["id"])
    assert client.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 202
    settle(provider)
    assert _only_amp(client, lb["id"])["id"] not in (amp["id"], new["id"], third["id"])


def test_an_lb_found_on_another_host_gets_a_new_record(client: TestClient, database: Database,
                                                       provider: NoopProvider, settings: Settings) -> None:  # fmt: skip
    """The controller moved the LB after its agent died: the instance on the new host is a new amphora."""
    lb = _lb(client, provider, make_subnet(database))
    amp = _only_amp(client, lb["id"])
    with database.write() as s:
        s.add(m.Agent(id=m.new_id(), host="another-host"))
        s.flush()
        other = s.scalar(select(m.Agent.id).where(m.Agent.host == "another-host"))
        row = s.get(m.LoadBalancer, lb["id"])
        assert row is not None
        same = amphorae.ensure_amphora(s, row, settings.host)
        assert same.id == amp["id"]
        moved = amphorae.ensure_amphora(s, row, "another-host")
        assert moved.id != amp["id"] and moved.compute_id == other and moved.updated_at is not None
        assert moved.agent_id == other
    assert _only_amp(client, lb["id"])["compute_id"] == other


def test_config(client: TestClient, database: Database, provider: NoopProvider) -> None:
    lb = _lb(client, provider, make_subnet(database))
    amp = _only_amp(client, lb["id"])
    with database.read() as s:
        row = s.get(m.LoadBalancer, lb["id"])
        assert row is not None
        generation = row.generation
    r = client.put(f"{AMP}/{amp['id']}/config")
    assert r.status_code == 202 and r.content == b""
    assert _lb_status(client, lb["id"]) == "PENDING_UPDATE"
    with database.read() as s:
        row = s.get(m.LoadBalancer, lb["id"])
        assert row is not None and row.generation == generation + 1
    _fault(client.put(f"{AMP}/{amp['id']}/config"), 409)
    settle(provider)
    assert _lb_status(client, lb["id"]) == "ACTIVE"
    _set(database, m.LoadBalancer, lb["id"], provisioning_status="ERROR")
    _fault(client.put(f"{AMP}/{amp['id']}/config"), 409, f"Invalid state ERROR of loadbalancer resource {lb['id']}")


def test_delete_only_in_error(client: TestClient, database: Database, provider: NoopProvider) -> None:
    lb = _lb(client, provider, make_subnet(database))
    amp = _only_amp(client, lb["id"])
    _fault(client.delete(f"{AMP}/{amp['id']}"), 409, f"Amphora {amp['id']} is immutable and cannot be updated.")
    _set(database, m.Amphora, amp["id"], status="ERROR")
    assert client.get(f"{AMP}/{amp['id']}").json()["amphora"]["status"] == "ERROR"
    r = client.delete(f"{AMP}/{amp['id']}")
    assert r.status_code == 204 and r.content == b""
    _fault(client.get(f"{AMP}/{amp['id']}"), 404)
    _fault(client.delete(f"{AMP}/{amp['id']}"), 404)
    # The LB was nudged: a healthy instance is recorded again.
    settle(provider)
    replacement = _only_amp(client, lb["id"])
    assert replacement["id"] != amp["id"] and replacement["status"] == "ALLOCATED"
    assert _lb_status(client, lb["id"]) == "ACTIVE"


def test_amphora_without_lb(client: TestClient, database: Database) -> None:
    with database.write() as s:
        s.add(m.Amphora(id="00000000-0000-0000-0000-00000000000a", status="READY"))
    ident = "00000000-0000-0000-0000-00000000000a"
    assert client.get(f"{AMP}/{ident}").json()["amphora"]["loadbalancer_id"] is None
    assert client.get(f"{AMP}/{ident}/stats").json() == {"amphora_stats": []}
    _fault(client.put(f"{AMP}/{ident}/failover"), 409)
    _fault(client.put(f"{AMP}/{ident}/config"), 409)


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("get", "/stats"), ("put", "/failover"), ("put", "/config"), ("delete", "")],
)
def test_unknown_amphora(client: TestClient, method: str, suffix: str) -> None:
    ident = "00000000-0000-0000-0000-000000000001"
    _fault(getattr(client, method)(f"{AMP}/{ident}{suffix}"), 404, f"Amphora {ident} not found.")


def test_policy(client: TestClient, database: Database, provider: NoopProvider, app_env: ServiceEnv) -> None:
    lb = _lb(client, provider, make_subnet(database))
    amp = _only_amp(client, lb["id"])
    calls = [("get", AMP), ("get", f"{AMP}/{amp['id']}"), ("get", f"{AMP}/{amp['id']}/stats"),
             ("put", f"{AMP}/{amp['id']}/failover"), ("put", f"{AMP}/{amp['id']}/config"),
             ("delete", f"{AMP}/{amp['id']}")]  # fmt: skip
    for method, url in calls:
        _fault(getattr(client, method)(url, headers=MEMBER), 403, FORBIDDEN)
    assert _lb_status(client, lb["id"]) == "ACTIVE"  # nothing happened
    assert len(client.get(AMP, headers=ADMIN).json()["amphorae"]) == 1
    assert client.get(AMP, headers=persona_headers("admin")).status_code == 200
    # A member of the default project (what the anonymous caller was before noauth meant admin).
    _fault(client.get(AMP, headers={"X-Project-Id": "lbaas-default"}), 403, FORBIDDEN)
    assert client.get(f"{AMP}/{amp['id']}/stats", headers=ADMIN).status_code == 200
