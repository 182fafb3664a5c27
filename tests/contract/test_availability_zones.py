"""Availability zone profiles and availability zones (keyed by name): validation, in-use rules,
lists paged by name, policy, and what a zone does to a load balancer create."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lbaas.db import models as m
from lbaas.db.session import Database
from lbaas.providers.noop import NoopProvider
from lbaas.services.env import ServiceEnv
from tests.contract.helpers import make_subnet, settle
from tests.contract.personas import persona_headers

AZP = "/v2/lbaas/availabilityzoneprofiles"
AZ = "/v2/lbaas/availabilityzones"
ZONE_A = json.dumps({"compute_zone": "zone-a"})
MEMBER = persona_headers("member", "p1")
ADMIN = persona_headers("admin", "p1")
pytestmark = pytest.mark.usefixtures("personas")  # persona_headers() needs it
FORBIDDEN = "Policy does not allow this request to be performed."


def _fault(r: Any, code: int, text: str | None = None) -> str:
    assert r.status_code == code, r.text
    body = r.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}
    if text is not None:
        assert body["faultstring"] == text
    return str(body["faultstring"])


def _profile(client: TestClient, data: str = ZONE_A, name: str = "azp", provider: str = "amphora") -> dict[str, Any]:
    body = {"availability_zone_profile": {"name": name, "provider_name": provider, "availability_zone_data": data}}
    r = client.post(AZP, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json()["availability_zone_profile"])


def _zone(client: TestClient, profile_id: str, name: str = "az1", **extra: Any) -> dict[str, Any]:
    r = client.post(AZ, json={"availability_zone": {"name": name, "availability_zone_profile_id": profile_id, **extra}})
    assert r.status_code == 201, r.text
    return dict(r.json()["availability_zone"])


def _count(db: Database, model: Any) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


# --------------------------------------------------------------------------- profiles


def test_profile_create_get(client: TestClient) -> None:
    p = _profile(client)
    assert set(p) == {"id", "name", "provider_name", "availability_zone_data"}
    assert (p["name"], p["provider_name"], p["availability_zone_data"]) == ("azp", "amphora", ZONE_A)
    assert client.get(f"{AZP}/{p['id']}").json()["availability_zone_profile"] == p
    assert client.get(f"{AZP}/{p['id']}?fields=id").json()["availability_zone_profile"] == {"id": p["id"]}
    assert _profile(client, "{}", provider="noop")["availability_zone_data"] == "{}"
    _fault(client.get(f"{AZP}/{uuid.uuid4()}"), 404)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"provider_name": "amphora", "availability_zone_data": "{}"}, None),
        ({"name": "x", "availability_zone_data": "{}"}, None),
        ({"name": "x", "provider_name": "amphora"}, None),
        ({"name": "x", "provider_name": "amphora", "availability_zone_data": "x" * 4097}, None),
        ({"name": "x", "provider_name": "amphora", "availability_zone_data": "nope"}, "nope is not a valid option for availability_zone_data"),
        ({"name": "x", "provider_name": "amphora", "availability_zone_data": '"zone"'}, None),
        ({"name": "x", "provider_name": "amphora", "availability_zone_data": '{"volume_zone": "v"}'}, None),
        ({"name": "x", "provider_name": "amphora", "availability_zone_data": '{"compute_zone": 3}'}, None),
        ({"name": "x", "provider_name": "amphora", "availability_zone_data": '{"compute_zone": ""}'}, None),
        ({"name": "x", "provider_name": "bogus", "availability_zone_data": "{}"}, "Provider 'bogus' is not enabled."),
        ({"name": "x", "provider_name": "amphora", "availability_zone_data": "{}", "bogus": 1}, None),
    ],
)
def test_profile_validation(client: TestClient, body: dict[str, Any], message: str | None) -> None:
    _fault(client.post(AZP, json={"availability_zone_profile": body}), 400, message)
    assert client.get(AZP).json()["availability_zone_profiles"] == []


def test_profile_list(client: TestClient) -> None:
    ids = sorted(_profile(client, name=f"p{i}")["id"] for i in range(3))  # by id, as Octavia lists them
    body = client.get(AZP).json()
    assert [p["id"] for p in body["availability_zone_profiles"]] == ids
    assert body["availability_zone_profile_links"] == []
    assert [p["name"] for p in client.get(f"{AZP}?name=p2").json()["availability_zone_profiles"]] == ["p2"]
    page = client.get(f"{AZP}?limit=1").json()
    assert [p["id"] for p in page["availability_zone_profiles"]] == ids[:1]
    assert page["availability_zone_profile_links"][0]["rel"] == "next"


def test_profile_update_and_delete(client: TestClient) -> None:
    p = _profile(client)
    r = client.put(f"{AZP}/{p['id']}", json={"availability_zone_profile": {"name": "n", "availability_zone_data": "{}"}})
    assert r.status_code == 200
    assert r.json()["availability_zone_profile"] == {**p, "name": "n", "availability_zone_data": "{}"}
    _fault(client.put(f"{AZP}/{p['id']}", json={"availability_zone_profile": {"availability_zone_data": '{"x": 1}'}}), 400)
    _fault(client.put(f"{AZP}/{p['id']}", json={"availability_zone_profile": {"name": None}}), 400)
    _fault(client.put(f"{AZP}/{uuid.uuid4()}", json={"availability_zone_profile": {"name": "q"}}), 404)

    zone = _zone(client, p["id"])
    _fault(client.put(f"{AZP}/{p['id']}", json={"availability_zone_profile": {"availability_zone_data": ZONE_A}}), 409)
    assert client.put(f"{AZP}/{p['id']}", json={"availability_zone_profile": {"name": "m"}}).status_code == 200
    _fault(client.delete(f"{AZP}/{p['id']}"), 409, f"Availability zone profile {p['id']} is in use and cannot be deleted.")
    assert client.delete(f"{AZ}/{zone['name']}").status_code == 204
    assert client.delete(f"{AZP}/{p['id']}").status_code == 204
    _fault(client.delete(f"{AZP}/{p['id']}"), 404)


# --------------------------------------------------------------------------- zones


def test_zone_create_get_update(client: TestClient) -> None:
    p = _profile(client)
    z = _zone(client, p["id"])
    assert z == {"name": "az1", "description": None, "enabled": True, "availability_zone_profile_id": p["id"]}
    assert client.get(f"{AZ}/az1").json()["availability_zone"] == z
    r = client.put(f"{AZ}/az1", json={"availability_zone": {"description": "d", "enabled": False}})
    assert r.status_code == 200
    assert r.json()["availability_zone"] == {**z, "description": "d", "enabled": False}
    _fault(client.put(f"{AZ}/az1", json={"availability_zone": {"name": "other"}}), 400)  # the key is immutable
    _fault(client.put(f"{AZ}/az1", json={"availability_zone": {"availability_zone_profile_id": p["id"]}}), 400)
    _fault(client.put(f"{AZ}/az1", json={"availability_zone": {"enabled": None}}), 400)
    _fault(client.put(f"{AZ}/nope", json={"availability_zone": {"description": "x"}}), 404)
    _fault(client.get(f"{AZ}/nope"), 404, "Availability zone nope not found.")


@pytest.mark.parametrize(
    "zone",
    [
        {"availability_zone_profile_id": "PROFILE"},
        {"name": "x"},
        {"name": "x", "availability_zone_profile_id": "not-a-uuid"},
        {"name": "x", "availability_zone_profile_id": "00000000-0000-0000-0000-000000000001"},
        {"name": "x" * 256, "availability_zone_profile_id": "PROFILE"},
        {"name": "x", "availability_zone_profile_id": "PROFILE", "id": "x"},
    ],
)
def test_zone_validation(client: TestClient, zone: dict[str, Any]) -> None:
    p = _profile(client)
    body = {k: (p["id"] if v == "PROFILE" else v) for k, v in zone.items()}
    _fault(client.post(AZ, json={"availability_zone": body}), 400)
    assert client.get(AZ).json()["availability_zones"] == []


def test_zone_name_unique(client: TestClient) -> None:
    p = _profile(client)
    _zone(client, p["id"])
    _fault(client.post(AZ, json={"availability_zone": {"name": "az1", "availability_zone_profile_id": p["id"]}}), 409)


def test_zone_list_paged_by_name(client: TestClient) -> None:
    p = _profile(client)
    for name in ("c", "a", "b"):
        _zone(client, p["id"], name=name, enabled=name != "b")
    body = client.get(AZ).json()
    assert [z["name"] for z in body["availability_zones"]] == ["a", "b", "c"]
    assert body["availability_zones_links"] == []
    assert [z["name"] for z in client.get(f"{AZ}?enabled=false").json()["availability_zones"]] == ["b"]
    assert client.get(f"{AZ}?fields=name&name=c").json()["availability_zones"] == [{"name": "c"}]
    page = client.get(f"{AZ}?limit=2").json()
    assert [z["name"] for z in page["availability_zones"]] == ["a", "b"]
    (link,) = page["availability_zones_links"]
    assert link["rel"] == "next" and "marker=b" in link["href"]
    page = client.get(f"{AZ}?limit=2&marker=b").json()
    assert [z["name"] for z in page["availability_zones"]] == ["c"]
    assert [z["name"] for z in client.get(f"{AZ}?sort=name:desc").json()["availability_zones"]] == ["c", "b", "a"]
    _fault(client.get(f"{AZ}?marker=zzz"), 404)
    assert len(client.get(AZ, headers=MEMBER).json()["availability_zones"]) == 3  # anyone may read zones


def test_policy(client: TestClient, app_env: ServiceEnv) -> None:
    p = _profile(client)
    _zone(client, p["id"])
    pbody = {"availability_zone_profile": {"name": "x", "provider_name": "amphora", "availability_zone_data": "{}"}}
    for method, url, kwargs in [
        ("get", AZP, {}),
        ("get", f"{AZP}/{p['id']}", {}),
        ("post", AZP, {"json": pbody}),
        ("delete", f"{AZP}/{p['id']}", {}),
        ("post", AZ, {"json": {"availability_zone": {"name": "z", "availability_zone_profile_id": p["id"]}}}),
        ("put", f"{AZ}/az1", {"json": {"availability_zone": {"enabled": False}}}),
        ("delete", f"{AZ}/az1", {}),
    ]:
        _fault(getattr(client, method)(url, headers=MEMBER, **kwargs), 403, FORBIDDEN)
    assert client.get(f"{AZ}/az1", headers=MEMBER).status_code == 200
    assert client.post(AZP, json=pbody, headers=ADMIN).status_code == 201
    member = {"X-Project-Id": "lbaas-default"}  # a member of the default project
    _fault(client.post(AZP, json=pbody, headers=member), 403, FORBIDDEN)
    assert client.get(AZ, headers=member).status_code == 200


# --------------------------------------------------------------------------- load balancers in a zone


def test_lb_in_zone(client: TestClient, database: Database, provider: NoopProvider) -> None:
    subnet = make_subnet(database)
    _zone(client, _profile(client)["id"])
    r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet, "availability_zone": "az1"}})
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    assert lb["availability_zone"] == "az1"
    settle(provider)
    assert client.get("/v2/lbaas/loadbalancers?availability_zone=az1").json()["loadbalancers"][0]["id"] == lb["id"]
    # In use: the zone cannot go; disabling it only stops new load balancers.
    _fault(client.delete(f"{AZ}/az1"), 409, "Availability zone az1 is in use and cannot be deleted.")
    assert client.put(f"{AZ}/az1", json={"availability_zone": {"enabled": False}}).status_code == 200
    assert client.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]["provisioning_status"] == "ACTIVE"
    assert client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    settle(provider)
    assert client.delete(f"{AZ}/az1").status_code == 204


def test_lb_in_disabled_or_unknown_zone(client: TestClient, database: Database) -> None:
    subnet = make_subnet(database)
    _zone(client, _profile(client)["id"], enabled=False)
    ports = _count(database, m.Port)
    for name in ("az1", "nowhere"):
        r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet, "availability_zone": name}})
        _fault(r, 400)
    assert _count(database, m.LoadBalancer) == 0
    assert _count(database, m.Port) == ports


def test_profile_accepts_octavias_management_network(client: TestClient) -> None:
    """Octavia's amphora driver takes ``management_network`` beside ``compute_zone``; so do we (it
    changes nothing here: agents have no management network), and a zone on such a profile works."""
    data = json.dumps({"compute_zone": "zone-a", "management_network": str(uuid.uuid4())})
    p = _profile(client, data)
    assert p["availability_zone_data"] == data
    assert _profile(client, json.dumps({"management_network": "lb-mgmt-net"}), name="m2")["name"] == "m2"
    assert _zone(client, p["id"], name="with-mgmt")["availability_zone_profile_id"] == p["id"]
    for bad in ('{"management_network": ""}', '{"management_network": 7}', '{"management_network": "a\\nb"}'):
        _fault(client.post(AZP, json={"availability_zone_profile": {
            "name": "x", "provider_name": "amphora", "availability_zone_data": bad}}), 400)  # fmt: skip
    caps = client.get("/v2/lbaas/providers/amphora/availability_zone_capabilities").json()
    assert {c["name"] for c in caps["availability_zone_capabilities"]} == {"compute_zone", "management_network"}
