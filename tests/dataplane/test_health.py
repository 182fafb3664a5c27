"""Health monitors and member states, measured: real checks against real echo servers that stop and return.

Monitors are fast (delay 1 s, timeout 1 s, max_retries 1, max_retries_down 2), so a member whose server
stops is DOWN after about delay × max_retries_down, and the API shows it one observer tick (1 s) later.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.dataplane.harness import Service

pytestmark = pytest.mark.netns
HOST_PREFIX = "tfhm-"
NET = "10.252.4"
VIP = f"{NET}.20"
WEB = {n: f"{HOST_PREFIX}{n}" for n in ("web1", "web2", "web3")}
DELAY, MAX_RETRIES_DOWN = 1, 2
TRAFFIC_BOUND = DELAY * MAX_RETRIES_DOWN + 1.0  # HAProxy stops sending to a dead member by then
OBSERVER_TICK = 1.0  # the agent measures status once a second


def hm(type_: str = "HTTP", **extra: Any) -> dict[str, Any]:
    body = {"type": type_, "delay": DELAY, "timeout": 1, "max_retries": 1, "max_retries_down": MAX_RETRIES_DOWN}
    if type_ == "HTTP":
        body |= {"http_method": "GET", "url_path": "/health", "expected_codes": "200"}
    return body | extra


def member(name: str, **extra: Any) -> dict[str, Any]:
    last = {"web1": 11, "web2": 12, "web3": 13}[name]
    return {"name": name, "address": f"{NET}.{last}", "protocol_port": 80, **extra}


@pytest.fixture(scope="module")
def topo(service: Service) -> dict[str, Any]:
    net, subnet = service.network(f"{NET}.0/24")
    service.host("client", net["id"], f"{NET}.10", serve=None)
    for name in WEB:
        service.host(name, net["id"], f"{NET}.{10 + int(name[-1])}")
    lb = service.create_lb({
        "vip_subnet_id": subnet["id"], "vip_address": VIP,
        "listeners": [
            {"name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "hm"}},
            {"name": "states", "protocol": "HTTP", "protocol_port": 81, "default_pool": {"name": "states"}},
            {"name": "nomon", "protocol": "HTTP", "protocol_port": 82, "default_pool": {"name": "nomon"}},
            {"name": "tcp", "protocol": "TCP", "protocol_port": 83, "default_pool": {"name": "tcp"}},
        ],
        "pools": [
            {"name": "hm", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "healthmonitor": hm(),
             "members": [member("web1"), member("web2")]},
            {"name": "states", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "healthmonitor": hm(),
             "members": [member("web1"), member("web2", admin_state_up=False), member("web3", weight=0)]},
            {"name": "nomon", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "members": [member("web1"), member("web2")]},
            {"name": "tcp", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN", "healthmonitor": hm("TCP"),
             "members": [member("web1"), member("web2")]},
        ],
    })  # fmt: skip
    ids: dict[str, Any] = {"lb": lb["id"], "subnet": subnet["id"]}
    for pool in service.client.call("GET", "/v2/lbaas/pools")["pools"]:
        ids[pool["name"]] = pool["id"]
        for m in service.client.call("GET", f"/v2/lbaas/pools/{pool['id']}/members")["members"]:
            ids[f"{pool['name']}/{m['name']}"] = m["id"]
    for li in service.client.call("GET", "/v2/lbaas/listeners")["listeners"]:
        ids[f"listener/{li['name']}"] = li["id"]
    # Checks need a round or two before every member is measured UP.
    # Every monitored member the tests start from, and what they roll up to (one member measured a round
    # later than another left the pool and the LB DEGRADED for a tick).
    watched = ("hm/web1", "hm/web2", "tcp/web1", "tcp/web2", "states/web1", "hm", "tcp", "lb")
    service.wait_for(lambda: status(service, ids, *watched) == ["ONLINE"] * len(watched),
                     timeout=10, what="members ONLINE")  # fmt: skip
    return ids


def status(service: Service, ids: dict[str, Any], *keys: str) -> list[str]:
    st = service.status_of(ids["lb"])
    return [st[ids[k]] if k != "lb" else st[ids["lb"]] for k in keys]


def hosts(service: Service, port: int, n: int) -> list[dict[str, Any]]:
    return service.fetch("client", f"http://{VIP}:{port}/", n)


def test_member_whose_server_stops_goes_error_and_loses_traffic_then_returns(
    service: Service, topo: dict[str, Any]
) -> None:
    assert status(service, topo, "lb", "hm", "hm/web1", "hm/web2") == ["ONLINE"] * 4
    assert Counter(a["host"] for a in hosts(service, 80, 4)) == {WEB["web1"]: 2, WEB["web2"]: 2}

    service.hosts.stop_server(WEB["web2"])
    try:
        def web2_row() -> Any:
            (row,) = [r for r in service.haproxy_stats(topo["lb"])
                      if r.pxname.startswith(topo["hm"]) and r.svname == topo["hm/web2"]]  # fmt: skip
            return row

        def attempts_on_web2() -> int:
            """Every connection HAProxy tried on web2 in the ``hm`` backend (sessions, errors, retries)."""
            row = web2_row()
            return row.stot + row.econ + int(row.raw.get("wretr") or 0) + int(row.raw.get("wredis") or 0)

        def only_survivor() -> bool:
            before = attempts_on_web2()
            batch = hosts(service, 80, 4)
            served = all(a["status"] == 200 and a["host"] == WEB["web1"] for a in batch)
            return served and attempts_on_web2() == before

        # Until HAProxy marks web2 DOWN, every other request first tries web2 (refused, then redispatched:
        # the client sees no error, only web2's connection counters move). Once its checks mark it DOWN,
        # no request tries it any more.
        service.wait_for(lambda: str(web2_row().raw.get("status", "")).startswith("DOWN"),
                         timeout=TRAFFIC_BOUND + 3, interval=0.05, what="HAProxy's checks marking web2 DOWN")  # fmt: skip
        assert only_survivor(), "traffic still tried web2 after HAProxy marked it DOWN"
        service.wait_for(
            lambda: status(service, topo, "hm/web2", "hm", "tcp/web2", "tcp", "lb")
            == ["ERROR", "DEGRADED", "ERROR", "DEGRADED", "DEGRADED"],
            timeout=TRAFFIC_BOUND + OBSERVER_TICK + 3,
            what="web2 ERROR, pools and LB DEGRADED",
        )
        # Octavia's mapping: the listener is OPEN, so ONLINE; the failing member shows on its pool and the LB
        assert status(service, topo, "hm/web1", "tcp/web1", "listener/http") == ["ONLINE", "ONLINE", "ONLINE"]
        assert {a["host"] for a in hosts(service, 80, 6)} == {WEB["web1"]}
        assert {a.get("host") for a in hosts(service, 83, 4)} == {WEB["web1"]}  # the TCP monitor saw it too
    finally:
        service.hosts.serve(WEB["web2"], 80)  # later tests need it, even after a failure
    service.wait_for(
        lambda: status(service, topo, "hm/web2", "hm", "tcp/web2", "lb") == ["ONLINE"] * 4,
        timeout=DELAY * 1 + 1 + OBSERVER_TICK + 1, what="web2 back ONLINE",
    )  # fmt: skip
    assert Counter(a["host"] for a in hosts(service, 80, 4)) == {WEB["web1"]: 2, WEB["web2"]: 2}


def test_admin_down_member_is_offline_and_weight_zero_member_is_draining(
    service: Service, topo: dict[str, Any]
) -> None:
    assert status(service, topo, "states/web1", "states/web2", "states/web3", "states") == [
        "ONLINE", "OFFLINE", "DRAINING", "ONLINE"
    ]  # fmt: skip
    answers = hosts(service, 81, 12)
    assert all(a["status"] == 200 for a in answers)
    assert {a["host"] for a in answers} == {WEB["web1"]}


def test_weight_zero_applies_to_a_running_member(service: Service, topo: dict[str, Any]) -> None:
    """Drain web2 of the ``hm`` pool through the API: it stops getting new requests, then comes back."""
    path = f"/v2/lbaas/pools/{topo['hm']}/members/{topo['hm/web2']}"
    service.change(topo["lb"], "PUT", path, {"member": {"weight": 0}})
    try:
        service.wait_for(lambda: status(service, topo, "hm/web2") == ["DRAINING"], timeout=OBSERVER_TICK + 2,
                         what="web2 DRAINING")  # fmt: skip
        assert {a["host"] for a in hosts(service, 80, 8)} == {WEB["web1"]}
    finally:
        service.change(topo["lb"], "PUT", path, {"member": {"weight": 1}})
    service.wait_for(lambda: status(service, topo, "hm/web2") == ["ONLINE"], timeout=OBSERVER_TICK + 2,
                     what="web2 ONLINE again")  # fmt: skip
    assert {a["host"] for a in hosts(service, 80, 4)} == {WEB["web1"], WEB["web2"]}


def test_pool_without_monitor_has_no_monitor_members(service: Service, topo: dict[str, Any]) -> None:
    assert status(service, topo, "nomon/web1", "nomon/web2", "nomon") == ["NO_MONITOR", "NO_MONITOR", "ONLINE"]
    assert {a["host"] for a in hosts(service, 82, 4)} == {WEB["web1"], WEB["web2"]}


def test_monitor_port_on_a_closed_port_makes_the_member_error(service: Service, topo: dict[str, Any]) -> None:
    """Octavia's tempest trick: the member's traffic port answers, its monitor port does not."""
    direct = service.fetch("client", f"http://{NET}.11/", 1)
    assert direct[0]["host"] == WEB["web1"]
    pool = service.change(topo["lb"], "POST", "/v2/lbaas/pools", {"pool": {
        "name": "monport", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "loadbalancer_id": topo["lb"]}})["pool"]  # fmt: skip
    service.change(topo["lb"], "POST", "/v2/lbaas/healthmonitors", {"healthmonitor": {"pool_id": pool["id"], **hm()}})
    bad = service.change(topo["lb"], "POST", f"/v2/lbaas/pools/{pool['id']}/members",
                         {"member": member("web1", monitor_port=8081)})["member"]  # fmt: skip
    good = service.change(topo["lb"], "POST", f"/v2/lbaas/pools/{pool['id']}/members",
                          {"member": member("web2", monitor_port=80)})["member"]  # fmt: skip
    service.change(topo["lb"], "POST", "/v2/lbaas/listeners", {"listener": {
        "name": "monport", "protocol": "HTTP", "protocol_port": 84, "loadbalancer_id": topo["lb"],
        "default_pool_id": pool["id"]}})  # fmt: skip

    def measured() -> tuple[str, str, str]:
        st = service.status_of(topo["lb"])
        return st[bad["id"]], st[good["id"]], st[pool["id"]]

    service.wait_for(lambda: measured() == ("ERROR", "ONLINE", "DEGRADED"),
                     timeout=TRAFFIC_BOUND + OBSERVER_TICK + 2, what="monitor-port member ERROR")  # fmt: skip
    assert {a["host"] for a in hosts(service, 84, 6)} == {WEB["web2"]}
    # The other pools kept their measured states through the reloads these changes caused.
    assert status(service, topo, "hm/web1", "hm/web2", "states/web3") == ["ONLINE", "ONLINE", "DRAINING"]
