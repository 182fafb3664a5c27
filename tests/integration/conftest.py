"""Fixtures for data-plane integration tests: real namespaces, bridges, veths, HAProxy and echo servers.

Safety rules these fixtures enforce (other engineers test on the same kernel at the same time):

* Names: LB namespaces ``qlbaas-t<token>-*``, hosts ``lbh-t<token>-*``, every root-namespace link
  ``lbt?<token>*`` (bridges ``lbtb``/``lbtc``, taps ``lbtt``/``lbtu``, fake physical NICs ``lbtp``, VLAN
  tagger veths ``lbtg``/``lbth``). tc filters and eBPF programs live only on those links.
  ``<token>`` is 4 random hex digits per test session, so even two sessions of ours never collide;
  cleanup only touches names carrying this session's token.
* Addresses: 10.231.0.0/16 and fd00:231::/32 inside our own namespaces; bridges have no address, no
  IPv6, and no real interface; no namespace gets a route toward the host.
* Cleanup runs after every test, on failure too: processes registered by pid, then every process living
  in one of our namespaces (by namespace identity, killed by pid), then namespaces, then links. It then
  *asserts* that nothing of ours is left.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lbaas.agent import echo
from lbaas.agent.haproxy.process import MasterWorkerHaproxy
from lbaas.agent.hosts import kill_namespace_processes
from lbaas.agent.netns import nsexec
from lbaas.agent.netns.base import Naming, NetworkPlug, PortPlug
from lbaas.agent.paths import LbPaths

TOKEN = secrets.token_hex(2)  # 4 hex digits
LINK_PREFIX = "lbt"


def _missing_requirements() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("haproxy", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing_requirements()
    if reason is None:
        return
    for item in items:
        if "netns" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


def our_link(name: str) -> bool:
    return name.startswith(LINK_PREFIX) and name[4:8] == TOKEN


def root_links() -> list[str]:
    return sorted(os.listdir("/sys/class/net"))


@dataclass
class Env:
    naming: Naming
    host_prefix: str
    state_dir: Path
    haproxy: MasterWorkerHaproxy
    lb_paths: list[LbPaths] = field(default_factory=list)
    echo_pids: list[int] = field(default_factory=list)
    extra_links: list[str] = field(default_factory=list)

    # ids whose first 4 hex digits are the token, so every derived interface name carries it
    def new_id(self) -> str:
        return str(uuid.UUID(TOKEN + uuid.uuid4().hex[4:]))

    def network(self, **kw: object) -> NetworkPlug:
        return NetworkPlug(network_id=self.new_id(), **kw)  # type: ignore[arg-type]

    def port(self, network: NetworkPlug, ip: str, prefixlen: int = 24, **kw: object) -> PortPlug:
        mac = "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))
        return PortPlug(port_id=self.new_id(), mac_address=mac, addresses=[(ip, prefixlen)], network=network,
                        mtu=network.mtu, **kw)  # type: ignore[arg-type]

    def paths(self, lb_id: str) -> LbPaths:
        p = LbPaths(self.state_dir, lb_id)
        self.lb_paths.append(p)
        return p

    def ours_ns(self) -> list[str]:
        try:
            names = os.listdir(nsexec.NETNS_RUN_DIR)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if n.startswith((self.naming.ns_prefix, self.host_prefix)))


def _ip(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=30)


def _ns_links(ns: str) -> list[str]:
    out = _ip("-n", ns, "-o", "link", "show").stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def cleanup(env: Env) -> list[str]:
    """Remove everything this session created; return what could not be removed.

    Deliberately uses plain ``ip`` rather than the plumber under test, so a plumber bug cannot leave
    debris behind."""
    problems: list[str] = []
    for paths in env.lb_paths:
        try:
            env.haproxy.stop(paths)
        except Exception as e:  # keep cleaning
            problems.append(f"stop {paths.lb_id}: {e}")
    for pid in env.echo_pids:
        echo.stop(pid)
    for ns in env.ours_ns():
        kill_namespace_processes(ns)
        for link in _ns_links(ns):
            if link != "lo":
                _ip("-n", ns, "link", "delete", "dev", link)
        r = _ip("netns", "delete", ns)
        if r.returncode != 0:
            problems.append(f"ip netns delete {ns}: {r.stderr.strip()}")
    # VLAN subinterfaces, then bridges, then veths (deleting one end of a veth removes both)
    def order(n: str) -> int:
        return 0 if "." in n else 1 if n.startswith(("lbtb", "lbtc")) else 2

    for name in sorted((n for n in root_links() if our_link(n)), key=order):
        if os.path.exists(f"/sys/class/net/{name}"):
            _ip("link", "delete", "dev", name)
    left = env.ours_ns() + [n for n in root_links() if our_link(n)]
    return problems + [f"left over: {n}" for n in left]


@pytest.fixture
def env() -> Iterator[Env]:
    state = Path(tempfile.mkdtemp(prefix=f"lbt{TOKEN}", dir="/tmp"))
    e = Env(
        naming=Naming(
            ns_prefix=f"qlbaas-t{TOKEN}-", vip_prefix="lbtv", tap_prefix="lbtt", bridge_prefix="lbtb",
            tagger_prefix="lbtg",
        ),
        host_prefix=f"lbh-t{TOKEN}-",
        state_dir=state,
        haproxy=MasterWorkerHaproxy(),
    )
    try:
        yield e
    finally:
        problems = cleanup(e)
        shutil.rmtree(state, ignore_errors=True)
        assert not problems, problems


# -- traffic helpers -----------------------------------------------------------------------------


def http_get(ns: str, host: str, port: int = 80, path: str = "/", timeout: float = 3.0) -> dict[str, object]:
    """One GET on a new connection, made from inside namespace ``ns``; returns the echo JSON."""

    def call() -> dict[str, object]:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {body[:200]!r}")
            return dict(json.loads(body))
        finally:
            conn.close()

    return nsexec.run_in_netns(ns, call, timeout=timeout + 5)


def tcp_exchange(ns: str, host: str, port: int, payload: bytes, timeout: float = 3.0) -> bytes:
    def call() -> bytes:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out

    return nsexec.run_in_netns(ns, call, timeout=timeout + 5)


def pid_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except FileNotFoundError:
        return True
    return data[data.rindex(")") + 2 :].split()[0] in ("Z", "X")


def wait_until(pred: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


