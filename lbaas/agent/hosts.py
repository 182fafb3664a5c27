"""Test hosts: stand-ins for cloud instances (members, clients) on the same bridges as the LBs.

A host is just a namespace ``lbh-<name>`` plugged exactly like an LB port (fixed MAC, addresses, default
route via the subnet gateway if any) by the same ``Plumber``, so what works for a host works for a
VIP. The caller ensures the network's bridge first (``plumber.ensure_bridge``), as for an LB. Echo
servers (``lbaas.agent.echo``) run inside hosts; ``remove_host`` ends every process living in the
host's namespace (found by namespace identity, killed by pid) before deleting it, since a test host
owns everything inside it.
"""

from __future__ import annotations

import os
import signal
import time

from lbaas.agent.netns import nsexec
from lbaas.agent.netns.base import Plumber, PortPlug

HOST_PREFIX = "lbh-"


def host_ns(name: str, *, prefix: str = HOST_PREFIX) -> str:
    return prefix + name


def ensure_host(name: str, port: PortPlug, plumber: Plumber, *, prefix: str = HOST_PREFIX) -> str:
    """Create (or converge) host ``name`` with ``port``; returns its namespace name."""
    ns = host_ns(name, prefix=prefix)
    plumber.ensure_namespace(ns, ipv6=True)
    plumber.ensure_port(ns, port)
    return ns


def kill_namespace_processes(ns: str, timeout: float = 5.0) -> list[int]:
    """SIGTERM then SIGKILL every process in namespace ``ns`` (by pid); returns the pids found."""
    return _kill(nsexec.pids_in_netns(ns), timeout)


def kill_processes_in_namespaces(names: list[str], timeout: float = 5.0) -> list[int]:
    """``kill_namespace_processes`` for many namespaces with one pass over /proc (thousands of LBs)."""
    idents = set()
    for ns in names:
        try:
            idents.add(nsexec.netns_identity(ns))
        except FileNotFoundError:
            continue
    me = os.getpid()
    pids = [int(e) for e in os.listdir("/proc")
            if e.isdigit() and int(e) != me and nsexec.pid_netns_identity(int(e)) in idents]  # fmt: skip
    return _kill(sorted(pids), timeout)


def _kill(pids: list[int], timeout: float) -> list[int]:
    if not pids:
        return []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            if not any(_alive(p) for p in pids):
                return pids
            time.sleep(0.01)
    return pids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return data[data.rindex(")") + 2 :].split()[0] not in ("Z", "X")


def remove_host(name: str, plumber: Plumber, *, prefix: str = HOST_PREFIX) -> None:
    ns = host_ns(name, prefix=prefix)
    kill_namespace_processes(ns)
    plumber.remove_namespace(ns)
