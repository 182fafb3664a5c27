"""Flavor profiles and flavors: validation against provider capabilities, uniqueness, in-use rules,
lists, policy, and what a flavor does to a load balancer create."""

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

FP = "/v2/lbaas/flavorprofiles"
FL = "/v2/lbaas/flavors"
SINGLE = json.dumps({"loadbalancer_topology": "SINGLE"})
MEMBER = persona_headers("member", "p1")
ADMIN = persona_headers("admin", "p1")
pytestmark = pytest.mark.usefixtures("personas")  # persona_headers() needs it
FORBIDDEN = "Policy does not allow this request to be performed."


def _fault(r: Any, code: int, text: str | None = None) -> str:
    assert r.status_code == code, r.text
    body = r.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}
    assert body["debuginfo"] is None
    if text is not None:
        assert body["faultstring"] == text
    return str(body["faultstring"])


def _profile(client: TestClient, data: str = SINGLE, name: str = "fp", provider: str = "amphora") -> dict[str, Any]:
    r = client.post(FP, json={"flavorprofile": {"name": name, "provider_name": provider, "flavor_data": data}})
    assert r.status_code == 201, r.text
    return dict(r.json()["flavorprofile"])


def _flavor(client: TestClient, profile_id: str, name: str = "small", **extra: Any) -> dict[str, Any]:
    r = client.post(FL, json={"flavor": {"name": name, "flavor_profile_id": profile_id, **extra}})
    assert r.status_code == 201, r.text
    return dict(r.json()["flavor"])


def _count(db: Database, model: Any) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


# --------------------------------------------------------------------------- profiles


def test_profile_create_and_get(client: TestClient) -> None:
    fp = _profile(client)
    assert set(fp) == {"id", "name", "provider_name", "flavor_data"}
    uuid.UUID(fp["id"])
    assert (fp["name"], fp["provider_name"], fp["flavor_data"]) == ("fp", "amphora", SINGLE)
    assert client.get(f"{FP}/{fp['id']}").json()["flavorprofile"] == fp
    assert client.get(f"{FP}/{fp['id']}?fields=name").json()["flavorprofile"] == {"name": "fp"}
    # An empty object, other names of the default provider, and ACTIVE_STANDBY (the LB create refuses it later).
    assert _profile(client, "{}", provider="octavia")["flavor_data"] == "{}"
    _profile(client, json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"}), provider="noop")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"provider_name": "amphora", "flavor_data": "{}"}, None),
        ({"name": "x", "flavor_data": "{}"}, None),
        ({"name": "x", "provider_name": "amphora"}, None),
        ({"name": "x", "provider_name": "amphora", "flavor_data": "{}", "id": str(uuid.uuid4())}, None),
        ({"name": "x" * 256, "provider_name": "amphora", "flavor_data": "{}"}, None),
        ({"name": "x", "provider_name": "amphora", "flavor_data": json.dumps({"a": "b" * 4096})}, None),
        ({"name": "x", "provider_name": "amphora", "flavor_data": "{not json"}, "{not json is not a valid option for flavor_data"),
        ({"name": "x", "provider_name": "amphora", "flavor_data": "[1]"}, "[1] is not a valid option for flavor_data"),
        ({"name": "x", "provider_name": "bogus", "flavor_data": "{}"}, "Provider 'bogus' is not enabled."),
        ({"name": "x", "provider_name": "amphora", "flavor_data": '{"compute_flavor": "m1"}'}, None),
        ({"name": "x", "provider_name": "amphora", "flavor_data": '{"loadbalancer_topology": "TRIPLE"}'}, None),
    ],
)
def test_profile_validation(client: TestClient, body: dict[str, Any], message: str | None) -> None:
    _fault(client.post(FP, json={"flavorprofile": body}), 400, message)
    assert client.get(FP).json()["flavorprofiles"] == []


def test_profile_unknown_key_message(client: TestClient) -> None:
    text = _fault(client.post(FP, json={"flavorprofile": {"name": "x", "provider_name": "amphora", "flavor_data": '{"foo": 1}'}}), 400)
    assert text.startswith("Validation failure: ") and "'foo'" in text and "loadbalancer_topology" in text


def test_profile_list_filters_and_pages(client: TestClient) -> None:
    ids = sorted(_profile(client, name=f"fp{i}")["id"] for i in range(3))  # listed by id, as Octavia lists them
    body = client.get(FP).json()
    assert [p["id"] for p in body["flavorprofiles"]] == ids
    assert body["flavorprofile_links"] == []
    name = {p["id"]: p["name"] for p in body["flavorprofiles"]}
    assert [p["id"] for p in client.get(f"{FP}?name={name[ids[1]]}").json()["flavorprofiles"]] == [ids[1]]
    assert client.get(f"{FP}?fields=id&fields=name").json()["flavorprofiles"][0] == {"id": ids[0], "name": name[ids[0]]}
    page = client.get(f"{FP}?limit=2").json()
    assert [p["id"] for p in page["flavorprofiles"]] == ids[:2]
    (link,) = page["flavorprofile_links"]
    assert link["rel"] == "next" and f"marker={ids[1]}" in link["href"]
    page = client.get(f"{FP}?limit=2&marker={ids[1]}").json()
    assert [p["id"] for p in page["flavorprofiles"]] == ids[2:]
    assert [lk["rel"] for lk in page["flavorprofile_links"]] == ["previous"]
    assert [p["name"] for p in client.get(f"{FP}?sort=name:desc").json()["flavorprofiles"]] == ["fp2", "fp1", "fp0"]


def test_profile_update(client: TestClient) -> None:
    fp = _profile(client)
    r = client.put(f"{FP}/{fp['id']}", json={"flavorprofile": {"name": "renamed", "flavor_data": "{}"}})
    assert r.status_code == 200
    assert r.json()["flavorprofile"] == {**fp, "name": "renamed", "flavor_data": "{}"}
    _fault(client.put(f"{FP}/{fp['id']}", json={"flavorprofile": {"name": None}}), 400, "None is not a valid option for name")
    _fault(client.put(f"{FP}/{fp['id']}", json={"flavorprofile": {"flavor_data": '{"x": 1}'}}), 400)
    _fault(client.put(f"{FP}/{fp['id']}", json={"flavorprofile": {"provider_name": "bogus"}}), 400, "Provider 'bogus' is not enabled.")
    _fault(client.put(f"{FP}/{uuid.uuid4()}", json={"flavorprofile": {"name": "y"}}), 404)
    assert client.get(f"{FP}/{fp['id']}").json()["flavorprofile"]["flavor_data"] == "{}"

    # In use by a flavor: the name may change, what it means may not.
    _flavor(client, fp["id"])
    _fault(client.put(f"{FP}/{fp['id']}", json={"flavorprofile": {"flavor_data": SINGLE}}), 409)
    _fault(client.put(f"{FP}/{fp['id']}", json={"flavorprofile": {"provider_name": "noop"}}), 409)
    assert client.put(f"{FP}/{fp['id']}", json={"flavorprofile": {"name": "n2"}}).status_code == 200


def test_profile_delete(client: TestClient) -> None:
    fp = _profile(client)
    fl = _flavor(client, fp["id"])
    _fault(client.delete(f"{FP}/{fp['id']}"), 409, f"Flavor profile {fp['id']} is in use and cannot be deleted.")
    assert client.delete(f"{FL}/{fl['id']}").status_code == 204
    assert client.delete(f"{FP}/{fp['id']}").status_code == 204
    _fault(client.get(f"{FP}/{fp['id']}"), 404, f"Flavor profile {fp['id']} not found.")
    _fault(client.delete(f"{FP}/{fp['id']}"), 404)


# --------------------------------------------------------------------------- flavors


def test_flavor_create_defaults_and_get(client: TestClient) -> None:
    fp = _profile(client)
    fl = _flavor(client, fp["id"])
    assert fl == {"id": fl["id"], "name": "small", "description": None, "enabled": True, "flavor_profile_id": fp["id"]}
    assert client.get(f"{FL}/{fl['id']}").json()["flavor"] == fl
    fl2 = _flavor(client, fp["id"], name="big", description="d", enabled=False)
    assert (fl2["description"], fl2["enabled"]) == ("d", False)
    _fault(client.get(f"{FL}/{uuid.uuid4()}"), 404)


@pytest.mark.parametrize(
    "flavor",
    [
        {"flavor_profile_id": "PROFILE"},
        {"name": "x"},
        {"name": "x", "flavor_profile_id": "not-a-uuid"},
        {"name": "x", "flavor_profile_id": "PROFILE", "enabled": "maybe"},
        {"name": "x", "flavor_profile_id": "PROFILE", "description": "d" * 256},
        {"name": "x", "flavor_profile_id": "PROFILE", "bogus": 1},
        {"name": "x", "flavor_profile_id": "00000000-0000-0000-0000-000000000001"},
    ],
)
def test_flavor_validation(client: TestClient, flavor: dict[str, Any]) -> None:
    fp = _profile(client)
    body = {k: (fp["id"] if v == "PROFILE" else v) for k, v in flavor.items()}
    _fault(client.post(FL, json={"flavor": body}), 400)
    assert client.get(FL).json()["flavors"] == []


def test_flavor_name_unique(client: TestClient) -> None:
    fp = _profile(client)
    _flavor(client, fp["id"], name="small")
    other = _flavor(client, fp["id"], name="big")
    _fault(client.post(FL, json={"flavor": {"name": "small", "flavor_profile_id": fp["id"]}}), 409)
    _fault(client.put(f"{FL}/{other['id']}", json={"flavor": {"name": "small"}}), 409)
    assert client.put(f"{FL}/{other['id']}", json={"flavor": {"name": "big"}}).status_code == 200  # its own name


def test_flavor_update(client: TestClient) -> None:
    fp = _profile(client)
    fl = _flavor(client, fp["id"])
    r = client.put(f"{FL}/{fl['id']}", json={"flavor": {"name": "s2", "description": "x", "enabled": False}})
    assert r.status_code == 200
    assert r.json()["flavor"] == {**fl, "name": "s2", "description": "x", "enabled": False}
    _fault(client.put(f"{FL}/{fl['id']}", json={"flavor": {"name": None}}), 400)
    _fault(client.put(f"{FL}/{fl['id']}", json={"flavor": {"flavor_profile_id": fp["id"]}}), 400)
    _fault(client.put(f"{FL}/{uuid.uuid4()}", json={"flavor": {"name": "z"}}), 404)
    assert client.put(f"{FL}/{fl['id']}", json={"flavor": {"description": None}}).json()["flavor"]["description"] is None


def test_flavor_list(client: TestClient) -> None:
    fp = _profile(client)
    made = [_flavor(client, fp["id"], name="a"), _flavor(client, fp["id"], name="b", enabled=False),
            _flavor(client, fp["id"], name="c")]  # fmt: skip
    by_id = sorted(made, key=lambda f: f["id"])  # Octavia lists flavors by id (they have no created_at)
    body = client.get(FL).json()
    assert [f["id"] for f in body["flavors"]] == [f["id"] for f in by_id]
    assert body["flavors_links"] == []
    assert [f["name"] for f in client.get(f"{FL}?enabled=false").json()["flavors"]] == ["b"]
    assert [f["name"] for f in client.get(f"{FL}?name=c").json()["flavors"]] == ["c"]
    assert client.get(f"{FL}?fields=name").json()["flavors"] == [{"name": f["name"]} for f in by_id]
    assert [f["name"] for f in client.get(f"{FL}?sort=name:asc").json()["flavors"]] == ["a", "b", "c"]
    page = client.get(f"{FL}?limit=1&marker={by_id[0]['id']}").json()
    assert [f["id"] for f in page["flavors"]] == [by_id[1]["id"]]
    assert sorted(lk["rel"] for lk in page["flavors_links"]) == ["next", "previous"]
    # Anyone may read flavors.
    assert len(client.get(FL, headers=MEMBER).json()["flavors"]) == 3
    assert client.get(f"{FL}/{made[0]['id']}", headers=MEMBER).status_code == 200


def test_flavor_delete_in_use(client: TestClient, database: Database, provider: NoopProvider) -> None:
    subnet = make_subnet(database)
    fl = _flavor(client, _profile(client)["id"])
    r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet, "flavor_id": fl["id"]}})
    assert r.status_code == 201
    _fault(client.delete(f"{FL}/{fl['id']}"), 409, f"Flavor {fl['id']} is in use and cannot be deleted.")
    settle(provider)
    assert client.delete(f"/v2/lbaas/loadbalancers/{r.json()['loadbalancer']['id']}").status_code == 204
    settle(provider)
    assert client.delete(f"{FL}/{fl['id']}").status_code == 204
    _fault(client.delete(f"{FL}/{fl['id']}"), 404)


# --------------------------------------------------------------------------- policy


def test_policy(client: TestClient, app_env: ServiceEnv) -> None:
    fp = _profile(client)  # anonymous noauth caller: the operator
    fl = _flavor(client, fp["id"])
    body = {"flavorprofile": {"name": "x", "provider_name": "amphora", "flavor_data": "{}"}}
    for method, url, kwargs in [
        ("get", FP, {}),
        ("get", f"{FP}/{fp['id']}", {}),
        ("post", FP, {"json": body}),
        ("put", f"{FP}/{fp['id']}", {"json": {"flavorprofile": {"name": "y"}}}),
        ("delete", f"{FP}/{fp['id']}", {}),
        ("post", FL, {"json": {"flavor": {"name": "z", "flavor_profile_id": fp["id"]}}}),
        ("put", f"{FL}/{fl['id']}", {"json": {"flavor": {"name": "z"}}}),
        ("delete", f"{FL}/{fl['id']}", {}),
    ]:
        _fault(getattr(client, method)(url, headers=MEMBER, **kwargs), 403, FORBIDDEN)
    assert client.get(FP, headers=ADMIN).status_code == 200
    assert client.post(FP, json=body, headers=ADMIN).status_code == 201

    member = {"X-Project-Id": "lbaas-default"}  # a member of the default project
    _fault(client.post(FP, json=body, headers=member), 403, FORBIDDEN)
    _fault(client.post(FL, json={"flavor": {"name": "z", "flavor_profile_id": fp["id"]}}, headers=member), 403, FORBIDDEN)
    assert client.get(FL, headers=member).status_code == 200
    assert client.post(FP, json=body, headers=ADMIN).status_code == 201


# --------------------------------------------------------------------------- load balancers with a flavor


def test_lb_with_single_flavor(client: TestClient, database: Database, provider: NoopProvider) -> None:
    subnet = make_subnet(database)
    fl = _flavor(client, _profile(client, SINGLE)["id"])
    r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet, "flavor_id": fl["id"]}})
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    assert lb["flavor_id"] == fl["id"]
    settle(provider)
    assert client.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]["provisioning_status"] == "ACTIVE"
    with database.read() as s:
        row = s.get(m.LoadBalancer, lb["id"])
        assert row is not None and row.topology == "SINGLE"
    # A profile without a topology key means SINGLE too.
    fl2 = _flavor(client, _profile(client, "{}", name="empty")["id"], name="plain")
    r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet, "flavor_id": fl2["id"]}})
    assert r.status_code == 201


def test_lb_with_active_standby_flavor_makes_a_pair(client: TestClient, database: Database) -> None:
    """ACTIVE_STANDBY is accepted (issue 11): two instances with a vrrp port each. The embedded build's
    501 (one agent) is tests/contract/test_active_standby.py's."""
    subnet = make_subnet(database)
    fl = _flavor(client, _profile(client, json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"}))["id"])
    ports = _count(database, m.Port)
    r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet, "flavor_id": fl["id"]}})
    assert r.status_code == 201, r.text
    with database.read() as s:
        row = s.get(m.LoadBalancer, r.json()["loadbalancer"]["id"])
        assert row is not None and row.topology == "ACTIVE_STANDBY"
    assert _count(database, m.Amphora) == 2
    assert _count(database, m.Port) == ports + 3  # the VIP and one vrrp port per instance


def test_lb_with_disabled_or_unknown_flavor(client: TestClient, database: Database) -> None:
    subnet = make_subnet(database)
    fl = _flavor(client, _profile(client)["id"], enabled=False)
    for flavor_id in (fl["id"], str(uuid.uuid4())):
        r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet, "flavor_id": flavor_id}})
        _fault(r, 400)
    assert _count(database, m.LoadBalancer) == 0
