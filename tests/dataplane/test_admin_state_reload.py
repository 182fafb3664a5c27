"""A member's admin state after a reload is what the new config says, never what the server-state file
saved before the reload says (issue 12 item 5).

A member created admin-down on a running LB is added through the runtime API and left in forced
maintenance. When a later update enables it together with a change that needs a reload (``backup``),
HAProxy 2.6 restored that maintenance from the saved server-state file: the member got no traffic."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from lbaas.agent.haproxy.process import parse_show_proc, unix_command
from lbaas.agent.haproxy.stats import StatType
from lbaas.agent.paths import LbPaths
from tests.dataplane.harness import Service

pytestmark = pytest.mark.netns
HOST_PREFIX = "ocas-"


@pytest.fixture(scope="module")
def topo(service: Service) -> dict[str, Any]:
    net, subnet = service.network("10.252.40.0/24")
    ips = {name: service.host(name, net["id"], ip) for name, ip in
           (("client", "10.252.40.10"), ("web1", "10.252.40.11"), ("web2", "10.252.40.12"))}  # fmt: skip
    service.hosts.stop_server(f"{HOST_PREFIX}client")
    lb = service.create_lb({
        "vip_subnet_id": subnet["id"], "vip_address": "10.252.40.20",
        "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "web"}}],
        "pools": [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 2, "url_path": "/"},
                   "members": [{"name": "web1", "address": ips["web1"], "protocol_port": 80}]}],
    })  # fmt: skip
    pool_id = service.client.call("GET", f"/v2/lbaas/pools?loadbalancer_id={lb['id']}")["pools"][0]["id"]
    return {**ips, "vip": "10.252.40.20", "lb": lb["id"], "pool": pool_id}


def reloads(service: Service, lb_id: str) -> int:
    return parse_show_proc(unix_command(LbPaths(service.state_dir, lb_id).master_sock, "show proc")).reloads


def server_status(service: Service, lb_id: str, member_id: str) -> str | None:
    rows = [r for r in service.haproxy_stats(lb_id) if r.type == StatType.SERVER and r.svname == member_id]
    return rows[0].status if rows else None


def who(service: Service, topo: dict[str, Any], n: int) -> Counter[str]:
    answers = service.fetch("client", f"http://{topo['vip']}/", n)
    assert all(a["status"] == 200 for a in answers), answers
    return Counter(a["host"].removeprefix(HOST_PREFIX) for a in answers)


def test_member_created_down_then_enabled_with_a_reload_gets_traffic(service: Service, topo: dict[str, Any]) -> None:
    lb_id, pool = topo["lb"], topo["pool"]
    m2 = service.change(lb_id, "POST", f"/v2/lbaas/pools/{pool}/members",
                        {"member": {"name": "web2", "address": topo["web2"], "protocol_port": 80,
                                    "admin_state_up": False, "backup": True}})["member"]  # fmt: skip
    assert server_status(service, lb_id, m2["id"]) == "MAINT"
    assert set(who(service, topo, 4)) == {"web1"}
    before = reloads(service, lb_id)

    service.change(lb_id, "PUT", f"/v2/lbaas/pools/{pool}/members/{m2['id']}",
                   {"member": {"admin_state_up": True, "backup": False}})
    assert reloads(service, lb_id) == before + 1  # ``backup`` is not a runtime change: this took a reload
    service.wait_for(lambda: (server_status(service, lb_id, m2["id"]) or "").startswith("UP"), 15,
                     what="web2 enabled and UP after the reload")
    assert who(service, topo, 6) == {"web1": 3, "web2": 3}
    service.wait_for(lambda: service.members(lb_id).get("web2") == "ONLINE", 15, what="web2 ONLINE")

    # and back: disabled together with a reload, it is in maintenance again (the config wins both ways)
    service.change(lb_id, "PUT", f"/v2/lbaas/pools/{pool}/members/{m2['id']}",
                   {"member": {"admin_state_up": False, "backup": True}})
    assert reloads(service, lb_id) == before + 2
    assert server_status(service, lb_id, m2["id"]) == "MAINT"
    assert set(who(service, topo, 4)) == {"web1"}
    service.wait_for(lambda: service.members(lb_id).get("web2") == "OFFLINE", 15, what="web2 OFFLINE")


def test_unmonitored_member_created_down_then_enabled_with_a_reload_is_up(service: Service, topo: dict[str, Any]) -> None:
    """The same without a health monitor (octavia-tempest-plugin's member update tests): the server's saved
    operational state (stopped, from its maintenance) must not survive the reload either, since no check
    would ever bring it back: HAProxy reported it DOWN for good and lbaas showed ERROR."""
    lb_id = topo["lb"]
    li = service.change(lb_id, "POST", "/v2/lbaas/listeners", {"listener": {
        "loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 81}})["listener"]  # fmt: skip
    plain = service.change(lb_id, "POST", "/v2/lbaas/pools", {"pool": {
        "name": "plain81", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "listener_id": li["id"]}})["pool"]  # fmt: skip
    mb = service.change(lb_id, "POST", f"/v2/lbaas/pools/{plain['id']}/members",
                        {"member": {"name": "plain-web2", "address": topo["web2"], "protocol_port": 80,
                                    "admin_state_up": False}})["member"]  # fmt: skip
    assert server_status(service, lb_id, mb["id"]) == "MAINT"
    before = reloads(service, lb_id)
    service.change(lb_id, "PUT", f"/v2/lbaas/pools/{plain['id']}/members/{mb['id']}",
                   {"member": {"admin_state_up": True, "backup": True}})
    assert reloads(service, lb_id) == before + 1
    service.wait_for(lambda: server_status(service, lb_id, mb["id"]) == "no check", 15,
                     what="the unmonitored member enabled (no check) after the reload")
    answers = service.fetch("client", f"http://{topo['vip']}:81/", 3)
    assert [a["status"] for a in answers] == [200] * 3 and {a["host"] for a in answers} == {f"{HOST_PREFIX}web2"}
    service.wait_for(lambda: service.members(lb_id).get("plain-web2") == "NO_MONITOR", 15, what="NO_MONITOR")
    service.change(lb_id, "DELETE", f"/v2/lbaas/listeners/{li['id']}")


def test_octavia_statuses_once_applied(service: Service, topo: dict[str, Any]) -> None:
    """Measured on the real data plane, in Octavia's vocabulary: the listener and the health monitor
    ONLINE, an L7 policy and its rule ONLINE once applied, a pool with no members that a policy routes to
    ONLINE (HAProxy reports its backend UP), members of a pool without a monitor NO_MONITOR."""
    lb_id, pool = topo["lb"], topo["pool"]
    listener = service.client.call("GET", f"/v2/lbaas/listeners?loadbalancer_id={lb_id}")["listeners"][0]
    empty = service.change(lb_id, "POST", "/v2/lbaas/pools", {"pool": {
        "name": "empty", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "loadbalancer_id": lb_id}})["pool"]  # fmt: skip
    plain = service.change(lb_id, "POST", "/v2/lbaas/pools", {"pool": {
        "name": "plain", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "loadbalancer_id": lb_id}})["pool"]  # fmt: skip
    unchecked = service.change(lb_id, "POST", f"/v2/lbaas/pools/{plain['id']}/members", {"member": {
        "name": "unchecked", "address": topo["web1"], "protocol_port": 80}})["member"]  # fmt: skip
    pol = service.change(lb_id, "POST", "/v2/lbaas/l7policies", {"l7policy": {
        "listener_id": listener["id"], "action": "REDIRECT_TO_POOL", "redirect_pool_id": empty["id"]}})["l7policy"]  # fmt: skip
    rule = service.change(lb_id, "POST", f"/v2/lbaas/l7policies/{pol['id']}/rules", {"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/nowhere"}})["rule"]  # fmt: skip
    pol2 = service.change(lb_id, "POST", "/v2/lbaas/l7policies", {"l7policy": {
        "listener_id": listener["id"], "action": "REDIRECT_TO_POOL", "redirect_pool_id": plain["id"]}})["l7policy"]  # fmt: skip
    service.change(lb_id, "POST", f"/v2/lbaas/l7policies/{pol2['id']}/rules", {"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/plain"}})  # fmt: skip
    hm_id = service.client.call("GET", f"/v2/lbaas/pools/{pool}")["pool"]["healthmonitor_id"]

    def op(path: str, key: str) -> str:
        return str(service.client.call("GET", path)[key]["operating_status"])

    def measured() -> dict[str, str]:
        return {
            "listener": op(f"/v2/lbaas/listeners/{listener['id']}", "listener"),
            "hm": op(f"/v2/lbaas/healthmonitors/{hm_id}", "healthmonitor"),
            "policy": op(f"/v2/lbaas/l7policies/{pol['id']}", "l7policy"),
            "rule": op(f"/v2/lbaas/l7policies/{pol['id']}/rules/{rule['id']}", "rule"),
            "empty pool": op(f"/v2/lbaas/pools/{empty['id']}", "pool"),
            "unchecked": op(f"/v2/lbaas/pools/{plain['id']}/members/{unchecked['id']}", "member"),
        }

    want = {"listener": "ONLINE", "hm": "ONLINE", "policy": "ONLINE", "rule": "ONLINE", "empty pool": "ONLINE",
            "unchecked": "NO_MONITOR"}  # fmt: skip
    service.wait_for(lambda: measured() == want, 15, what="Octavia's statuses")
    assert service.fetch("client", f"http://{topo['vip']}/nowhere/x", 1)[0]["status"] == 503  # no members: 503
    assert service.fetch("client", f"http://{topo['vip']}/plain", 1)[0]["host"].endswith("web1")


def test_the_embedded_agent_stays_alive_in_the_agents_view(service: Service, topo: dict[str, Any]) -> None:
    """``lbaas serve``'s in-process agent beats at the configured period with sub-second timestamps, so
    the agents view (judged against agent_down_time) never shows it dead (suspect, after two missed
    beats, is allowed on this shared machine)."""
    seen: list[tuple[str, ...]] = []
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        seen.append(tuple(a["liveness"] for a in service.client.call("GET", "/v2/octavia/agents")["agents"]))
        time.sleep(0.1)
    assert len(seen) >= 5 and all(len(s) == 1 and s[0] != "DEAD" for s in seen), seen
    assert seen.count(("ALIVE",)) > len(seen) // 2, seen
