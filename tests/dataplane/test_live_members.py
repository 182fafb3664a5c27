"""Member changes applied live through the runtime API: no reload, the same worker serves throughout, and
the config written beside it makes a later reload land on the same servers."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from lbaas.agent.haproxy.process import parse_show_proc, unix_command
from lbaas.agent.haproxy.stats import StatType
from lbaas.agent.paths import LbPaths
from tests.dataplane.harness import Service

pytestmark = pytest.mark.netns
HOST_PREFIX = "tflv-"


@pytest.fixture(scope="module")
def topo(service: Service) -> dict[str, Any]:
    net, subnet = service.network("10.252.8.0/24")
    ips = {name: service.host(name, net["id"], ip) for name, ip in
           (("client", "10.252.8.10"), ("web1", "10.252.8.11"), ("web2", "10.252.8.12"),
            ("web3", "10.252.8.13"))}  # fmt: skip
    service.hosts.stop_server(f"{HOST_PREFIX}client")
    lb = service.create_lb({
        "vip_subnet_id": subnet["id"], "vip_address": "10.252.8.20",
        "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "web"}}],
        "pools": [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 2, "url_path": "/"},
                   "members": [{"name": "web1", "address": ips["web1"], "protocol_port": 80},
                               {"name": "web2", "address": ips["web2"], "protocol_port": 80}]}],
    })  # fmt: skip
    pool_id = service.client.call("GET", f"/v2/lbaas/pools?loadbalancer_id={lb['id']}")["pools"][0]["id"]
    return {**ips, "vip": "10.252.8.20", "lb": lb["id"], "pool": pool_id}


def proc(service: Service, lb_id: str) -> tuple[int, list[int]]:
    """(master reload count, current worker pids) from the master CLI."""
    info = parse_show_proc(unix_command(LbPaths(service.state_dir, lb_id).master_sock, "show proc"))
    return info.reloads, [pid for pid, r in info.workers if r == 0]


def servers(service: Service, lb_id: str) -> dict[str, tuple[str, int | None]]:
    """server name → (status, weight), from the running HAProxy."""
    return {r.svname: (r.status, r.weight) for r in service.haproxy_stats(lb_id) if r.type == StatType.SERVER}


def who(service: Service, topo: dict[str, Any], n: int) -> Counter[str]:
    answers = service.fetch("client", f"http://{topo['vip']}/", n)
    assert all(a["status"] == 200 for a in answers), answers
    return Counter(a["host"].removeprefix(HOST_PREFIX) for a in answers)


def test_add_weight_disable_remove_without_a_reload(service: Service, topo: dict[str, Any]) -> None:
    lb_id, pool = topo["lb"], topo["pool"]
    before = proc(service, lb_id)
    assert who(service, topo, 4) == {"web1": 2, "web2": 2}

    m3 = service.change(lb_id, "POST", f"/v2/lbaas/pools/{pool}/members",
                        {"member": {"name": "web3", "address": topo["web3"], "protocol_port": 80}})["member"]
    assert who(service, topo, 6) == {"web1": 2, "web2": 2, "web3": 2}
    assert servers(service, lb_id)[m3["id"]][0].startswith("UP")  # health checks run on the new server

    service.change(lb_id, "PUT", f"/v2/lbaas/pools/{pool}/members/{m3['id']}", {"member": {"weight": 4}})
    assert servers(service, lb_id)[m3["id"]][1] == 4
    assert who(service, topo, 12) == {"web1": 2, "web2": 2, "web3": 8}

    service.change(lb_id, "PUT", f"/v2/lbaas/pools/{pool}/members/{m3['id']}", {"member": {"admin_state_up": False}})
    assert servers(service, lb_id)[m3["id"]][0] == "MAINT"
    assert set(who(service, topo, 6)) == {"web1", "web2"}
    service.change(lb_id, "PUT", f"/v2/lbaas/pools/{pool}/members/{m3['id']}", {"member": {"admin_state_up": True}})
    assert "web3" in who(service, topo, 12)

    service.change(lb_id, "DELETE", f"/v2/lbaas/pools/{pool}/members/{m3['id']}")
    assert set(who(service, topo, 6)) == {"web1", "web2"}  # (the round-robin phase may move by one)
    service.wait_for(lambda: m3["id"] not in servers(service, lb_id), 10, what="server deleted from HAProxy")

    assert proc(service, lb_id) == before  # the same worker served every change: no reload
    cfg = LbPaths(service.state_dir, lb_id).cfg.read_text()
    assert m3["id"] not in cfg and cfg.count("    server ") == 2


def test_a_later_reload_converges_to_the_live_servers(service: Service, topo: dict[str, Any]) -> None:
    lb_id, pool = topo["lb"], topo["pool"]
    m3 = service.change(lb_id, "POST", f"/v2/lbaas/pools/{pool}/members",
                        {"member": {"name": "web3", "address": topo["web3"], "protocol_port": 80, "weight": 2}})["member"]
    live = servers(service, lb_id)
    reloads, _ = proc(service, lb_id)
    # a listener change is not member-level: checked and reloaded from the file written beside the live change
    listener = service.client.call("GET", f"/v2/lbaas/listeners?loadbalancer_id={lb_id}")["listeners"][0]
    service.change(lb_id, "PUT", f"/v2/lbaas/listeners/{listener['id']}", {"listener": {"timeout_client_data": 40000}})
    assert proc(service, lb_id)[0] == reloads + 1
    after = servers(service, lb_id)
    assert {k: v[1] for k, v in after.items()} == {k: v[1] for k, v in live.items()}
    assert after[m3["id"]][1] == 2
    assert who(service, topo, 8) == {"web1": 2, "web2": 2, "web3": 4}
    service.change(lb_id, "DELETE", f"/v2/lbaas/pools/{pool}/members/{m3['id']}")


def test_removal_under_keep_alive_load_loses_nothing(service: Service, topo: dict[str, Any]) -> None:
    lb_id, pool = topo["lb"], topo["pool"]
    run = service.load("client", f"http://{topo['vip']}/", mode="keepalive", seconds=60)
    try:
        for _ in range(3):
            m3 = service.change(lb_id, "POST", f"/v2/lbaas/pools/{pool}/members",
                                {"member": {"name": "web3", "address": topo["web3"], "protocol_port": 80}})["member"]
            service.change(lb_id, "DELETE", f"/v2/lbaas/pools/{pool}/members/{m3['id']}")
    finally:
        report = run.stop()
    assert report["failed"] == 0, report
    assert report["requests"] > 0
    service.wait_for(lambda: len(servers(service, lb_id)) == 2, 15, what="removed servers deleted once idle")
