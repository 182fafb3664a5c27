"""Load balancers: create defaults and validation, update, delete/cascade, graph create, status tree, stats."""

from __future__ import annotations

from typing import Any

import pytest

from lbaas.db import models as m
from tests.contract.helpers import (
    CONTROL_STRINGS,
    LB,
    LISTENERS,
    POOLS,
    Cloud,
    assert_fault,
    db_snapshot,
    make_subnet,
)

BAD_UUID = "not-a-uuid"


def test_create_defaults(cloud: Cloud) -> None:
    lb = cloud.post(LB, "loadbalancer", {"vip_subnet_id": cloud.subnet_id})
    assert lb["provisioning_status"] == "PENDING_CREATE"
    assert lb["operating_status"] == "OFFLINE"
    assert lb["name"] is None and lb["description"] is None
    assert lb["admin_state_up"] is True
    assert lb["updated_at"] is None
    assert lb["created_at"]
    assert lb["project_id"] == "lbaas-default"
    assert lb["vip_subnet_id"] == cloud.subnet_id
    assert lb["vip_address"] == "10.0.0.2"
    assert lb["vip_port_id"] and lb["vip_network_id"]
    assert lb["listeners"] == [] and lb["pools"] == [] and lb["tags"] == []
    assert lb["provider"] == "amphora"
    assert lb["flavor_id"] is None and lb["availability_zone"] is None
    cloud.settle()
    assert cloud.lb_status(lb["id"]) == "ACTIVE"


def test_create_echoes_fields(cloud: Cloud) -> None:
    lb = cloud.post(
        LB,
        "loadbalancer",
        {
            "vip_subnet_id": cloud.subnet_id,
            "vip_address": "10.0.0.50",
            "name": "web",
            "description": "front door",
            "admin_state_up": False,
            "tags": ["a", "b"],
        },
    )
    assert (lb["name"], lb["description"], lb["admin_state_up"]) == ("web", "front door", False)
    assert lb["vip_address"] == "10.0.0.50"
    assert sorted(lb["tags"]) == ["a", "b"]


def test_vip_from_network_and_from_port(cloud: Cloud) -> None:
    with cloud.db.read() as s:
        net_id = s.get(m.Subnet, cloud.subnet_id).network_id  # type: ignore[union-attr]
    lb = cloud.post(LB, "loadbalancer", {"vip_network_id": net_id})
    assert lb["vip_subnet_id"] == cloud.subnet_id and lb["vip_network_id"] == net_id
    cloud.settle()
    # A port already used by this LB has a device_id: another LB cannot take it.
    cloud.rejected("POST", LB, {"loadbalancer": {"vip_port_id": lb["vip_port_id"]}}, contains="device_id")


def test_vip_network_picks_an_ipv4_subnet_with_free_addresses(cloud: Cloud) -> None:
    with cloud.db.read() as s:
        net_id = s.get(m.Subnet, cloud.subnet_id).network_id  # type: ignore[union-attr]
    v6 = make_subnet(cloud.db, cidr="2001:db8::/64", network_id=net_id)
    tiny = make_subnet(cloud.db, cidr="192.0.2.0/30", network_id=net_id)  # one usable address after the gateway
    # Fill the /24 so only the IPv6 subnet and the /30 (one free address: not enough) are left.
    with cloud.db.write() as s:
        s.execute(m.Subnet.__table__.update().where(m.Subnet.id == cloud.subnet_id).values(allocation_pools=[]))
    lb = cloud.post(LB, "loadbalancer", {"vip_network_id": net_id})
    assert lb["vip_subnet_id"] == v6 and ":" in lb["vip_address"]
    # With an address, the subnet that contains it.
    lb = cloud.post(LB, "loadbalancer", {"vip_network_id": net_id, "vip_address": "192.0.2.2"})
    assert lb["vip_subnet_id"] == tiny


def test_vip_address_conflict_is_409(cloud: Cloud) -> None:
    cloud.lb(vip_address="10.0.0.9")
    cloud.rejected(
        "POST", LB, {"loadbalancer": {"vip_subnet_id": cloud.subnet_id, "vip_address": "10.0.0.9"}}, status=409
    )


def _lb_body(**kw: Any) -> dict[str, Any]:
    return {"loadbalancer": kw}


@pytest.mark.parametrize(
    "body, contains",
    [
        ({}, "VIP must contain one of"),
        ({"vip_subnet_id": BAD_UUID}, "vip_subnet_id"),
        ({"vip_network_id": BAD_UUID}, "vip_network_id"),
        ({"vip_port_id": BAD_UUID}, "vip_port_id"),
        ({"vip_address": "10.0.0.300", "subnet": True}, "vip_address"),
        ({"name": "x" * 256, "subnet": True}, "name"),
        ({"description": "x" * 256, "subnet": True}, "description"),
        ({"tags": ["x" * 256], "subnet": True}, None),
        ({"admin_state_up": "maybe", "subnet": True}, "admin_state_up"),
        ({"id": "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e", "subnet": True}, "id"),
        ({"provisioning_status": "ACTIVE", "subnet": True}, "provisioning_status"),
        ({"provider": "nope", "subnet": True}, "nope"),
        ({"flavor_id": "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e", "subnet": True}, "flavor"),
        ({"availability_zone": "nowhere", "subnet": True}, "availability zone"),
        ({"vip_subnet_id": "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e"}, "not found"),
        ({"vip_address": "192.168.9.9", "subnet": True}, None),
    ],
)
def test_create_validation(cloud: Cloud, body: dict[str, Any], contains: str | None) -> None:
    if body.pop("subnet", False):
        body["vip_subnet_id"] = cloud.subnet_id
    cloud.rejected("POST", LB, _lb_body(**body), contains=contains)
    assert cloud.client.get(LB).json()["loadbalancers"] == []


@pytest.mark.parametrize("field", ["name", "description", "tags"])
@pytest.mark.parametrize("text", CONTROL_STRINGS)
def test_control_characters_rejected(cloud: Cloud, field: str, text: str) -> None:
    value: Any = [text] if field == "tags" else text
    cloud.rejected("POST", LB, _lb_body(vip_subnet_id=cloud.subnet_id, **{field: value}))
    lb = cloud.lb()
    cloud.rejected("PUT", f"{LB}/{lb['id']}", _lb_body(**{field: value}), lb_id=lb["id"])


def test_update(cloud: Cloud) -> None:
    lb = cloud.lb(name="a")
    out = cloud.put(f"{LB}/{lb['id']}", "loadbalancer", {"name": "b", "description": "d", "admin_state_up": False})
    assert out["provisioning_status"] == "PENDING_UPDATE"
    assert (out["name"], out["description"], out["admin_state_up"]) == ("b", "d", False)
    assert out["updated_at"] is not None
    cloud.settle()
    lb = cloud.get(f"{LB}/{lb['id']}", "loadbalancer")
    assert lb["provisioning_status"] == "ACTIVE" and lb["name"] == "b"
    # Tags replace the old list; omitting fields keeps them.
    cloud.put(f"{LB}/{lb['id']}", "loadbalancer", {"tags": ["x"]})
    cloud.settle()
    lb = cloud.get(f"{LB}/{lb['id']}", "loadbalancer")
    assert lb["tags"] == ["x"] and lb["name"] == "b"


@pytest.mark.parametrize(
    "body",
    [{"vip_address": "10.0.0.77"}, {"vip_subnet_id": "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e"}, {"provider": "x"},
     {"project_id": "other"}, {"name": "x" * 256}, {"admin_state_up": "maybe"}, {"admin_state_up": None}],
)  # fmt: skip
def test_update_validation(cloud: Cloud, body: dict[str, Any]) -> None:
    lb = cloud.lb()
    cloud.rejected("PUT", f"{LB}/{lb['id']}", {"loadbalancer": body}, lb_id=lb["id"])


def test_delete_without_children_and_404_after(cloud: Cloud) -> None:
    lb = cloud.lb()
    cloud.delete(f"{LB}/{lb['id']}")
    assert cloud.lb_status(lb["id"]) == "PENDING_DELETE"
    cloud.settle()
    cloud.gone(f"{LB}/{lb['id']}")
    assert_fault(cloud.client.put(f"{LB}/{lb['id']}", json={"loadbalancer": {"name": "x"}}), 404)
    assert_fault(cloud.client.delete(f"{LB}/{lb['id']}"), 404)
    assert_fault(cloud.client.get(f"{LB}/{lb['id']}/status"), 404)
    assert cloud.client.get(LB).json()["loadbalancers"] == []
    with cloud.db.read() as s:
        assert s.get(m.Port, lb["vip_port_id"]) is None


def test_delete_with_children_needs_cascade(cloud: Cloud) -> None:
    lb = cloud.lb()
    cloud.listener(lb["id"])
    cloud.rejected("DELETE", f"{LB}/{lb['id']}", contains="it has children", lb_id=lb["id"])
    cloud.rejected("DELETE", f"{LB}/{lb['id']}?cascade=false", contains="it has children", lb_id=lb["id"])


def _full_graph(subnet_id: str) -> dict[str, Any]:
    hm = {"type": "HTTP", "delay": 3, "timeout": 2, "max_retries": 2, "url_path": "/health"}
    return {
        "loadbalancer": {
            "name": "graph",
            "vip_subnet_id": subnet_id,
            "listeners": [
                {
                    "name": "http",
                    "protocol": "HTTP",
                    "protocol_port": 80,
                    "default_pool": {"name": "web"},
                    "l7policies": [
                        {
                            "name": "api",
                            "redirect_pool": {"name": "api"},
                            "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}],
                        },
                        {"action": "REJECT", "position": 1, "rules": [{"type": "PATH", "compare_type": "EQUAL_TO", "value": "/x"}]},
                    ],
                },
                {
                    "protocol": "TCP",
                    "protocol_port": 443,
                    "default_pool": {
                        "name": "inline",
                        "protocol": "TCP",
                        "lb_algorithm": "SOURCE_IP",
                        "members": [{"address": "10.0.0.20", "protocol_port": 443}],
                    },
                },
            ],
            "pools": [
                {
                    "name": "web",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "healthmonitor": hm,
                    "members": [{"address": "10.0.0.10", "protocol_port": 80}, {"address": "10.0.0.11", "protocol_port": 80}],
                },
                {"name": "api", "protocol": "HTTP", "lb_algorithm": "LEAST_CONNECTIONS"},
            ],
        }
    }


def test_graph_create_returns_full_tree(cloud: Cloud) -> None:
    r = cloud.client.post(LB, json=_full_graph(cloud.subnet_id))
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    pools = {p["name"]: p for p in lb["pools"]}
    assert set(pools) == {"web", "api", "inline"}
    assert pools["web"]["healthmonitor"]["url_path"] == "/health"
    assert pools["web"]["healthmonitor"]["provisioning_status"] == "PENDING_CREATE"
    assert sorted(mb["address"] for mb in pools["web"]["members"]) == ["10.0.0.10", "10.0.0.11"]
    assert pools["api"]["members"] == [] and pools["api"]["healthmonitor"] is None
    assert pools["inline"]["members"][0]["address"] == "10.0.0.20"
    listeners = {li["protocol_port"]: li for li in lb["listeners"]}
    http, tcp = listeners[80], listeners[443]
    assert http["default_pool_id"] == pools["web"]["id"]
    assert tcp["default_pool_id"] == pools["inline"]["id"]
    policies = sorted(http["l7policies"], key=lambda p: p["position"])
    assert [p["action"] for p in policies] == ["REJECT", "REDIRECT_TO_POOL"]
    assert [p["position"] for p in policies] == [1, 2]
    assert policies[1]["redirect_pool_id"] == pools["api"]["id"]
    assert policies[1]["rules"][0]["value"] == "/api"
    for obj in [lb, *lb["listeners"], *lb["pools"], *policies]:
        assert obj["provisioning_status"] == "PENDING_CREATE"
        assert obj["updated_at"] is None, obj
    cloud.settle()
    tree = cloud.client.get(f"{LB}/{lb['id']}/status").json()["statuses"]["loadbalancer"]
    assert tree["provisioning_status"] == "ACTIVE"
    statuses = [li["provisioning_status"] for li in tree["listeners"]]
    assert statuses == ["ACTIVE", "ACTIVE"]
    # Every object is listed under its own collection too.
    assert len(cloud.client.get(POOLS).json()["pools"]) == 3
    assert len(cloud.client.get(LISTENERS).json()["listeners"]) == 2


def test_graph_listeners_may_share_a_named_pool(cloud: Cloud) -> None:
    listeners = [{"protocol": "HTTP", "protocol_port": port, "default_pool": {"name": "p"}} for port in (80, 8080)]
    pools = [{"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}]
    r = cloud.client.post(LB, json={"loadbalancer": {"vip_subnet_id": cloud.subnet_id, "listeners": listeners, "pools": pools}})
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    (pool,) = lb["pools"]
    assert {li["default_pool_id"] for li in lb["listeners"]} == {pool["id"]}
    assert sorted(x["id"] for x in pool["listeners"]) == sorted(li["id"] for li in lb["listeners"])


def _graph_with(listeners: list[dict[str, Any]], pools: list[dict[str, Any]], subnet: str) -> dict[str, Any]:
    return {"loadbalancer": {"vip_subnet_id": subnet, "listeners": listeners, "pools": pools}}


POOL = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
HTTP80 = {"protocol": "HTTP", "protocol_port": 80}


@pytest.mark.parametrize(
    "listeners, pools, contains",
    [
        ([{**HTTP80, "default_pool": {"name": "p"}}], [POOL], "named"),
        ([{**HTTP80, "default_pool": {"name": "p"}}], [{**POOL, "name": "p"}, {**POOL, "name": "p"}], "more than once"),
        ([{**HTTP80, "default_pool": {"name": "missing"}}], [{**POOL, "name": "p"}], "missing"),
        ([{**HTTP80, "default_pool": {}}], [], None),
        ([{**HTTP80, "default_pool": {"name": "p", "protocol": "HTTP"}}], [], "lb_algorithm"),
        ([{**HTTP80, "default_pool": {"name": "p"}}], [{"name": "p", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}], "protocol"),
        ([{**HTTP80, "l7policies": [{"redirect_pool": {"name": "nope"}}]}], [], "nope"),
        ([HTTP80, HTTP80], [], None),
        ([{**HTTP80, "default_pool": {"name": "p"}}], [{**POOL, "name": "p", "members": [{"address": "10.0.0.5", "protocol_port": 0}]}], None),
        ([{**HTTP80, "default_pool": {"name": "p"}}], [{**POOL, "name": "p", "healthmonitor": {"type": "HTTP", "delay": 1}}], None),
        ([{**HTTP80, "name": "bad\nname"}], [], None),
        ([{**HTTP80, "l7policies": [{"action": "REJECT", "rules": [{"type": "PATH", "compare_type": "REGEX", "value": "("}]}]}], [], None),
    ],
)  # fmt: skip
def test_graph_create_rejections_write_nothing(
    cloud: Cloud, listeners: list[dict[str, Any]], pools: list[dict[str, Any]], contains: str | None
) -> None:
    status = 409 if listeners == [HTTP80, HTTP80] else 400
    cloud.rejected("POST", LB, _graph_with(listeners, pools, cloud.subnet_id), status=status, contains=contains)


def test_cascade_delete_removes_tree_and_vip_port(cloud: Cloud) -> None:
    for flag in ("true", "True", "TRUE"):
        r = cloud.client.post(LB, json=_full_graph(cloud.subnet_id))
        assert r.status_code == 201, r.text
        lb = r.json()["loadbalancer"]
        cloud.settle()
        cloud.delete(f"{LB}/{lb['id']}?cascade={flag}")
        pending = cloud.client.get(POOLS).json()["pools"]
        assert {p["provisioning_status"] for p in pending} == {"PENDING_DELETE"}
        cloud.settle()
        cloud.gone(f"{LB}/{lb['id']}")
        for pool in lb["pools"]:
            cloud.gone(f"{POOLS}/{pool['id']}")
        for li in lb["listeners"]:
            cloud.gone(f"{LISTENERS}/{li['id']}")
    snap = db_snapshot(cloud.db)
    for table in ("load_balancer", "listener", "pool", "member", "health_monitor", "l7policy", "l7rule", "tag"):
        assert snap[table] == [], table
    assert snap["port"] == [] and snap["ip_allocation"] == []


def test_status_tree_shape(cloud: Cloud) -> None:
    lb = cloud.lb()
    li = cloud.listener(lb["id"])
    pool = cloud.pool(listener_id=li["id"], name="p")
    hm = cloud.hm(pool["id"])
    mb = cloud.member(pool["id"])
    body = cloud.client.get(f"{LB}/{lb['id']}/status").json()
    assert body == cloud.client.get(f"{LB}/{lb['id']}/statuses").json()
    tree = body["statuses"]["loadbalancer"]
    assert set(tree) == {"id", "name", "provisioning_status", "operating_status", "listeners"}
    assert tree["name"] == ""
    (listener,) = tree["listeners"]
    assert listener["id"] == li["id"] and listener["name"] == ""
    (p,) = listener["pools"]
    assert p["id"] == pool["id"] and p["name"] == "p"
    assert "healthmonitor" not in p
    assert p["health_monitor"]["id"] == hm["id"] and p["health_monitor"]["type"] == "HTTP"
    assert p["health_monitor"]["provisioning_status"] == "ACTIVE"
    (member,) = p["members"]
    assert member["id"] == mb["id"] and member["name"] == ""
    assert member["address"] == "10.0.0.10" and member["protocol_port"] == 80
    assert member["operating_status"] == "OFFLINE"  # the pool has a monitor


def test_stats_shape(cloud: Cloud) -> None:
    lb = cloud.lb()
    li = cloud.listener(lb["id"])
    expected = {"bytes_in": 0, "bytes_out": 0, "active_connections": 0, "total_connections": 0, "request_errors": 0}
    assert cloud.client.get(f"{LB}/{lb['id']}/stats").json() == {"stats": expected}
    assert cloud.client.get(f"{LISTENERS}/{li['id']}/stats").json() == {"stats": expected}
    assert_fault(cloud.client.get(f"{LB}/8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e/stats"), 404)


def test_failover(cloud: Cloud) -> None:
    lb = cloud.lb()
    r = cloud.client.put(f"{LB}/{lb['id']}/failover")
    assert r.status_code == 202, r.text
    assert cloud.lb_status(lb["id"]) == "PENDING_UPDATE"
    assert_fault(cloud.client.put(f"{LB}/{lb['id']}/failover"), 409, "Invalid state PENDING_UPDATE")
    cloud.settle()
    assert cloud.lb_status(lb["id"]) == "ACTIVE"


def test_unknown_lb_is_404(cloud: Cloud) -> None:
    missing = "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e"
    assert_fault(cloud.client.get(f"{LB}/{missing}"), 404, missing)
    assert_fault(cloud.client.delete(f"{LB}/{missing}"), 404)
    assert_fault(cloud.client.put(f"{LB}/{missing}/failover"), 404)
