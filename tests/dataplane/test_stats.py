"""Load balancer and listener stats, counted by a real HAProxy and accumulated across reloads.

Each request of ``Service.fetch`` is its own connection, so ``total_connections`` can be asserted
exactly. HAProxy's counters restart at zero in the new worker of every reload; the totals the API shows
must keep everything counted before and everything counted after.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from tests.dataplane.harness import Service

pytestmark = pytest.mark.netns
HOST_PREFIX = "tfst-"
NET = "10.252.6"
VIP = f"{NET}.20"
FIELDS = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")
SETTLE = 4.0  # the observer reports once a second


@pytest.fixture(scope="module")
def topo(service: Service) -> dict[str, Any]:
    net, subnet = service.network(f"{NET}.0/24")
    service.host("client", net["id"], f"{NET}.10", serve=None)
    for name, last in (("web1", 11), ("web2", 12), ("web3", 13)):
        service.host(name, net["id"], f"{NET}.{last}")
    lb = service.create_lb({
        "vip_subnet_id": subnet["id"], "vip_address": VIP,
        "listeners": [
            {"name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "web"}},
            {"name": "tcp", "protocol": "TCP", "protocol_port": 81, "default_pool": {"name": "tcp"}},
        ],
        "pools": [
            {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "members": [{"address": f"{NET}.11", "protocol_port": 80}]},
            {"name": "tcp", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
             "members": [{"address": f"{NET}.12", "protocol_port": 80}]},
        ],
    })  # fmt: skip
    listeners = {li["name"]: li["id"] for li in service.client.call("GET", "/v2/lbaas/listeners")["listeners"]}
    pools = {p["name"]: p["id"] for p in service.client.call("GET", "/v2/lbaas/pools")["pools"]}
    return {"lb": lb["id"], "listeners": listeners, "pools": pools}


def lb_stats(service: Service, topo: dict[str, Any]) -> dict[str, int]:
    return dict(service.client.call("GET", f"/v2/lbaas/loadbalancers/{topo['lb']}/stats")["stats"])


def listener_stats(service: Service, topo: dict[str, Any], name: str) -> dict[str, int]:
    return dict(service.client.call("GET", f"/v2/lbaas/listeners/{topo['listeners'][name]}/stats")["stats"])


def wait_connections(service: Service, topo: dict[str, Any], name: str, expected: int) -> dict[str, int]:
    service.wait_for(lambda: listener_stats(service, topo, name)["total_connections"] >= expected,
                     timeout=SETTLE, what=f"{name} total_connections ≥ {expected}")  # fmt: skip
    time.sleep(1.2)  # one more observer tick: nothing more may arrive
    return listener_stats(service, topo, name)


def ok(answers: list[dict[str, Any]]) -> int:
    assert all(a["status"] == 200 for a in answers), answers
    return len(answers)


def test_stats_count_connections_and_bytes(service: Service, topo: dict[str, Any]) -> None:
    assert lb_stats(service, topo) == dict.fromkeys(FIELDS, 0)
    answers = service.fetch("client", f"http://{VIP}/count", 10)
    ok(answers)
    http = wait_connections(service, topo, "http", 10)
    assert http["total_connections"] == 10
    assert http["active_connections"] == 0
    assert http["request_errors"] == 0
    # Every request line went in, every JSON body came out (plus headers both ways).
    assert http["bytes_in"] >= 10 * len("GET /count HTTP/1.1\r\n")
    assert http["bytes_out"] >= sum(len(str(a["host"])) + len(str(a["path"])) for a in answers)
    ok(service.fetch("client", f"http://{VIP}:81/", 5))
    tcp = wait_connections(service, topo, "tcp", 5)
    assert tcp["total_connections"] == 5 and tcp["bytes_in"] > 0 and tcp["bytes_out"] > 0
    total = lb_stats(service, topo)
    assert total == {f: http[f] + tcp[f] for f in FIELDS}


def test_active_connections_and_request_errors(service: Service, topo: dict[str, Any]) -> None:
    before = listener_stats(service, topo, "http")
    hold = (
        "import socket, time\n"
        f"s = socket.create_connection(('{VIP}', 80))\n"
        "s.sendall(b'POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 100\\r\\n\\r\\n')\n"
        "print('sent', flush=True)\n"
        "time.sleep(30)\n"
    )
    holder = subprocess.Popen(service.hosts.exec_argv(f"{HOST_PREFIX}client", [sys.executable, "-c", hold]),
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "sent"
        service.wait_for(lambda: listener_stats(service, topo, "http")["active_connections"] == 1,
                         timeout=SETTLE, what="one active connection")  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    service.wait_for(lambda: listener_stats(service, topo, "http")["active_connections"] == 0,
                     timeout=SETTLE, what="no active connection")  # fmt: skip
    bad = service.run_in("client", [sys.executable, "-c", (
        "import socket\n"
        f"s = socket.create_connection(('{VIP}', 80), timeout=3)\n"
        "s.sendall(b'NOT HTTP AT ALL\\r\\n\\r\\n')\n"
        "print(s.recv(100).decode(errors='replace'))\n")])  # fmt: skip
    assert " 400 " in bad.stdout, bad
    service.wait_for(lambda: listener_stats(service, topo, "http")["request_errors"] == before["request_errors"] + 1,
                     timeout=SETTLE, what="one request error")  # fmt: skip
    after = listener_stats(service, topo, "http")
    assert after["total_connections"] == before["total_connections"] + 2


def test_totals_survive_reloads_and_never_go_down(service: Service, topo: dict[str, Any]) -> None:
    """A reload starts a new worker whose counters start at zero. Each round: a reload, one request (the
    new worker counts 1 and the agent sees it), another reload, then ten requests at once, so the new
    worker passes the old one's count before the agent's next tick. Everything must be added in full."""
    pool = topo["pools"]["web"]
    members: list[str] = []

    def add_member(last: int) -> None:
        body = {"member": {"address": f"{NET}.{last}", "protocol_port": 80}}
        members.append(service.change(topo["lb"], "POST", f"/v2/lbaas/pools/{pool}/members", body)["member"]["id"])

    def reweigh(member_id: str) -> None:
        service.change(topo["lb"], "PUT", f"/v2/lbaas/pools/{pool}/members/{member_id}", {"member": {"weight": 2}})

    expected = wait_connections(service, topo, "http", 0)["total_connections"]
    history = [lb_stats(service, topo)]
    pid = service.haproxy_pid(topo["lb"])
    changes = [lambda: add_member(12), lambda: add_member(13), lambda: reweigh(members[0]), lambda: reweigh(members[1])]
    for step, change in enumerate(changes):
        change()
        n = 1 if step % 2 == 0 else 10
        expected += ok(service.fetch("client", f"http://{VIP}/", n))
        history.append(lb_stats(service, topo))
        now = wait_connections(service, topo, "http", expected)
        assert now["total_connections"] == expected, f"after reload {step + 1} and {n} requests"
        history.append(lb_stats(service, topo))
    assert service.haproxy_pid(topo["lb"]) == pid, "reloads, not restarts"
    for earlier, later in zip(history, history[1:], strict=False):
        for f in FIELDS:
            if f != "active_connections":
                assert later[f] >= earlier[f], (f, history)
    answered = {a["host"] for a in service.fetch("client", f"http://{VIP}/", 5)}
    assert answered == {f"{HOST_PREFIX}web1", f"{HOST_PREFIX}web2", f"{HOST_PREFIX}web3"}
