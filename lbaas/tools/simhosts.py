"""Simulated data-plane hosts on one machine, for scale-out tests and the failover benchmark.

A *host* is a network namespace ``<prefix>-<name>`` plus its own pid and mount namespaces, whose
``/run/netns`` is a private tmpfs: an agent running inside creates its ``qlbaas-*`` namespaces (and its
bridges, taggers, HAProxy processes) where only that host sees them, exactly as on a separate machine.
Hosts are joined by an *underlay*: the bridge ``<prefix>u0`` in its own namespace ``<prefix>-underlay``;
each host has one interface on it, ``ul0`` (peer ``<prefix><name>u`` on the bridge), which is what the
agent's ``--physical-interface-mappings physnet1:ul0`` names. Tenant networks are VLANs on physnet1:
every host tags and untags for itself (this kernel has no 8021q, so through the agent's eBPF tagger),
and the underlay bridge just forwards tagged frames, like a switch trunk.

    <prefix>-underlay:  <prefix>u0 ── <prefix>h1u ─┬─ <prefix>h2u ── ... ── <prefix>tu
                                                   │
    <prefix>-h1 (+ pid/mount ns): ul0 [tc: vlan tagger] ── brq<net> ── tap ══ qlbaas-<lb>  (HAProxy)

The tenant's own instances (a client and members) live in one more host, usually ``t``: ``plug`` runs
the same Plumber there to make ``lbh-<name>`` namespaces on the VLAN and starts echo servers in them.

Agents reach the API and the broker through loopback forwarders: a listening socket made inside the
host's namespace on 127.0.0.1:<port>, relayed by threads of this process to 127.0.0.1:<port> of the
root namespace. No interface links a host to the root namespace, and nothing is routed.

*Killing* a host is what a power cut does: every process whose pid, mount or network namespace is the
host's is SIGKILLed by pid (found through ``/proc/<pid>/ns/*``), its forwarders close, its underlay
link is deleted and its namespace removed. Nothing is ever killed by name. A host can then be started
again under the same name (new namespaces; the caller keeps the agent's state directory).

``python -m lbaas.tools.simhosts init`` is the host's pid 1 (mounts the tmpfs, reaps orphans);
``python -m lbaas.tools.simhosts plug JSON`` makes a tenant instance inside a host.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lbaas
from lbaas.agent.haproxy.process import child_pids
from lbaas.agent.netns import nsexec

ROOT = Path(lbaas.__file__).resolve().parents[1]
UNDERLAY_IF = "ul0"
PHYSNET = "physnet1"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _ns_ident(pid: int, kind: str) -> tuple[int, int] | None:
    try:
        st = os.stat(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pids_in_namespaces(idents: dict[str, set[tuple[int, int]]]) -> list[int]:
    """Pids whose namespace of any kind in ``idents`` (``pid``, ``mnt``, ``net``) is one of the given."""
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        if any(_ns_ident(pid, kind) in ids for kind, ids in idents.items()):
            out.append(pid)
    return sorted(out)


# --------------------------------------------------------------------------------------- forwarders


class Forwarder:
    """127.0.0.1:<port> inside a namespace, relayed to 127.0.0.1:<port> of this process's namespace."""

    def __init__(self, ns: str, port: int) -> None:
        self.ns, self.port = ns, port
        self._closed = threading.Event()
        self._socks: set[socket.socket] = set()
        self._lock = threading.Lock()

        def make() -> socket.socket:
            lo = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            lo.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lo.bind(("127.0.0.1", port))
            lo.listen(64)
            return lo

        nsexec.run_in_netns(ns, lambda: subprocess.run(["ip", "link", "set", "lo", "up"], check=True))
        self.listener = nsexec.run_in_netns(ns, make)
        self._thread = threading.Thread(target=self._accept, name=f"fwd:{ns}:{port}", daemon=True)
        self._thread.start()

    def _track(self, s: socket.socket) -> None:
        with self._lock:
            self._socks.add(s)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                inner, _ = self.listener.accept()
            except OSError:
                return
            try:
                outer = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                outer.settimeout(None)
            except OSError as exc:
                print(f"forwarder {self.ns}:{self.port}: {exc!r}", file=sys.stderr, flush=True)
                inner.close()
                continue
            self._track(inner)
            self._track(outer)
            for a, b in ((inner, outer), (outer, inner)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self._lock:
            socks, self._socks = list(self._socks), set()
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


# --------------------------------------------------------------------------------------- hosts


@dataclass
class SimHost:
    topo: Topology
    name: str
    init: subprocess.Popen[bytes]
    init_pid: int  # pid 1 of the host's pid namespace, as the root namespace sees it
    forwarders: list[Forwarder] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    cut_ports: list[int] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ns(self) -> str:
        return self.topo.host_ns(self.name)

    @property
    def uplink(self) -> str:
        return self.topo.uplink(self.name)

    def enter_argv(self, argv: list[str]) -> list[str]:
        """Run ``argv`` inside the host: its mount, network and pid namespaces (nsenter forks)."""
        return ["nsenter", "-t", str(self.init_pid), "-m", "-n", "-p", "--", *argv]

    def popen(self, argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(self.enter_argv(argv), **kw)
        self.procs.append(proc)
        return proc

    def run(self, argv: list[str], timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.enter_argv(argv), capture_output=True, text=True, timeout=timeout, check=check)

    def inner_ns_path(self, ns: str) -> str:
        """The path of a namespace made inside this host (seen from the root mount namespace)."""
        nsexec.netns_path(ns)
        return f"/proc/{self.init_pid}/root/run/netns/{ns}"

    def in_inner_ns_argv(self, ns: str, argv: list[str]) -> list[str]:
        """``argv`` in namespace ``ns`` of this host (network namespace only; nsenter execs in place)."""
        return ["nsenter", f"--net={self.inner_ns_path(ns)}", "--", *argv]

    def inner_namespaces(self, prefix: str = "") -> list[str]:
        try:
            return sorted(n for n in os.listdir(f"/proc/{self.init_pid}/root/run/netns") if n.startswith(prefix))
        except OSError:
            return []

    def forward(self, port: int) -> None:
        self.forwarders.append(Forwarder(self.ns, port))

    def cut_management(self, ports: tuple[int, ...] | None = None) -> None:
        """Partition: close the forwarders of ``ports`` (default all) and their connections; the
        underlay (data plane) is untouched. ``restore_management`` reopens them."""
        keep = []
        for f in self.forwarders:
            if ports is None or f.port in ports:
                f.close()
                self.cut_ports.append(f.port)
            else:
                keep.append(f)
        self.forwarders = keep

    def restore_management(self, ports: tuple[int, ...] | None = None) -> None:
        for port in [p for p in self.cut_ports if ports is None or p in ports]:
            self.cut_ports.remove(port)
            self.forward(port)

    def idents(self) -> dict[str, set[tuple[int, int]]]:
        out: dict[str, set[tuple[int, int]]] = {"pid": set(), "mnt": set(), "net": set()}
        for kind in out:
            ident = _ns_ident(self.init_pid, kind)
            if ident is not None:
                out[kind].add(ident)
        with contextlib.suppress(FileNotFoundError):
            out["net"].add(nsexec.netns_identity(self.ns))
        return out

    def kill(self, idents: dict[str, set[tuple[int, int]]] | None = None) -> list[int]:
        """Power cut: SIGKILL every process of the host (by namespace, by pid), cut its forwarders and
        its underlay link, remove its namespace. Returns the pids killed."""
        idents = idents or self.idents()
        t0 = time.monotonic()
        # pid 1 first: the kernel then SIGKILLs everything else in the host's pid namespace at once
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.init_pid, signal.SIGKILL)
        killed = set(pids_in_namespaces(idents)) | {self.init_pid}
        for pid in killed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.timings["signalled"] = time.monotonic() - t0
        for f in self.forwarders:
            f.close()
        self.forwarders.clear()
        _ip("-n", self.topo.underlay_ns, "link", "del", self.uplink, check=False)
        _ip("netns", "del", self.ns, check=False)
        self.timings["unplugged"] = time.monotonic() - t0
        for proc in [self.init, *self.procs]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self.procs.clear()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_ns_ident(p, "pid") is not None for p in killed):
            time.sleep(0.02)
        self.timings["gone"] = time.monotonic() - t0
        return sorted(killed)


class Topology:
    """The underlay and the hosts of one test run; ``close()`` removes everything it made."""

    def __init__(self, prefix: str = "lbs") -> None:
        if not prefix.isalnum() or len(prefix) > 6:
            raise ValueError("prefix: up to 6 letters or digits")
        self.prefix = prefix
        self.hosts: dict[str, SimHost] = {}
        self.last_kill: dict[str, float] = {}  # seconds from the first SIGKILL: signalled, unplugged, gone
        self.underlay_ns = f"{prefix}-underlay"
        self.bridge = f"{prefix}u0"

    def host_ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def uplink(self, name: str) -> str:
        ifname = f"{self.prefix}{name}u"
        if len(ifname) > 15:
            raise ValueError(f"interface name {ifname} too long")
        return ifname

    def start(self) -> Topology:
        self.cleanup_leftovers()
        _ip("netns", "add", self.underlay_ns)
        u = ["-n", self.underlay_ns]
        _ip(*u, "link", "set", "lo", "up")
        _ip(*u, "link", "add", self.bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        nsexec.run_in_netns(self.underlay_ns, lambda: nsexec.write_sysctl_path(
            f"/proc/sys/net/ipv6/conf/{self.bridge}/disable_ipv6", 1))
        _ip(*u, "link", "set", self.bridge, "up")
        return self

    def add_host(self, name: str, *, forward_ports: tuple[int, ...] = ()) -> SimHost:
        """Create host ``name`` (namespaces, underlay link, pid 1); again after ``kill_host`` too."""
        if name in self.hosts:
            raise ValueError(f"host {name} exists")
        ns, up = self.host_ns(name), self.uplink(name)
        _ip("netns", "add", ns)
        _ip("-n", self.underlay_ns, "link", "add", up, "type", "veth", "peer", "name", UNDERLAY_IF, "netns", ns)
        nsexec.run_in_netns(self.underlay_ns, lambda: nsexec.write_sysctl_path(
            f"/proc/sys/net/ipv6/conf/{up}/disable_ipv6", 1))
        _ip("-n", self.underlay_ns, "link", "set", up, "master", self.bridge, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        init = subprocess.Popen(
            ["ip", "netns", "exec", ns, "unshare", "--pid", "--fork", "--mount-proc", "--propagation", "private",
             sys.executable, "-m", "lbaas.tools.simhosts", "init"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env, cwd="/",
            start_new_session=True,
        )  # fmt: skip
        assert init.stdout is not None
        ready, _, _ = select.select([init.stdout], [], [], 30)
        line = init.stdout.readline() if ready else b""
        kids = child_pids(init.pid)
        if line.strip() != b"ready" or len(kids) != 1:
            init.kill()
            init.wait()
            raise RuntimeError(f"host {name} did not start: {line!r}")
        host = SimHost(self, name, init, kids[0])
        self.hosts[name] = host
        for port in forward_ports:
            host.forward(port)
        return host

    def kill_hosts(self, *names: str) -> list[int]:
        """Several hosts at the same instant (one power cut): every pid 1 first, then the cleanup."""
        idents = {name: self.hosts[name].idents() for name in names}  # read before pid 1 is gone
        for name in names:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.hosts[name].init_pid, signal.SIGKILL)
        return sorted(pid for name in names for pid in self.kill_host(name, idents[name]))

    def kill_host(self, name: str, idents: dict[str, set[tuple[int, int]]] | None = None) -> list[int]:
        host = self.hosts.pop(name)
        pids = host.kill(idents)
        self.last_kill = dict(host.timings)
        return pids

    def plug(self, host: str, spec: dict[str, Any]) -> None:
        """Make a tenant instance inside ``host`` (see ``_plug``)."""
        self.hosts[host].run([sys.executable, "-m", "lbaas.tools.simhosts", "plug", json.dumps(spec)], timeout=120)

    def close(self) -> None:
        for name in list(self.hosts):
            self.kill_host(name)
        self.cleanup_leftovers()

    def cleanup_leftovers(self) -> None:
        """Remove what an interrupted run of this prefix left (namespaces ``<prefix>-*`` only)."""
        out = _ip("netns", "list", check=False).stdout
        names = [line.split()[0] for line in out.splitlines() if line.strip()]
        for ns in names:
            if ns.startswith(f"{self.prefix}-") and ns != self.underlay_ns:
                try:
                    ident = nsexec.netns_identity(ns)
                except FileNotFoundError:
                    continue
                for pid in pids_in_namespaces({"net": {ident}}):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                _ip("netns", "del", ns, check=False)
        if self.underlay_ns in names:
            _ip("netns", "del", self.underlay_ns, check=False)


# --------------------------------------------------------------------------------------- inside a host


def port_spec(name: str, port: dict[str, Any], subnet: dict[str, Any], network: dict[str, Any],
              serve: int | None = 80) -> dict[str, Any]:
    """What ``plug`` needs, from the API's port, subnet and network."""
    import ipaddress

    return {
        "name": name,
        "port_id": port["id"],
        "mac": port["mac_address"],
        "ip": port["fixed_ips"][0]["ip_address"],
        "prefixlen": ipaddress.ip_network(subnet["cidr"]).prefixlen,
        "network": {
            "id": network["id"],
            "type": network.get("provider:network_type") or "flat",
            "physnet": network.get("provider:physical_network"),
            "vid": network.get("provider:segmentation_id"),
            "mtu": network.get("mtu") or 1500,
        },
        "serve": serve,
    }


def _plug(spec: dict[str, Any]) -> None:
    from lbaas.agent import echo
    from lbaas.agent.hosts import ensure_host, host_ns
    from lbaas.agent.netns.base import NetworkPlug, PortPlug
    from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber

    n = spec["network"]
    network = NetworkPlug(network_id=n["id"], network_type=n["type"], physical_network=n["physnet"],
                          segmentation_id=n["vid"], mtu=n["mtu"])
    plug = PortPlug(port_id=spec["port_id"], mac_address=spec["mac"], addresses=[(spec["ip"], spec["prefixlen"])],
                    mtu=n["mtu"], gateway_ip=None, host_routes=[], network=network)
    plumber = Pyroute2Plumber(neigh_gc_thresh=None)
    plumber.ensure_bridge(network, {PHYSNET: UNDERLAY_IF})
    ensure_host(spec["name"], plug, plumber)
    if spec.get("serve"):
        echo.serve_in_namespace(host_ns(spec["name"]), spec["name"], port=int(spec["serve"]))


def _init() -> None:
    """pid 1 of a host: private /run/netns, then reap every orphan until killed."""
    os.makedirs("/run/netns", exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=755", "lbs-netns", "/run/netns"], check=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: os._exit(0))
    print("ready", flush=True)
    sys.stdout.close()
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m lbaas.tools.simhosts")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("init")
    p = sub.add_parser("plug")
    p.add_argument("spec")
    args = ap.parse_args()
    if args.cmd == "init":
        _init()
    else:
        _plug(json.loads(args.spec))


if __name__ == "__main__":
    main()
