"""Test hosts and the echo server: plugged like an LB port, reachable over IPv4 and IPv6, removable."""

from __future__ import annotations

import subprocess

import pytest

from lbaas.agent import echo
from lbaas.agent.hosts import ensure_host, kill_processes_in_namespaces, remove_host
from lbaas.agent.netns import nsexec
from lbaas.agent.netns.base import PortPlug
from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber
from tests.integration.conftest import TOKEN, Env, http_get, pid_gone, root_links

pytestmark = pytest.mark.netns


def test_hosts_echo_and_cleanup(env: Env) -> None:
    p = Pyroute2Plumber(env.naming, neigh_gc_thresh=None)
    net = env.network()
    p.ensure_bridge(net, {})
    a_port = env.port(net, "10.231.20.21", gateway_ip="10.231.20.1")
    a = ensure_host(f"{TOKEN}a", a_port, p, prefix=env.host_prefix)
    assert a == f"{env.host_prefix}{TOKEN}a"
    assert ensure_host(f"{TOKEN}a", a_port, p, prefix=env.host_prefix) == a  # idempotent
    b = ensure_host(f"{TOKEN}b", env.port(net, "10.231.20.22"), p, prefix=env.host_prefix)
    routes = subprocess.run(["ip", "-n", a, "route"], capture_output=True, text=True, check=True).stdout
    assert "default via 10.231.20.1" in routes

    pid = echo.serve_in_namespace(a, "alpha", port=8081)
    env.echo_pids.append(pid)
    assert nsexec.pids_in_netns(a) == [pid]
    answer = http_get(b, "10.231.20.21", 8081, path="/x?y=1")
    assert answer == {"host": "alpha", "peer": "10.231.20.22", "port": answer["port"], "path": "/x?y=1",
                      "headers": {}}
    echo.stop(pid)
    assert pid_gone(pid)
    with pytest.raises(OSError):
        http_get(b, "10.231.20.21", 8081, timeout=0.5)

    # a host process left running is ended by remove_host, with the namespace and the veth
    env.echo_pids.append(echo.serve_in_namespace(b, "beta"))
    remove_host(f"{TOKEN}b", p, prefix=env.host_prefix)
    remove_host(f"{TOKEN}b", p, prefix=env.host_prefix)
    assert b not in p.list_namespaces(env.host_prefix)
    assert env.naming.tap_ifname(a_port.port_id) in root_links()


def test_ipv6_host_is_usable_at_once(env: Env) -> None:
    """IFA_F_NODAD: no DAD wait before an IPv6 address answers."""
    p = Pyroute2Plumber(env.naming, neigh_gc_thresh=None)
    net = env.network()
    p.ensure_bridge(net, {})

    def port6(ip: str) -> PortPlug:
        base = env.port(net, "10.231.21.1")
        return PortPlug(port_id=base.port_id, mac_address=base.mac_address, addresses=[(ip, 64)], network=net)

    a = ensure_host(f"{TOKEN}6a", port6("fd00:231:21::21"), p, prefix=env.host_prefix)
    b = ensure_host(f"{TOKEN}6b", port6("fd00:231:21::22"), p, prefix=env.host_prefix)
    env.echo_pids.append(echo.serve_in_namespace(a, "six", bind="::"))
    answer = http_get(b, "fd00:231:21::21")
    assert answer["host"] == "six" and answer["peer"] == "fd00:231:21::22"
    argv = ["ip", "-n", a, "-6", "addr", "show", "tentative"]
    tentative = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert "fd00:231:21::21" not in tentative


def test_bulk_kill_stops_every_process_in_the_named_namespaces_only(env: Env) -> None:
    """``kill_processes_in_namespaces`` (one /proc pass, for thousands of LBs) kills by namespace, by pid."""
    p = Pyroute2Plumber(env.naming, neigh_gc_thresh=None)
    net = env.network()
    p.ensure_bridge(net, {})
    a = ensure_host(f"{TOKEN}ka", env.port(net, "10.231.20.31"), p, prefix=env.host_prefix)
    b = ensure_host(f"{TOKEN}kb", env.port(net, "10.231.20.32"), p, prefix=env.host_prefix)
    c = ensure_host(f"{TOKEN}kc", env.port(net, "10.231.20.33"), p, prefix=env.host_prefix)
    pids = {ns: echo.serve_in_namespace(ns, ns, port=8082) for ns in (a, b, c)}
    env.echo_pids.extend(pids.values())
    killed = kill_processes_in_namespaces([a, b, f"{env.host_prefix}{TOKEN}absent"])
    assert sorted(killed) == sorted([pids[a], pids[b]])
    assert pid_gone(pids[a]) and pid_gone(pids[b])
    assert nsexec.pids_in_netns(c) == [pids[c]]  # a namespace not named keeps its process
    for name in ("ka", "kb", "kc"):
        remove_host(f"{TOKEN}{name}", p, prefix=env.host_prefix)
    assert not {a, b, c} & set(env.ours_ns())
