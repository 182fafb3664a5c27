"""A PROMETHEUS listener serves HAProxy's metrics on the VIP (and nothing else on that port)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dataplane.harness import Service

pytestmark = pytest.mark.netns
HOST_PREFIX = "tfpm-"
NET = "10.252.7"
VIP = f"{NET}.20"


@pytest.fixture(scope="module")
def topo(service: Service) -> dict[str, Any]:
    net, subnet = service.network(f"{NET}.0/24")
    service.host("client", net["id"], f"{NET}.10", serve=None)
    service.host("web1", net["id"], f"{NET}.11")
    lb = service.create_lb({
        "vip_subnet_id": subnet["id"], "vip_address": VIP,
        "listeners": [
            {"name": "web", "protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "web"}},
            {"name": "metrics", "protocol": "PROMETHEUS", "protocol_port": 9100},
        ],
        "pools": [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "members": [{"address": f"{NET}.11", "protocol_port": 80}]}],
    })  # fmt: skip
    web = next(li["id"] for li in service.client.call("GET", "/v2/lbaas/listeners")["listeners"] if li["name"] == "web")
    return {"lb": lb["id"], "web": web}


def test_metrics_on_the_vip_count_the_traffic(service: Service, topo: dict[str, Any]) -> None:
    assert all(a["status"] == 200 for a in service.fetch("client", f"http://{VIP}/", 3))
    (m,) = service.fetch("client", f"http://{VIP}:9100/metrics")
    assert m["status"] == 200
    lines = m["body"].splitlines()
    sessions = [ln for ln in lines if ln.startswith("haproxy_frontend_sessions_total{") and topo["web"] in ln]
    assert len(sessions) == 1, sessions
    assert float(sessions[0].rsplit(" ", 1)[1]) >= 3


def test_other_paths_on_the_metrics_port_are_404(service: Service, topo: dict[str, Any]) -> None:
    (a,) = service.fetch("client", f"http://{VIP}:9100/")
    assert a["status"] == 404


def test_a_metrics_listener_without_pool_is_online(service: Service, topo: dict[str, Any]) -> None:
    def lb_and_listeners() -> set[str]:
        tree = service.client.status_tree(topo["lb"])
        return {tree["operating_status"], *(li["operating_status"] for li in tree["listeners"])}

    service.wait_for(lambda: lb_and_listeners() == {"ONLINE"}, timeout=5, what="LB and listeners ONLINE")
