"""allowed_cidrs, enforced inside the LB's namespace: one client in, its neighbour on the same subnet out,
per listener, and changes through the API apply."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dataplane.harness import Service

pytestmark = pytest.mark.netns
HOST_PREFIX = "tfac-"
NET = "10.252.3"
VIP = f"{NET}.20"
GOOD, OTHER = f"{NET}.10", f"{NET}.13"


@pytest.fixture(scope="module")
def topo(service: Service) -> dict[str, Any]:
    net, subnet = service.network(f"{NET}.0/24")
    service.host("good", net["id"], GOOD, serve=None)
    service.host("other", net["id"], OTHER, serve=None)
    service.host("web1", net["id"], f"{NET}.11")
    lb = service.create_lb({
        "vip_subnet_id": subnet["id"], "vip_address": VIP,
        "listeners": [
            {"name": "guarded", "protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "web"},
             "allowed_cidrs": [f"{GOOD}/32"]},
            {"name": "open", "protocol": "TCP", "protocol_port": 81, "default_pool": {"name": "tcp"}},
        ],
        "pools": [
            {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "members": [{"address": f"{NET}.11", "protocol_port": 80}]},
            {"name": "tcp", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
             "members": [{"address": f"{NET}.11", "protocol_port": 80}]},
        ],
    })  # fmt: skip
    listeners = {li["name"]: li["id"] for li in service.client.call("GET", "/v2/lbaas/listeners")["listeners"]}
    return {"lb": lb["id"], "listeners": listeners}


def allowed(service: Service, client: str, port: int = 80) -> bool:
    (a,) = service.fetch(client, f"http://{VIP}:{port}/", 1, timeout=2)
    if a["status"] == 200:
        assert a["host"] == f"{HOST_PREFIX}web1"
        return True
    assert a["status"] is None, a  # refused at the connection, not answered with an HTTP error
    return False


def set_cidrs(service: Service, topo: dict[str, Any], cidrs: list[str]) -> None:
    lid = topo["listeners"]["guarded"]
    service.change(topo["lb"], "PUT", f"/v2/lbaas/listeners/{lid}", {"listener": {"allowed_cidrs": cidrs}})
    got = service.client.call("GET", f"/v2/lbaas/listeners/{lid}")["listener"]["allowed_cidrs"]
    assert sorted(got or []) == sorted(cidrs)


def test_only_the_allowed_client_gets_in(service: Service, topo: dict[str, Any]) -> None:
    assert allowed(service, "good")
    assert not allowed(service, "other")
    # The list belongs to its listener: the other listener lets everyone in.
    assert allowed(service, "other", 81) and allowed(service, "good", 81)


def test_changing_the_list_applies(service: Service, topo: dict[str, Any]) -> None:
    try:
        set_cidrs(service, topo, [f"{OTHER}/32"])
        assert allowed(service, "other") and not allowed(service, "good")
        set_cidrs(service, topo, [f"{NET}.8/30", f"{NET}.12/30"])  # .8-.11 and .12-.15: both clients
        assert allowed(service, "good") and allowed(service, "other")
        set_cidrs(service, topo, [f"{NET}.12/30"])
        assert allowed(service, "other") and not allowed(service, "good")
        set_cidrs(service, topo, [])  # no list: everyone
        assert allowed(service, "good") and allowed(service, "other")
    finally:
        set_cidrs(service, topo, [f"{GOOD}/32"])
    assert allowed(service, "good") and not allowed(service, "other")
