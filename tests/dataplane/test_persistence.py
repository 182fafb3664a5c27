"""Session persistence and balancing algorithms, through a real HAProxy to real echo members.

One LB, one listener per feature (each with its own pool on the same two members), two clients.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from tests.dataplane.harness import Service

pytestmark = pytest.mark.netns
HOST_PREFIX = "tfp-"
NET = "10.252.1"
VIP = f"{NET}.20"
WEBS = {f"{HOST_PREFIX}web1", f"{HOST_PREFIX}web2"}
PORTS = {"source_ip": 80, "http_cookie": 81, "app_cookie": 82, "leastconn": 83, "source_alg": 84}


def _pool(name: str, algorithm: str = "ROUND_ROBIN", **extra: object) -> dict[str, object]:
    return {"name": name, "protocol": "HTTP", "lb_algorithm": algorithm, **extra,
            "members": [{"name": "web1", "address": f"{NET}.11", "protocol_port": 80},
                        {"name": "web2", "address": f"{NET}.12", "protocol_port": 80}]}  # fmt: skip


@pytest.fixture(scope="module")
def topo(service: Service) -> dict[str, str]:
    net, subnet = service.network(f"{NET}.0/24")
    for name, last in (("client1", 10), ("client2", 13), ("web1", 11), ("web2", 12)):
        service.host(name, net["id"], f"{NET}.{last}", serve=None if name.startswith("client") else 80)
    lb = service.create_lb({
        "vip_subnet_id": subnet["id"], "vip_address": VIP,
        "listeners": [{"protocol": "HTTP", "protocol_port": port, "default_pool": {"name": name}}
                      for name, port in PORTS.items()],
        "pools": [
            _pool("source_ip", session_persistence={"type": "SOURCE_IP"}),
            _pool("http_cookie", session_persistence={"type": "HTTP_COOKIE"}),
            _pool("app_cookie", session_persistence={"type": "APP_COOKIE", "cookie_name": "JSESSIONID"}),
            _pool("leastconn", "LEAST_CONNECTIONS"),
            _pool("source_alg", "SOURCE_IP"),
        ],
    })  # fmt: skip
    return {"lb": lb["id"]}


def url(feature: str, path: str = "/") -> str:
    return f"http://{VIP}:{PORTS[feature]}{path}"


def hosts_of(answers: list[dict[str, object]]) -> Counter[str]:
    assert all(a["status"] == 200 for a in answers), answers
    return Counter(str(a["host"]) for a in answers)


def test_source_ip_persistence_pins_each_client(service: Service, topo: dict[str, str]) -> None:
    first = hosts_of(service.fetch("client1", url("source_ip"), 20))
    assert len(first) == 1 and sum(first.values()) == 20, first
    # Stuck requests do not advance round robin, so a new client gets the other member; and it sticks too.
    second = hosts_of(service.fetch("client2", url("source_ip"), 10))
    assert len(second) == 1, second
    assert set(first) | set(second) == WEBS
    again = hosts_of(service.fetch("client1", url("source_ip"), 5))
    assert again.keys() == first.keys()


def test_http_cookie_persistence_pins_the_member_named_in_the_cookie(
    service: Service, topo: dict[str, str]
) -> None:
    fresh = service.fetch("client1", url("http_cookie"), 4)
    assert hosts_of(fresh) == {name: 2 for name in WEBS}, "without a cookie the pool round-robins"
    member_ids = {m["name"]: m["id"] for m in service.client.call(
        "GET", f"/v2/lbaas/pools/{_pool_id(service, topo['lb'], 'http_cookie')}/members")["members"]}
    for answer in fresh[:2]:
        (cookie,) = answer["set_cookies"]
        name, _, value = cookie.split(";")[0].partition("=")
        assert name == "SRV"
        assert value == member_ids[answer["host"].removeprefix(HOST_PREFIX)]
        pinned = service.fetch("client1", url("http_cookie"), 10, headers={"Cookie": f"SRV={value}"})
        assert hosts_of(pinned) == {answer["host"]: 10}
        assert all(not a["set_cookies"] for a in pinned), "a valid cookie is not set again (indirect)"


def test_app_cookie_persistence_learns_the_application_cookie(service: Service, topo: dict[str, str]) -> None:
    learned: dict[str, str] = {}
    for session in ("s1", "s2"):
        (answer,) = service.fetch("client1", url("app_cookie", f"/?set-cookie=JSESSIONID={session}"))
        assert answer["status"] == 200 and answer["set_cookies"] == [f"JSESSIONID={session}"]
        learned[session] = answer["host"]
    assert set(learned.values()) == WEBS, "two new sessions land on the two members (round robin)"
    for session, host in learned.items():
        pinned = service.fetch("client1", url("app_cookie"), 10, headers={"Cookie": f"JSESSIONID={session}"})
        assert hosts_of(pinned) == {host: 10}, session


def test_least_connections_avoids_the_busy_member(service: Service, topo: dict[str, str]) -> None:
    """A request whose body never comes holds one member's connection open; leastconn then sends every
    new request to the other member (round robin would alternate)."""
    hold = (
        "import socket, sys, time\n"
        f"s = socket.create_connection(('{VIP}', {PORTS['leastconn']}))\n"
        "s.sendall(b'POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 100000\\r\\n\\r\\n')\n"
        "print('sent', flush=True)\n"
        "time.sleep(30)\n"
    )
    holder = subprocess.Popen(service.hosts.exec_argv(f"{HOST_PREFIX}client2", [sys.executable, "-c", hold]),
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    pool_id = _pool_id(service, topo["lb"], "leastconn")
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "sent"
        # Wait until HAProxy has really connected the held request to a member (a fixed sleep was too short
        # on a loaded CI machine): leastconn counts that server's current sessions from then on.
        # Each request waits until HAProxy has closed the one before: a stream that has sent its answer but is
        # not yet freed still counts on the free member, and a tie with the busy one goes to either.
        answers = []
        for _ in range(10):
            service.wait_for(lambda: _leastconn_sessions(service, topo["lb"], pool_id) == 1, 10,
                             what="only the held request in HAProxy")  # fmt: skip
            answers += service.fetch("client1", url("leastconn"))
        busy_free = hosts_of(answers)
        assert len(busy_free) == 1 and sum(busy_free.values()) == 10, busy_free
    finally:
        holder.kill()
        holder.wait()
    service.wait_for(lambda: _leastconn_sessions(service, topo["lb"], pool_id) == 0, 10, what="the held request gone")
    both = hosts_of(service.fetch("client1", url("leastconn"), 10))
    assert set(both) == WEBS, "with no member busy, both get traffic"


def test_source_ip_algorithm_hashes_each_client_to_one_member(service: Service, topo: dict[str, str]) -> None:
    for client in ("client1", "client2"):
        seen = hosts_of(service.fetch(client, url("source_alg"), 10))
        assert len(seen) == 1 and set(seen) <= WEBS, (client, seen)


def _pool_id(service: Service, lb_id: str, name: str) -> str:
    pools = service.client.call("GET", f"/v2/lbaas/pools?loadbalancer_id={lb_id}&name={name}")["pools"]
    assert len(pools) == 1, pools
    return str(pools[0]["id"])


def _leastconn_sessions(service: Service, lb_id: str, pool_id: str) -> int:
    """Current sessions on the pool's servers, as HAProxy counts them (its backends are <pool>:<listener>)."""
    return sum(r.scur for r in service.haproxy_stats(lb_id) if r.is_server and r.pxname.startswith(pool_id))
