"""Members: defaults, validation, uniqueness, update, delete, and the batch PUT on /pools/{id}/members."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.helpers import CONTROL_STRINGS, POOLS, Cloud, assert_fault, db_snapshot

MISSING = "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e"
Stack = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


def members_of(cloud: Cloud, pool_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    r = cloud.client.get(f"{POOLS}/{pool_id}/members")
    assert r.status_code == 200, r.text
    return {(mb["address"], mb["protocol_port"]): mb for mb in r.json()["members"]}


def test_create_defaults(cloud: Cloud, stack: Stack) -> None:
    lb, li, pool = stack
    mb = cloud.post(f"{POOLS}/{pool['id']}/members", "member", {"address": "10.0.0.10", "protocol_port": 80})
    expected = {
        "provisioning_status": "PENDING_CREATE",
        "operating_status": "NO_MONITOR",
        "name": None,
        "weight": 1,
        "backup": False,
        "admin_state_up": True,
        "subnet_id": None,
        "monitor_address": None,
        "monitor_port": None,
        "tags": [],
        "project_id": lb["project_id"],
        "updated_at": None,
    }
    assert {k: mb[k] for k in expected} == expected
    # The whole path up to the LB is locked while the member is created.
    assert cloud.lb_status(lb["id"]) == "PENDING_UPDATE"
    assert cloud.status_of(f"{POOLS}/{pool['id']}", "pool") == "PENDING_UPDATE"
    assert cloud.status_of(f"/v2/lbaas/listeners/{li['id']}", "listener") == "PENDING_UPDATE"
    cloud.settle()
    assert cloud.status_of(f"{POOLS}/{pool['id']}/members/{mb['id']}", "member") == "ACTIVE"
    assert cloud.get(f"{POOLS}/{pool['id']}", "pool")["members"] == [{"id": mb["id"]}]


def test_member_of_monitored_pool_starts_offline(cloud: Cloud, stack: Stack) -> None:
    _, _, pool = stack
    cloud.hm(pool["id"])
    assert cloud.member(pool["id"])["operating_status"] == "OFFLINE"


def test_optional_fields_stored(cloud: Cloud, stack: Stack) -> None:
    _, _, pool = stack
    mb = cloud.member(pool["id"], "2001:db8::5", 8080, name="m", weight=0, backup=True, admin_state_up=False,
                      subnet_id=cloud.subnet_id, monitor_address="10.0.0.99", monitor_port=9999, tags=["x"])  # fmt: skip
    assert (mb["address"], mb["protocol_port"], mb["weight"], mb["backup"]) == ("2001:db8::5", 8080, 0, True)
    assert (mb["subnet_id"], mb["monitor_address"], mb["monitor_port"]) == (cloud.subnet_id, "10.0.0.99", 9999)
    assert mb["admin_state_up"] is False and mb["tags"] == ["x"]


CREATE_CASES: list[tuple[dict[str, Any], str | None]] = [
    ({"address": None}, "address"),
    ({"address": "10.0.0.256"}, "address"),
    ({"address": "example.com"}, "address"),
    ({"protocol_port": None}, "protocol_port"),
    ({"protocol_port": 0}, "protocol_port"),
    ({"protocol_port": 65536}, "protocol_port"),
    ({"weight": -1}, "weight"),
    ({"weight": 257}, "weight"),
    ({"backup": "sometimes"}, "backup"),
    ({"monitor_port": 0}, "monitor_port"),
    ({"monitor_address": "nope"}, "monitor_address"),
    ({"subnet_id": "nope"}, "subnet_id"),
    ({"subnet_id": MISSING}, "not found"),
    ({"address": "169.254.169.254"}, "reserved"),
    ({"name": "x" * 256}, "name"),
    ({"tags": ["x" * 256]}, None),
    ({"pool_id": MISSING}, "pool_id"),
    ({"operating_status": "ONLINE"}, "operating_status"),
]


@pytest.mark.parametrize("patch, contains", CREATE_CASES)
def test_create_validation(cloud: Cloud, stack: Stack, patch: dict[str, Any], contains: str | None) -> None:
    lb, _, pool = stack
    body = {k: v for k, v in {"address": "10.0.0.10", "protocol_port": 80, **patch}.items() if v is not None}
    cloud.rejected("POST", f"{POOLS}/{pool['id']}/members", {"member": body}, contains=contains, lb_id=lb["id"])
    assert members_of(cloud, pool["id"]) == {}


@pytest.mark.parametrize("text", CONTROL_STRINGS)
@pytest.mark.parametrize("field", ["name", "tags"])
def test_control_characters_rejected(cloud: Cloud, stack: Stack, field: str, text: str) -> None:
    lb, _, pool = stack
    body: dict[str, Any] = {"address": "10.0.0.10", "protocol_port": 80, field: [text] if field == "tags" else text}
    cloud.rejected("POST", f"{POOLS}/{pool['id']}/members", {"member": body}, lb_id=lb["id"])


def test_duplicate_address_and_port_is_409(cloud: Cloud, stack: Stack) -> None:
    lb, _, pool = stack
    cloud.member(pool["id"], "10.0.0.10", 80)
    body = {"member": {"address": "10.0.0.10", "protocol_port": 80}}
    cloud.rejected("POST", f"{POOLS}/{pool['id']}/members", body, status=409, contains="10.0.0.10", lb_id=lb["id"])
    cloud.member(pool["id"], "10.0.0.10", 81)  # another port is another member


def test_unknown_pool_is_404(cloud: Cloud) -> None:
    r = cloud.client.post(f"{POOLS}/{MISSING}/members", json={"member": {"address": "10.0.0.1", "protocol_port": 1}})
    assert_fault(r, 404)
    assert_fault(cloud.client.get(f"{POOLS}/{MISSING}/members"), 404)


def test_member_is_only_visible_under_its_pool(cloud: Cloud, stack: Stack) -> None:
    lb, _, pool = stack
    other = cloud.pool(loadbalancer_id=lb["id"])
    mb = cloud.member(pool["id"])
    assert_fault(cloud.client.get(f"{POOLS}/{other['id']}/members/{mb['id']}"), 404)
    assert_fault(cloud.client.delete(f"{POOLS}/{other['id']}/members/{mb['id']}"), 404)


def test_update(cloud: Cloud, stack: Stack) -> None:
    lb, _, pool = stack
    mb = cloud.member(pool["id"])
    out = cloud.put(f"{POOLS}/{pool['id']}/members/{mb['id']}", "member",
                    {"weight": 5, "backup": True, "name": "n", "monitor_port": 8080, "admin_state_up": False})  # fmt: skip
    assert out["provisioning_status"] == "PENDING_UPDATE"
    assert (out["weight"], out["backup"], out["name"], out["monitor_port"]) == (5, True, "n", 8080)
    assert cloud.lb_status(lb["id"]) == "PENDING_UPDATE"
    cloud.settle()
    assert cloud.status_of(f"{POOLS}/{pool['id']}/members/{mb['id']}", "member") == "ACTIVE"
    assert cloud.status_of(f"{POOLS}/{pool['id']}", "pool") == "ACTIVE"


@pytest.mark.parametrize(
    "body",
    [{"address": "10.0.0.11"}, {"protocol_port": 81}, {"weight": 300}, {"monitor_address": "x"},
     {"name": "a\nb"}, {"subnet_id": MISSING}, {"monitor_address": "169.254.169.254"}, {"weight": None},
     {"backup": None}, {"admin_state_up": None}],
)  # fmt: skip
def test_update_validation(cloud: Cloud, stack: Stack, body: dict[str, Any]) -> None:
    lb, _, pool = stack
    mb = cloud.member(pool["id"])
    cloud.rejected("PUT", f"{POOLS}/{pool['id']}/members/{mb['id']}", {"member": body}, lb_id=lb["id"])


def test_delete(cloud: Cloud, stack: Stack) -> None:
    lb, _, pool = stack
    mb = cloud.member(pool["id"])
    path = f"{POOLS}/{pool['id']}/members/{mb['id']}"
    cloud.delete(path)
    assert cloud.status_of(path, "member") == "PENDING_DELETE"
    cloud.settle()
    cloud.gone(path)
    assert_fault(cloud.client.delete(path), 404)
    assert cloud.get(f"{POOLS}/{pool['id']}", "pool")["members"] == []
    cloud.member(pool["id"])  # the address is free again


# --------------------------------------------------------------------------- batch update


def batch(cloud: Cloud, pool_id: str, members: list[dict[str, Any]], query: str = "") -> None:
    r = cloud.client.put(f"{POOLS}/{pool_id}/members{query}", json={"members": members})
    assert r.status_code == 202, r.text
    assert r.content == b""


def test_batch_replaces_the_member_list(cloud: Cloud, stack: Stack) -> None:
    lb, _, pool = stack
    keep = cloud.member(pool["id"], "10.0.0.10", 80, weight=1)
    gone = cloud.member(pool["id"], "10.0.0.11", 80)
    batch(cloud, pool["id"], [
        {"address": "10.0.0.10", "protocol_port": 80, "weight": 7},
        {"address": "10.0.0.12", "protocol_port": 80, "name": "new"},
    ])  # fmt: skip
    assert cloud.lb_status(lb["id"]) == "PENDING_UPDATE"
    current = members_of(cloud, pool["id"])
    assert current[("10.0.0.10", 80)]["provisioning_status"] == "PENDING_UPDATE"
    assert current[("10.0.0.11", 80)]["provisioning_status"] == "PENDING_DELETE"
    assert current[("10.0.0.12", 80)]["provisioning_status"] == "PENDING_CREATE"
    cloud.settle()
    current = members_of(cloud, pool["id"])
    assert set(current) == {("10.0.0.10", 80), ("10.0.0.12", 80)}
    assert current[("10.0.0.10", 80)]["id"] == keep["id"] and current[("10.0.0.10", 80)]["weight"] == 7
    assert current[("10.0.0.12", 80)]["name"] == "new"
    assert all(mb["provisioning_status"] == "ACTIVE" for mb in current.values())
    cloud.gone(f"{POOLS}/{pool['id']}/members/{gone['id']}")
    assert cloud.lb_status(lb["id"]) == "ACTIVE"


@pytest.mark.parametrize("flag", ["true", "True"])
def test_batch_additive_only_keeps_absent_members(cloud: Cloud, stack: Stack, flag: str) -> None:
    _, _, pool = stack
    cloud.member(pool["id"], "10.0.0.10", 80)
    batch(cloud, pool["id"], [{"address": "10.0.0.12", "protocol_port": 80}], f"?additive_only={flag}")
    cloud.settle()
    assert set(members_of(cloud, pool["id"])) == {("10.0.0.10", 80), ("10.0.0.12", 80)}


def test_batch_empty_list_deletes_all(cloud: Cloud, stack: Stack) -> None:
    _, _, pool = stack
    cloud.member(pool["id"], "10.0.0.10", 80)
    cloud.member(pool["id"], "10.0.0.11", 80)
    batch(cloud, pool["id"], [])
    cloud.settle()
    assert members_of(cloud, pool["id"]) == {}


def test_batch_noop_leaves_lb_active(cloud: Cloud, stack: Stack) -> None:
    lb, _, pool = stack
    mb = cloud.member(pool["id"], "10.0.0.10", 80, weight=3, name="a")
    before = db_snapshot(cloud.db)
    batch(cloud, pool["id"], [{"address": "10.0.0.10", "protocol_port": 80, "weight": 3, "name": "a"}])
    assert db_snapshot(cloud.db) == before
    assert cloud.lb_status(lb["id"]) == "ACTIVE"
    assert cloud.status_of(f"{POOLS}/{pool['id']}/members/{mb['id']}", "member") == "ACTIVE"
    batch(cloud, pool["id"], [], "?additive_only=true")
    assert cloud.lb_status(lb["id"]) == "ACTIVE"


@pytest.mark.parametrize(
    "members, contains",
    [
        ([{"address": "10.0.0.20", "protocol_port": 80}, {"address": "10.0.0.20", "protocol_port": 80, "weight": 2}], "Duplicate"),
        ([{"address": "10.0.0.20", "protocol_port": 80}, {"address": "10.0.0.10", "protocol_port": 80}, {"address": "10.0.0.10", "protocol_port": 80}], "Duplicate"),
        ([{"address": "169.254.169.254", "protocol_port": 80}], "reserved"),
        ([{"address": "10.0.0.20"}], "protocol_port"),
        ([{"address": "10.0.0.20", "protocol_port": 80, "weight": 999}], "weight"),
        ([{"address": "10.0.0.20", "protocol_port": 80, "name": "a\nb"}], "name"),
        ([{"address": "10.0.0.20", "protocol_port": 80, "subnet_id": MISSING}], "not found"),
    ],
)  # fmt: skip
def test_batch_validation(cloud: Cloud, stack: Stack, members: list[dict[str, Any]], contains: str) -> None:
    lb, _, pool = stack
    cloud.member(pool["id"], "10.0.0.10", 80)
    cloud.rejected("PUT", f"{POOLS}/{pool['id']}/members", {"members": members}, contains=contains, lb_id=lb["id"])


def test_batch_requires_members_key(cloud: Cloud, stack: Stack) -> None:
    lb, _, pool = stack
    cloud.rejected("PUT", f"{POOLS}/{pool['id']}/members", {"member": []}, lb_id=lb["id"])


def test_batch_while_pending_is_409(cloud: Cloud, stack: Stack) -> None:
    lb, _, pool = stack
    cloud.put(f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer", {"name": "busy"})
    r = cloud.client.put(f"{POOLS}/{pool['id']}/members", json={"members": [{"address": "10.0.0.30", "protocol_port": 80}]})
    assert_fault(r, 409, "immutable")
    cloud.settle()
    assert members_of(cloud, pool["id"]) == {}
