"""The pyroute2 plumber against the real kernel: namespaces, bridges (local, flat, VLAN), ports."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from pyroute2 import IPRoute

from lbaas.agent import echo
from lbaas.agent.hosts import ensure_host
from lbaas.agent.netns import nsexec, vlan_tagger
from lbaas.agent.netns.base import Naming, PlumbingError
from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber
from tests.integration.conftest import TOKEN, Env, http_get, our_link, root_links

pytestmark = pytest.mark.netns


def plumber(env: Env) -> Pyroute2Plumber:
    # neigh_gc_thresh=None: the ARP table limits are host-global; tests do not change the host.
    return Pyroute2Plumber(env.naming, neigh_gc_thresh=None)


def ns_state(ns: str) -> dict[str, Any]:
    """Everything about a namespace's links, addresses and routes, with kernel ids (to see re-creation)."""

    def read() -> dict[str, Any]:
        with IPRoute() as ipr:
            links = sorted((x["index"], x.get("ifname"), x.get("address"), x.get("mtu"), x.get("state"))
                           for x in ipr.get_links())
            addrs = sorted((a["index"], a.get("address"), a["prefixlen"]) for a in ipr.get_addr())
            routes = sorted((r["family"], str(r.get("dst")), r["dst_len"], str(r.get("gateway")), r["proto"])
                            for r in ipr.get_routes(table=254))
        sysctls = {k: nsexec.read_sysctl(k) for k in (
            "net.ipv4.ip_nonlocal_bind", "net.ipv6.ip_nonlocal_bind", "net.ipv4.ip_forward",
            "net.ipv6.conf.all.disable_ipv6", "net.ipv4.tcp_tw_reuse")}
        return {"links": links, "addrs": addrs, "routes": routes, "sysctls": sysctls}

    return nsexec.run_in_netns(ns, read)


def root_state(names: list[str]) -> list[tuple[Any, ...]]:
    with IPRoute() as ipr:
        out = []
        for n in names:
            link = ipr.link("get", ifname=n)[0]
            out.append((n, link["index"], link.get("master"), link.get("mtu"), link.get("state")))
        return out


def root_sysctl_v6_disabled(name: str) -> str:
    with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6") as f:
        return f.read().strip()


def root_addresses(name: str) -> list[str]:
    with IPRoute() as ipr:
        idx = ipr.link("get", ifname=name)[0]["index"]
        return [a.get("address") for a in ipr.get_addr(index=idx)]


@pytest.fixture
def phys(env: Env) -> Iterator[tuple[str, str]]:
    """A fake physical link between two 'hypervisors': a veth pair of our own, no IPv6, up."""
    a, b = f"lbtp{TOKEN}a", f"lbtp{TOKEN}b"
    subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
    for n in (a, b):
        with open(f"/proc/sys/net/ipv6/conf/{n}/disable_ipv6", "w") as f:
            f.write("1\n")
        subprocess.run(["ip", "link", "set", n, "up"], check=True)
    yield a, b  # removed by the env cleanup (name carries the token)


def test_namespace_is_visible_configured_and_idempotent(env: Env) -> None:
    p = plumber(env)
    ns = env.naming.ns_name(env.new_id())
    p.ensure_namespace(ns)
    first = ns_state(ns)
    p.ensure_namespace(ns)
    assert ns_state(ns) == first
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert ns in listed
    assert p.list_namespaces(env.naming.ns_prefix) == [ns]
    assert first["sysctls"] == {
        "net.ipv4.ip_nonlocal_bind": "1", "net.ipv6.ip_nonlocal_bind": "1", "net.ipv4.ip_forward": "0",
        "net.ipv6.conf.all.disable_ipv6": "0", "net.ipv4.tcp_tw_reuse": "1",
    }
    assert [x[1:] for x in first["links"]] == [("lo", "00:00:00:00:00:00", 65536, "up")]
    p.remove_namespace(ns)
    p.remove_namespace(ns)
    assert p.list_namespaces(env.naming.ns_prefix) == []


def test_port_plug_is_complete_and_idempotent(env: Env) -> None:
    p = plumber(env)
    net = env.network(mtu=1450)
    port = env.port(net, "10.231.1.10", gateway_ip="10.231.1.1")
    port = type(port)(**{**port.__dict__, "addresses": (("10.231.1.10", 24), ("fd00:231:1::10", 64)),
                         "host_routes": ()})
    ns = env.naming.ns_name(env.new_id())
    t0 = time.perf_counter()
    br = p.ensure_bridge(net, {})
    p.ensure_namespace(ns)
    vif = p.ensure_port(ns, port)
    plug_ms = (time.perf_counter() - t0) * 1000
    tap = env.naming.tap_ifname(port.port_id)
    assert vif == env.naming.vip_ifname(port.port_id) and len(vif) <= 15 and len(tap) <= 15

    # the kernel adds the port's IPv6 link-local address (and its fe80::/64 route) on its own, a moment
    # after the link came up: the snapshot to compare against is taken once it is there
    deadline = time.monotonic() + 10
    while True:
        first_ns = ns_state(ns)
        if any(str(a[1]).startswith("fe80:") for a in first_ns["addrs"]) and any(
            r[1] == "fe80::" for r in first_ns["routes"]
        ):
            break
        assert time.monotonic() < deadline, f"no IPv6 link-local address on {vif}: {first_ns}"
        time.sleep(0.02)
    first_root = root_state([br, tap])
    t0 = time.perf_counter()
    assert p.ensure_bridge(net, {}) == br
    p.ensure_namespace(ns)
    assert p.ensure_port(ns, port) == vif
    again_ms = (time.perf_counter() - t0) * 1000
    assert ns_state(ns) == first_ns, "second ensure_* changed the namespace"
    assert root_state([br, tap]) == first_root, "second ensure_* changed the root namespace"
    print(f"\nplug (bridge+ns+port) {plug_ms:.1f} ms; converged re-ensure {again_ms:.1f} ms")

    links = {x[1]: x for x in first_ns["links"]}
    assert links[vif][2] == port.mac_address and links[vif][3] == 1450 and links[vif][4] == "up"
    addrs = {(a[1], a[2]) for a in first_ns["addrs"]}
    assert {("10.231.1.10", 24), ("fd00:231:1::10", 64)} <= addrs
    assert (2, "None", 0, "10.231.1.1", 4) in first_ns["routes"]  # default route, proto static
    # root side: tap in the bridge, no IPv6, bridge has no address at all
    (_, br_idx, _, br_mtu, _), (_, _, tap_master, tap_mtu, tap_state) = first_root
    assert tap_master == br_idx and tap_mtu == 1450 and tap_state == "up" and br_mtu == 1450
    assert root_sysctl_v6_disabled(br) == "1" and root_sysctl_v6_disabled(tap) == "1"
    assert root_addresses(br) == []


def test_port_reconciles_drift(env: Env) -> None:
    """Extra addresses/routes are removed, missing ones restored, a changed MAC is put back."""
    p = plumber(env)
    net = env.network()
    port = env.port(net, "10.231.2.10", gateway_ip="10.231.2.1")
    ns = env.naming.ns_name(env.new_id())
    p.ensure_bridge(net, {})
    p.ensure_namespace(ns)
    vif = p.ensure_port(ns, port)
    want = ns_state(ns)
    subprocess.run(["ip", "-n", ns, "addr", "add", "10.231.2.99/24", "dev", vif], check=True)
    subprocess.run(["ip", "-n", ns, "route", "del", "default"], check=True)
    subprocess.run(["ip", "-n", ns, "route", "add", "10.231.9.0/24", "via", "10.231.2.2", "proto", "static"],
                   check=True)
    p.ensure_port(ns, port)
    assert ns_state(ns) == want


def test_garp_refreshes_a_stale_neighbour(env: Env) -> None:
    p = plumber(env)
    net = env.network()
    p.ensure_bridge(net, {})
    hport = env.port(net, "10.231.3.20")
    hns = ensure_host(f"{TOKEN}n", hport, p, prefix=env.host_prefix)
    hvif = env.naming.vip_ifname(hport.port_id)
    subprocess.run(["ip", "-n", hns, "neigh", "replace", "10.231.3.10", "lladdr", "02:00:00:00:00:99",
                    "dev", hvif, "nud", "stale"], check=True)
    port = env.port(net, "10.231.3.10")
    ns = env.naming.ns_name(env.new_id())
    p.ensure_namespace(ns)
    p.ensure_port(ns, port)

    def neigh() -> str:
        return subprocess.run(["ip", "-n", hns, "neigh", "show", "10.231.3.10"], capture_output=True,
                              text=True).stdout

    deadline = time.monotonic() + 2
    while port.mac_address not in neigh() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert port.mac_address in neigh()


@pytest.mark.parametrize("network_type", ["flat", "vlan"])
def test_physical_network_end_to_end(env: Env, phys: tuple[str, str], network_type: str) -> None:
    """Two 'hypervisors' (two plumbers with disjoint prefixes) joined by a fake physical link: the LB on
    one, a member on the other; the member answers through the VLAN (or flat) uplink and sees the VIP."""
    a, b = phys
    net = env.network(network_type=network_type, physical_network="physnet-t",
                      segmentation_id=231 if network_type == "vlan" else None)
    p1 = plumber(env)
    p2 = Pyroute2Plumber(Naming(ns_prefix=env.naming.ns_prefix, vip_prefix="lbtw", tap_prefix="lbtu",
                                bridge_prefix="lbtc", tagger_prefix="lbth"), neigh_gc_thresh=None)
    try:
        br1 = p1.ensure_bridge(net, {"physnet-t": a})
    except PlumbingError as e:
        if "802.1Q" not in str(e):
            raise
        pytest.skip(str(e))  # the plumber said so clearly; nothing more to test on this kernel
    br2 = p2.ensure_bridge(net, {"physnet-t": b})
    assert br1 != br2
    assert p1.ensure_bridge(net, {"physnet-t": a}) == br1  # idempotent with an uplink
    # VLAN uplink: an 8021q subinterface, or (kernel without 8021q) the eBPF tagger's bridge end
    ebpf = network_type == "vlan" and not os.path.exists(f"/sys/class/net/{a}.231")
    tagger_a, tagger_b = p1.naming.tagger_ifnames(net.network_id)
    uplink1 = (tagger_a if ebpf else f"{a}.231") if network_type == "vlan" else a
    with open(f"/sys/class/net/{uplink1}/master/ifindex") as f, open(f"/sys/class/net/{br1}/ifindex") as g:
        assert f.read() == g.read()
    if network_type == "vlan" and not ebpf:
        assert all(our_link(n) for n in (f"{a}.231", f"{b}.231"))
        with open(f"/proc/net/vlan/{a}.231") as f:
            assert "VID: 231" in f.read()
    elif ebpf:  # VID 231 on the wire end a is delivered to the tagger's wire end, which tags toward a
        assert all(our_link(n) for n in (tagger_a, tagger_b, *p2.naming.tagger_ifnames(net.network_id)))
        with IPRoute() as ipr, open(f"/sys/class/net/{tagger_b}/ifindex") as f:
            assert vlan_tagger.rx_entries(ipr, ipr.link_lookup(ifname=a)[0]) == {231: int(f.read())}
            tx_filters = vlan_tagger.ingress_filters(ipr, ipr.link_lookup(ifname=tagger_b)[0])
            assert [x.name for x in tx_filters] == [vlan_tagger.TX_NAME]

    member = env.port(net, "10.231.4.21")
    hns = ensure_host(f"{TOKEN}m", member, p2, prefix=env.host_prefix)
    env.echo_pids.append(echo.serve_in_namespace(hns, "member-b"))
    vip = env.port(net, "10.231.4.10")
    ns = env.naming.ns_name(env.new_id())
    p1.ensure_namespace(ns)
    p1.ensure_port(ns, vip)

    def tx(name: str) -> int:
        with open(f"/sys/class/net/{name}/statistics/tx_packets") as f:
            return int(f.read())

    before, wire_before = tx(uplink1), tx(a)
    answer = http_get(ns, "10.231.4.21")
    assert answer["host"] == "member-b" and answer["peer"] == "10.231.4.10"
    assert tx(uplink1) > before and tx(a) > wire_before

    # a member on another VLAN of the same wire is not reachable
    if network_type == "vlan":
        other = env.network(network_type="vlan", physical_network="physnet-t", segmentation_id=232)
        p2.ensure_bridge(other, {"physnet-t": b})
        stranger = env.port(other, "10.231.4.22")
        sns = ensure_host(f"{TOKEN}s", stranger, p2, prefix=env.host_prefix)
        env.echo_pids.append(echo.serve_in_namespace(sns, "stranger"))
        with pytest.raises(OSError):
            http_get(ns, "10.231.4.22", timeout=0.5)


def test_remove_port_and_unused_bridge(env: Env, phys: tuple[str, str]) -> None:
    a, _ = phys
    p = plumber(env)
    net = env.network(network_type="vlan", physical_network="physnet-t", segmentation_id=231)
    flat = env.network(network_type="flat", physical_network="physnet-f")
    try:
        br = p.ensure_bridge(net, {"physnet-t": a})
        vlan_ok = True
    except PlumbingError as e:
        assert "802.1Q" in str(e)
        br, vlan_ok = p.ensure_bridge(net, {}), False  # local-only bridge stands in
    fbr = p.ensure_bridge(flat, {"physnet-f": a})
    port = env.port(net, "10.231.5.10")
    ns = env.naming.ns_name(env.new_id())
    p.ensure_namespace(ns)
    p.ensure_port(ns, port)
    assert p.remove_bridge_if_unused(net) is False
    p.remove_port(port.port_id)
    p.remove_port(port.port_id)
    assert env.naming.tap_ifname(port.port_id) not in root_links()
    assert [x[1] for x in ns_state(ns)["links"]] == ["lo"]
    assert p.remove_bridge_if_unused(net) is True
    assert br not in root_links() and f"{a}.231" not in root_links()
    assert not set(p.naming.tagger_ifnames(net.network_id)) & set(root_links())
    with IPRoute() as ipr:  # no eBPF tagger filter left on the wire end
        assert vlan_tagger.ingress_filters(ipr, ipr.link_lookup(ifname=a)[0]) == []
    assert vlan_ok or not os.path.exists("/proc/net/vlan")
    assert p.remove_bridge_if_unused(flat) is True
    assert fbr not in root_links() and a in root_links()  # a flat uplink is released, never deleted
    with open(f"/sys/class/net/{a}/operstate") as f:
        assert f.read().strip() in ("up", "lowerlayerdown", "unknown")
    assert not os.path.exists(f"/sys/class/net/{a}/master")
    p.remove_namespace(ns)


def test_remove_namespace_takes_veths_even_with_a_process_inside(env: Env) -> None:
    p = plumber(env)
    net = env.network()
    p.ensure_bridge(net, {})
    port = env.port(net, "10.231.6.21")
    hns = ensure_host(f"{TOKEN}p", port, p, prefix=env.host_prefix)
    pid = echo.serve_in_namespace(hns, "lingering")
    env.echo_pids.append(pid)
    p.remove_namespace(hns)
    assert hns not in p.list_namespaces(env.host_prefix)
    assert env.naming.tap_ifname(port.port_id) not in root_links()
    assert p.remove_bridge_if_unused(net) is True
    echo.stop(pid)


def test_errors_are_explicit(env: Env) -> None:
    p = plumber(env)
    net = env.network(network_type="vlan", physical_network="physnet-t", segmentation_id=231)
    with pytest.raises(PlumbingError):
        p.ensure_bridge(net, {"physnet-t": f"lbtp{TOKEN}x"})  # no such interface
    port = env.port(env.network(), "10.231.7.10")
    ns = env.naming.ns_name(env.new_id())
    p.ensure_namespace(ns)
    with pytest.raises(PlumbingError):
        p.ensure_port(ns, port)  # no bridge
    with pytest.raises(PlumbingError):
        p.ensure_port(env.naming.ns_name("missing"), port)


def test_foreign_addresses_are_left_to_their_owner(env: Env) -> None:
    """An instance of an ACTIVE_STANDBY pair: keepalived adds and removes the VIP (v4 and v6) on the
    instance's interface; a full pass of the plumber neither removes nor adds it, and ``addresses`` sees it."""
    p = plumber(env)
    net = env.network()
    port = env.port(net, "10.231.9.11", gateway_ip="10.231.9.1")
    port = replace(port, addresses=(("10.231.9.11", 24), ("fd00:231:9::11", 64)),
                   foreign=(("10.231.9.10", 24), ("fd00:231:9::10", 64)))
    ns = env.naming.ns_name(env.new_id())
    p.ensure_namespace(ns)
    p.ensure_bridge(net, {})
    vif = p.ensure_port(ns, port)
    assert p.addresses(ns, port) >= {"10.231.9.11", "fd00:231:9::11"}
    assert not p.addresses(ns, port) & {"10.231.9.10", "fd00:231:9::10"}  # not added by the plumber
    for vip in ("10.231.9.10/24", "fd00:231:9::10/64"):
        subprocess.run(["ip", "-n", ns, "addr", "add", vip, "dev", vif], check=True)  # as keepalived does
    p.ensure_port(ns, port)
    assert p.addresses(ns, port) >= {"10.231.9.10", "fd00:231:9::10", "10.231.9.11"}  # not removed either
    routes = subprocess.run(["ip", "-n", ns, "route", "show", "default"], capture_output=True, text=True).stdout
    assert "via 10.231.9.1" in routes
    stray = replace(port, foreign=())
    p.ensure_port(ns, stray)  # without the foreign list, the same addresses are the plumber's to remove
    assert not p.addresses(ns, port) & {"10.231.9.10", "fd00:231:9::10"}
    p.remove_namespace(ns)
    assert p.addresses(ns, port) == frozenset()
