"""The reference one-arm topology: round robin, source NAT to the VIP, X-Forwarded-*, TCP passes no header."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.dataplane.harness import Service

pytestmark = pytest.mark.netns
HOST_PREFIX = "oa-"


@pytest.fixture(scope="module")
def topo(service: Service) -> dict[str, str]:
    net, subnet = service.network("10.251.0.0/24")
    ips = {name: service.host(name, net["id"], ip) for name, ip in
           (("client", "10.251.0.10"), ("web1", "10.251.0.11"), ("web2", "10.251.0.12"))}  # fmt: skip
    service.hosts.stop_server(f"{HOST_PREFIX}client")
    lb = service.create_lb({
        "vip_subnet_id": subnet["id"], "vip_address": "10.251.0.20",
        "listeners": [
            {"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "web"},
             "insert_headers": {"X-Forwarded-Port": "true", "X-Forwarded-Proto": "true"}},
            {"protocol": "TCP", "protocol_port": 81, "default_pool": {"name": "tcp"}},
        ],
        "pools": [
            {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "members": [{"address": ips["web1"], "protocol_port": 80}, {"address": ips["web2"], "protocol_port": 80}]},
            {"name": "tcp", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
             "members": [{"address": ips["web1"], "protocol_port": 80}]},
        ],
    })  # fmt: skip
    return {**ips, "vip": "10.251.0.20", "lb": lb["id"]}


def test_round_robin_splits_twenty_requests_ten_ten(service: Service, topo: dict[str, str]) -> None:
    answers = service.fetch("client", f"http://{topo['vip']}/", 20)
    assert all(a["status"] == 200 for a in answers), answers
    assert Counter(a["host"] for a in answers) == {f"{HOST_PREFIX}web1": 10, f"{HOST_PREFIX}web2": 10}


def test_members_see_the_vip_and_x_forwarded_headers_carry_the_client(service: Service, topo: dict[str, str]) -> None:
    for a in service.fetch("client", f"http://{topo['vip']}/", 4):
        headers = {k.lower(): v for k, v in a["headers"].items()}
        assert a["peer"] == topo["vip"]
        assert headers["x-forwarded-for"] == topo["client"]
        assert headers["x-forwarded-port"] == "80"
        assert headers["x-forwarded-proto"] == "http"


def test_tcp_listener_passes_no_header(service: Service, topo: dict[str, str]) -> None:
    (a,) = service.fetch("client", f"http://{topo['vip']}:81/", 1)
    assert a["status"] == 200
    assert a["peer"] == topo["vip"]
    assert not {k.lower() for k in a["headers"]} & {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"}
