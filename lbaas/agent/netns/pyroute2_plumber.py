"""The real ``Plumber``: netlink through pyroute2 (with its tc helper ``vlan_tagger``, the only modules
allowed to import it).

Layout on a host (one-arm mode)::

    root namespace                               qlbaas-<lb_id>
    <phys> or <phys>.<vid> ─┐
                            brq<net11> ── tap<port11> ══veth══ lbv-<port11>  (fixed MAC, VIP, routes)

VLAN networks on a kernel without 8021q (``vlan_mode`` "auto" finds out at the first VLAN network,
"ebpf" forces it)::

    <phys> [tc ingress: lbaas_vlan_rx, map vid -> vt<net10>b]
       ▲ push vid + redirect          │ pop + redirect
    vt<net10>b [tc ingress: lbaas_vlan_tx] ══veth══ vt<net10>a ── brq<net11>

The wire end ``vt<net10>b`` carries the alias ``lbaas vlan <vid> on <phys>``, which is how removal finds
the map entry to delete without the physical interface mappings. The physical interface is put in
promiscuous mode (as enslaving ``<phys>.<vid>`` to a bridge would); we never turn that off.

Choices, and why:

* Namespaces are bind-mounted under /run/netns like ``ip netns add`` does, so they are visible to
  ``ip netns`` (the operator CLI and ``ip netns exec`` rely on it). ``nsexec.create_netns`` makes them
  from a short-lived thread (unshare is per thread) and sets lo and the sysctls in the same thread;
  ``pyroute2.netns.create`` forks the whole agent for it (≈ 60 ms quiet, 150+ ms under load, measured).
* The veth is created with its peer directly inside the namespace, with the port's fixed MAC and MTU:
  no transient interface ever appears in the root namespace under the in-namespace name.
* Bridges and everything attached to them in the root namespace get ``disable_ipv6=1`` *before* they go
  up, so the host never has a link-local address (nor sends RS/MLD) on a tenant network.
* Addresses are added with IFA_F_NODAD and the namespace has ``accept_dad=0``: an IPv6 VIP is usable
  at once instead of after DAD (the VIP's uniqueness is Neutron's job). That covers the VIP keepalived adds
  on an ACTIVE_STANDBY takeover too (it would otherwise sit tentative for a DAD round, ~1 s, while the old
  MASTER's copy is already gone). A port's ``foreign`` addresses (that VIP) are neither added nor removed.
* Gratuitous ARP is sent by us (``garp``) once the host end is *forwarding* in the bridge, whenever the
  VIP link came up, changed MAC or gained an address. The kernel's own ``arp_notify`` fires at link up,
  1-4 ms before linkwatch puts the bridge port in forwarding, so it is lost (measured: a neighbour's
  stale entry kept the old MAC). A second ``ensure_port`` on a converged port sends nothing.
* In-namespace netlink work runs in a thread that setns()-ed into the namespace with a plain IPRoute
  (2-3 ms); pyroute2's ``NetNS`` forks a helper and costs about 10 ms per open (measured).
* The ARP/ND table (``net.ipv4.neigh.default.gc_thresh*``) is *global*: the kernel does not even
  expose those sysctls inside a child namespace (measured: ENOENT). Raising them is therefore a root
  namespace, raise-only action, done once per plumber, and can be turned off (tests do).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pyroute2 import IPRoute, NetlinkError, netns

from lbaas.agent.netns import garp, nsexec, vlan_tagger
from lbaas.agent.netns.base import (
    DEFAULT_NAMING,
    Naming,
    NetworkPlug,
    PlumbingError,
    PortPlug,
    vlan_ifname,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

IFA_F_NODAD = 0x02
RTPROT_KERNEL = 2
RTPROT_BOOT = 3
RTPROT_STATIC = 4
MAIN_TABLE = 254
BR_STATE_FORWARDING = 3
IFF_PROMISC = 0x100
VLAN_MODES = ("auto", "8021q", "ebpf")
TAGGER_ALIAS = "lbaas vlan {vid} on {phys}"
# The agent reconciles several LBs at once; VLAN networks on one physical interface share its RX map
# (and the filter is deleted with the map's last entry), so tagger changes are serialised per process.
_TAGGER_LOCK = threading.RLock()

# Inside every LB namespace. One-arm LB: it never forwards, it binds VIPs that may not be configured yet
# (nonlocal bind: the BACKUP of an ACTIVE_STANDBY pair runs HAProxy bound to a VIP that keepalived adds only
# on takeover; the per-namespace sysctl rather than a per-bind ``transparent``/``freebind`` keeps every
# rendered config, SINGLE ones included, as it is, and covers the ``peers`` and any later bind too), and it opens many backend connections from a single source
# address (wide ephemeral range, TIME_WAIT reuse for outgoing connections).
LB_SYSCTLS: dict[str, str] = {
    "net.ipv4.ip_forward": "0",
    "net.ipv4.ip_nonlocal_bind": "1",
    "net.ipv4.conf.all.arp_ignore": "1",
    "net.ipv4.conf.all.arp_announce": "2",
    "net.ipv4.conf.default.arp_notify": "1",
    "net.ipv4.ip_local_port_range": "1024\t65000",
    "net.ipv4.tcp_tw_reuse": "1",
    "net.core.somaxconn": "65535",
}
LB_SYSCTLS_V6: dict[str, str] = {
    "net.ipv6.ip_nonlocal_bind": "1",
    "net.ipv6.conf.all.forwarding": "0",
    "net.ipv6.conf.all.accept_ra": "0",
    "net.ipv6.conf.default.accept_ra": "0",
    "net.ipv6.conf.default.autoconf": "0",
    "net.ipv6.conf.all.accept_dad": "0",
    "net.ipv6.conf.default.accept_dad": "0",
    "net.ipv6.conf.default.ndisc_notify": "1",
}
DEFAULT_GC_THRESH = (1024, 4096, 8192)


def _apply_sysctls(values: Mapping[str, str]) -> None:
    for name, value in values.items():
        nsexec.write_sysctl(name, value)


def _disable_ipv6(ifname: str) -> None:
    """Root namespace; a missing conf dir means IPv6 is absent, which is what we want anyway."""
    try:
        nsexec.write_sysctl_path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6", 1)
    except FileNotFoundError:
        pass


def _kind(link: Any) -> str | None:
    kind = link.get(("linkinfo", "kind"))
    return str(kind) if kind is not None else None


def _vlan_id(link: Any) -> int | None:
    data = link.get(("linkinfo", "data"))
    if data is None:
        return None
    vid = data.get("IFLA_VLAN_ID")
    return int(vid) if vid is not None else None


def _parse_tagger_alias(alias: object) -> tuple[int, str] | None:
    parts = str(alias or "").split()
    if len(parts) == 5 and parts[:2] == ["lbaas", "vlan"] and parts[3] == "on" and parts[2].isdigit():
        return int(parts[2]), parts[4]
    return None


class _No8021q(Exception):
    pass


class Pyroute2Plumber:
    def __init__(self, naming: Naming = DEFAULT_NAMING, *,
                 neigh_gc_thresh: tuple[int, int, int] | None = DEFAULT_GC_THRESH,
                 send_garp: bool = True, vlan_mode: str = "auto") -> None:
        if vlan_mode not in VLAN_MODES:
            raise ValueError(f"vlan_mode {vlan_mode!r}; expected one of {VLAN_MODES}")
        self.naming = naming
        self._gc_thresh = neigh_gc_thresh
        self._gc_done = False
        self._send_garp = send_garp
        self.vlan_mode = vlan_mode
        # auto: None until the first VLAN network tells us whether the kernel has 8021q
        self._has_8021q: bool | None = {"auto": None, "8021q": True, "ebpf": False}[vlan_mode]

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _one(ipr: Any, ifname: str) -> Any | None:
        """The link called ``ifname`` (one RTM_GETLINK by name, no dump), or None."""
        try:
            links = ipr.link("get", ifname=ifname)
        except NetlinkError as e:
            if e.code in (errno.ENODEV, errno.ENOENT):
                return None
            raise
        return links[0] if links else None

    @staticmethod
    def _in_ns(ns: str, fn: Callable[[Any], T]) -> T:
        """Run ``fn(ipr)`` with an IPRoute whose socket lives in ``ns``.

        The socket is opened by a thread that has setns()-ed into the namespace (2-3 ms); pyroute2's own
        ``NetNS``/``IPRoute(netns=...)`` fork a helper and cost about 10 ms each (measured)."""
        if not nsexec.netns_exists(ns):
            raise PlumbingError(f"namespace {ns} does not exist")

        def call() -> T:
            with IPRoute() as ipr:
                return fn(ipr)

        return nsexec.run_in_netns(ns, call)

    def _raise_gc_thresh(self) -> None:
        if self._gc_thresh is None or self._gc_done:
            return
        for i, value in enumerate(self._gc_thresh, start=1):
            try:
                nsexec.raise_sysctl(f"net.ipv4.neigh.default.gc_thresh{i}", value)
                nsexec.raise_sysctl(f"net.ipv6.neigh.default.gc_thresh{i}", value)
            except FileNotFoundError:
                pass
        self._gc_done = True

    # -- namespaces ------------------------------------------------------------------------------

    def list_namespaces(self, prefix: str) -> list[str]:
        try:
            names = os.listdir(nsexec.NETNS_RUN_DIR)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if n.startswith(prefix))

    def ensure_namespace(self, ns: str, *, ipv6: bool = True) -> None:
        nsexec.netns_path(ns)  # validate
        self._raise_gc_thresh()
        v6 = "0" if ipv6 else "1"
        values = dict(LB_SYSCTLS)
        values["net.ipv6.conf.all.disable_ipv6"] = v6
        values["net.ipv6.conf.default.disable_ipv6"] = v6
        if ipv6:
            values.update(LB_SYSCTLS_V6)

        def inside(ipr: Any) -> None:
            lo = self._one(ipr, "lo")
            if lo is not None and lo.get("state") != "up":
                ipr.link("set", index=lo["index"], state="up")
            _apply_sysctls(values)

        if not nsexec.netns_exists(ns):
            def fresh() -> None:  # runs in the new namespace, in the thread that made it
                with IPRoute() as ipr:
                    inside(ipr)

            try:
                nsexec.create_netns(ns, fresh)
                return
            except FileExistsError:
                pass  # made meanwhile: configure it below like any existing one
        self._in_ns(ns, inside)

    def remove_namespace(self, ns: str) -> None:
        if not nsexec.netns_exists(ns):
            return

        # Delete our veths first: a process still holding the namespace would otherwise keep them (and
        # their host ends in the bridge) alive after the unmount.
        def inside(ipr: Any) -> None:
            for link in ipr.get_links():
                if link.get("ifname") != "lo":
                    try:
                        ipr.link("del", index=link["index"])
                    except NetlinkError as e:
                        if e.code != errno.ENODEV:
                            raise

        self._in_ns(ns, inside)
        try:
            netns.remove(ns)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise

    # -- bridges ---------------------------------------------------------------------------------

    def ensure_bridge(self, network: NetworkPlug, physical_interface_mappings: Mapping[str, str]) -> str:
        br = self.naming.bridge_name(network.network_id)
        phys = physical_interface_mappings.get(network.physical_network or "")
        with IPRoute() as ipr:
            bridge = self._one(ipr, br)
            if bridge is None:
                try:
                    ipr.link("add", ifname=br, kind="bridge", br_stp_state=0, br_forward_delay=0,
                             mtu=network.mtu)
                except NetlinkError as e:
                    if e.code != errno.EEXIST:
                        raise
                bridge = self._one(ipr, br)
                assert bridge is not None
            elif _kind(bridge) != "bridge":
                raise PlumbingError(f"{br} exists and is not a bridge")
            _disable_ipv6(br)
            if bridge.get("state") != "up":
                ipr.link("set", index=bridge["index"], state="up")
            if phys is None:
                return br  # local-only bridge
            uplink = self._ensure_uplink(ipr, network, phys)
            if uplink.get("master") != bridge["index"]:
                if uplink.get("master"):
                    raise PlumbingError(f"{uplink.get('ifname')} is already enslaved to another master")
                ipr.link("set", index=uplink["index"], master=bridge["index"])
            if uplink.get("state") != "up":
                ipr.link("set", index=uplink["index"], state="up")
        return br

    def _ensure_uplink(self, ipr: Any, network: NetworkPlug, phys: str) -> Any:
        parent = self._one(ipr, phys)
        if parent is None:
            raise PlumbingError(f"physical interface {phys} (physnet {network.physical_network}) not found")
        if parent.get("state") != "up":
            ipr.link("set", index=parent["index"], state="up")
        if network.network_type == "flat":
            return parent
        if self._has_8021q is not False:
            try:
                sub = self._ensure_vlan_subinterface(ipr, network, phys, parent)
            except _No8021q as e:
                if self.vlan_mode == "8021q":
                    raise PlumbingError(str(e)) from None
                log.info("%s; VLAN networks use the eBPF tagger", e)
                self._has_8021q = False
            else:
                self._has_8021q = True
                self._remove_tagger(ipr, network)  # left by an earlier kernel without 8021q
                return sub
        return self._ensure_tagger(ipr, network, phys, parent)

    def _ensure_vlan_subinterface(self, ipr: Any, network: NetworkPlug, phys: str, parent: Any) -> Any:
        assert network.segmentation_id is not None
        name = vlan_ifname(phys, network.segmentation_id)
        sub = self._one(ipr, name)
        if sub is None:
            try:
                ipr.link("add", ifname=name, kind="vlan", link=parent["index"],
                         vlan_id=network.segmentation_id)
            except NetlinkError as e:
                if e.code == errno.EOPNOTSUPP:
                    raise _No8021q(f"cannot create {name}: this kernel has no 802.1Q VLAN support "
                                   "(CONFIG_VLAN_8021Q)") from e
                if e.code != errno.EEXIST:
                    raise
            sub = self._one(ipr, name)
            assert sub is not None
        elif (_kind(sub), _vlan_id(sub), sub.get("link")) != (
            "vlan", network.segmentation_id, parent["index"]
        ):
            raise PlumbingError(f"{name} exists and is not VLAN {network.segmentation_id} on {phys}")
        _disable_ipv6(name)
        return sub

    def _ensure_tagger(self, ipr: Any, network: NetworkPlug, phys: str, parent: Any) -> Any:
        """The veth pair whose wire end pushes/pops the tag (see the module docstring); returns the
        bridge end. Converged state is recognised without changing anything."""
        with _TAGGER_LOCK:
            return self._ensure_tagger_locked(ipr, network, phys, parent)

    def _ensure_tagger_locked(self, ipr: Any, network: NetworkPlug, phys: str, parent: Any) -> Any:
        vid = network.segmentation_id
        assert vid is not None
        a_name, b_name = self.naming.tagger_ifnames(network.network_id)
        a, b = self._one(ipr, a_name), self._one(ipr, b_name)
        if a is None or b is None or _kind(a) != "veth" or a.get("link") != b["index"]:
            if a is not None or b is not None:
                self._remove_tagger(ipr, network)
            try:
                ipr.link("add", ifname=a_name, kind="veth", mtu=network.mtu,
                         peer={"ifname": b_name, "mtu": network.mtu})
            except NetlinkError as e:
                raise PlumbingError(f"cannot create the VLAN tagger pair {a_name}/{b_name}: {e}") from e
            a, b = self._one(ipr, a_name), self._one(ipr, b_name)
            if a is None or b is None:
                raise PlumbingError(f"veth {a_name}/{b_name} vanished after creation")
            _disable_ipv6(a_name)
            _disable_ipv6(b_name)
        alias = TAGGER_ALIAS.format(vid=vid, phys=phys)
        if b.get("ifalias") != alias:
            self._drop_rx_entry(ipr, b)  # it may point at another interface or VLAN
            ipr.link("set", index=b["index"], ifalias=alias)
        for end in (a, b):
            if end.get("mtu") != network.mtu:
                ipr.link("set", index=end["index"], mtu=network.mtu)
        if b.get("state") != "up":
            ipr.link("set", index=b["index"], state="up")
        if not int(parent.get("flags", 0)) & IFF_PROMISC:
            # a real NIC filters unicast MACs; the bridge's ports have their own (8021q does the same)
            ipr.link("set", index=parent["index"], flags=IFF_PROMISC, change=IFF_PROMISC)

        def alive(ifindex: int) -> bool:
            """Another tagger still claims this VLAN (not a stale entry, nor a reused ifindex)."""
            try:
                links = ipr.link("get", index=ifindex)
            except NetlinkError:
                return False
            return bool(links) and _parse_tagger_alias(links[0].get("ifalias")) == (vid, phys)

        try:
            vlan_tagger.ensure_tx(ipr, b["index"], vid, parent["index"])
            vlan_tagger.ensure_rx_entry(ipr, parent["index"], vid, b["index"], alive=alive)
        except (OSError, NetlinkError) as e:  # BpfError is an OSError
            raise PlumbingError(f"VLAN {vid} on {phys} via eBPF: {e}") from e
        # forced on a kernel with 8021q: a subinterface of ours left by "auto" would be a second uplink
        old = self._one(ipr, vlan_ifname(phys, vid)) if self.vlan_mode == "ebpf" else None
        if old is not None and (_kind(old), _vlan_id(old), old.get("link")) == ("vlan", vid, parent["index"]):
            ipr.link("del", index=old["index"])
        return a

    def _drop_rx_entry(self, ipr: Any, wire_end: Any) -> None:
        """Remove the RX map entry that delivers to ``wire_end`` (found through its alias)."""
        parsed = _parse_tagger_alias(wire_end.get("ifalias"))
        if parsed is None:
            return
        vid, phys = parsed
        parent = self._one(ipr, phys)
        if parent is not None:
            vlan_tagger.remove_rx_entry(ipr, parent["index"], vid, wire_end["index"])

    def _remove_tagger(self, ipr: Any, network: NetworkPlug) -> bool:
        a_name, b_name = self.naming.tagger_ifnames(network.network_id)
        with _TAGGER_LOCK:
            b = self._one(ipr, b_name)
            if b is not None:
                self._drop_rx_entry(ipr, b)
            gone = False
            for name in (a_name, b_name):
                if self._one(ipr, name) is not None:
                    self._del_if_present(ipr, name)
                    gone = True
            return gone

    def solicit(self, network: NetworkPlug, ips: Sequence[str]) -> None:
        v4 = [ip for ip in ips if ipaddress.ip_address(ip).version == 4]
        br = self.naming.bridge_name(network.network_id)
        if not v4 or not nsexec.link_exists(br):
            return
        mac = "02:" + ":".join(f"{b:02x}" for b in os.urandom(5))  # locally administered, never reused
        try:
            # a few times over ~0.1 s: the bridge and its uplink are released right after this, and a
            # single frame still queued on them could be lost with them
            for pause in (0.0, 0.02, 0.08):
                time.sleep(pause)
                garp.send_probes(br, mac, v4)
        except OSError as e:
            log.warning("could not send ARP probes on %s: %s", br, e)

    def remove_bridge_if_unused(self, network: NetworkPlug) -> bool:
        """Unused means: no enslaved interface carries this plumber's tap prefix. The uplink is released
        (a VLAN subinterface is deleted, the tagger pair too with its entry in the physical interface's
        RX map, a flat physical interface only leaves the bridge)."""
        br = self.naming.bridge_name(network.network_id)
        # The bridge's ports from sysfs first (one directory read): a netlink dump filtered by master is
        # filtered in Python after decoding every link on the host, seconds per teardown with thousands
        # of LBs, and most teardowns leave other LBs on the bridge.
        try:
            names: list[str] | None = os.listdir(os.path.join(self.sysfs_net, br, "brif"))
        except OSError:
            names = None  # no such bridge, or no sysfs: netlink decides below
        if names is not None and any(n.startswith(self.naming.tap_prefix) for n in names):
            return False
        with IPRoute() as ipr:
            bridge = self._one(ipr, br)
            if bridge is None:
                if network.network_type == "vlan":
                    self._remove_tagger(ipr, network)  # half-built by an interrupted ensure_bridge
                return True
            if names is not None:
                ports = [link for n in names if (link := self._one(ipr, n)) is not None]
            else:
                ports = ipr.get_links(master=bridge["index"])
            if any(str(p.get("ifname", "")).startswith(self.naming.tap_prefix) for p in ports):
                return False
            if network.network_type == "vlan":
                self._remove_tagger(ipr, network)
            tagger = set(self.naming.tagger_ifnames(network.network_id))
            for p in ports:
                if p.get("ifname") in tagger:
                    continue
                if _kind(p) == "vlan" and _vlan_id(p) == network.segmentation_id:
                    ipr.link("del", index=p["index"])
                else:
                    ipr.link("set", index=p["index"], master=0)
            try:
                ipr.link("del", index=bridge["index"])
            except NetlinkError as e:
                if e.code != errno.ENODEV:
                    raise
        return True

    # -- ports -----------------------------------------------------------------------------------

    sysfs_net = "/sys/class/net"  # the root namespace's links (sysfs is tagged with the mounter's netns)

    def port_alive(self, ns: str, port: PortPlug) -> bool:
        """sysfs reads only (about 20 µs): the resync of thousands of converged LBs must not enter each
        namespace or dump links. A veth's operstate is ``up`` only when both ends are up, so the peer is
        checked too; what it carries inside the namespace is trusted from the last full pass."""
        if not nsexec.netns_exists(ns):
            return False
        tap = os.path.join(self.sysfs_net, self.naming.tap_ifname(port.port_id))
        br = self.naming.bridge_name(port.network.network_id)
        try:
            with open(os.path.join(tap, "operstate")) as f:
                if f.read().strip() != "up":
                    return False
            if os.path.basename(os.readlink(os.path.join(tap, "master"))) != br:
                return False
            with open(os.path.join(self.sysfs_net, br, "flags")) as f:
                return bool(int(f.read(), 16) & 1)  # IFF_UP
        except (OSError, ValueError):
            return False

    def ensure_port(self, ns: str, port: PortPlug) -> str:
        tap = self.naming.tap_ifname(port.port_id)
        vif = self.naming.vip_ifname(port.port_id)
        br = self.naming.bridge_name(port.network.network_id)
        if not nsexec.netns_exists(ns):
            raise PlumbingError(f"namespace {ns} does not exist")
        with IPRoute() as ipr:
            bridge = self._one(ipr, br)
            if bridge is None:
                raise PlumbingError(f"bridge {br} for network {port.network.network_id} does not exist")
            host = self._one(ipr, tap)
            announce = self._configure_inner(ns, vif, port, host["index"] if host else None)
            if announce is None:  # no pair, half a pair, or the pair of another namespace: rebuild it
                if host is not None:
                    ipr.link("del", index=host["index"])
                self._in_ns(ns, lambda nsr: self._del_if_present(nsr, vif))
                ipr.link("add", ifname=tap, kind="veth", mtu=port.mtu,
                         peer={"ifname": vif, "net_ns_fd": ns, "address": port.mac_address, "mtu": port.mtu})
                host = self._one(ipr, tap)
                if host is None:
                    raise PlumbingError(f"veth {tap} vanished after creation")
                _disable_ipv6(tap)
            assert host is not None
            if host.get("mtu") != port.mtu:
                ipr.link("set", index=host["index"], mtu=port.mtu)
            if host.get("master") != bridge["index"]:
                ipr.link("set", index=host["index"], master=bridge["index"])
            if host.get("state") != "up":
                ipr.link("set", index=host["index"], state="up")
            if announce is None:
                announce = self._configure_inner(ns, vif, port, host["index"])
                if announce is None:
                    raise PlumbingError(f"{vif} in {ns} is not the peer of {tap} after creation")
            v4 = [ip for ip, _ in port.addresses if ipaddress.ip_address(ip).version == 4]
            if announce and self._send_garp and v4:
                # The kernel's own arp_notify fires at link up, a few ms before the bridge port is
                # forwarding (linkwatch is asynchronous), so it is lost: wait for forwarding, then announce.
                self._wait_forwarding(ipr, tap)
                nsexec.run_in_netns(ns, lambda: garp.send_garp(vif, port.mac_address, v4))
        return vif

    @staticmethod
    def _del_if_present(ipr: Any, ifname: str) -> None:
        try:
            ipr.link("del", ifname=ifname)
        except NetlinkError as e:
            if e.code not in (errno.ENODEV, errno.ENOENT):
                raise

    def _wait_forwarding(self, ipr: Any, tap: str, timeout: float = 2.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            link = self._one(ipr, tap)
            if link is not None and link.get("operstate") == "UP":
                slave = link.get(("linkinfo", "slave_data"))
                if slave is not None and slave.get("IFLA_BRPORT_STATE") == BR_STATE_FORWARDING:
                    return
            time.sleep(0.001)
        log.warning("bridge port %s not forwarding after %.1fs; announcing anyway", tap, timeout)

    def _configure_inner(self, ns: str, vif: str, port: PortPlug, tap_index: int | None) -> bool | None:
        """Converge the in-namespace end. None if it is not the peer of ``tap_index``; else whether the
        neighbours must be told (the link went up, its MAC changed or an address was added)."""

        def inside(nsr: Any) -> bool | None:
            inner = self._one(nsr, vif)
            if inner is None or tap_index is None or inner.get("link") != tap_index:
                return None
            idx = inner["index"]
            announce = inner.get("state") != "up"
            if str(inner.get("address")).lower() != port.mac_address:
                nsr.link("set", index=idx, state="down")
                nsr.link("set", index=idx, address=port.mac_address)
                announce = True
            if inner.get("mtu") != port.mtu:
                nsr.link("set", index=idx, mtu=port.mtu)
            if self._sync_addresses(nsr, idx, port):
                announce = True
            if announce:
                nsr.link("set", index=idx, state="up")
            self._sync_routes(nsr, idx, port)
            return announce

        return self._in_ns(ns, inside)

    @staticmethod
    def _sync_addresses(nsr: Any, idx: int, port: PortPlug) -> bool:
        want = {(ipaddress.ip_address(ip), plen) for ip, plen in port.addresses}
        foreign = {ipaddress.ip_address(ip) for ip, _ in port.foreign}  # keepalived's: not ours to touch
        have = set()
        for a in nsr.get_addr(index=idx):
            ip = ipaddress.ip_address(a.get("address"))
            if (ip.is_link_local and ip.version == 6) or ip in foreign:
                continue
            key = (ip, int(a["prefixlen"]))
            if key in want:
                have.add(key)
            else:
                nsr.addr("del", index=idx, address=str(ip), prefixlen=key[1])
        missing = sorted(want - have, key=lambda k: (k[0].version, str(k[0])))
        for ip, plen in missing:
            flags = IFA_F_NODAD if ip.version == 6 else 0
            nsr.addr("add", index=idx, address=str(ip), prefixlen=plen, flags=flags)
        return bool(missing)

    @staticmethod
    def _sync_routes(nsr: Any, idx: int, port: PortPlug) -> None:
        def family(version: int) -> int:
            return int(socket.AF_INET if version == 4 else socket.AF_INET6)

        want: dict[tuple[int, str], str] = {}  # (family, dst cidr) -> nexthop
        for r in port.host_routes:
            net = ipaddress.ip_network(r.destination, strict=False)
            want[(family(net.version), str(net))] = str(ipaddress.ip_address(r.nexthop))
        if port.gateway_ip:
            gateway = ipaddress.ip_address(port.gateway_ip)
            default = "0.0.0.0/0" if gateway.version == 4 else "::/0"
            want.setdefault((family(gateway.version), default), str(gateway))
        have: dict[tuple[int, str], str] = {}
        for fam in (family(4), family(6)):
            for r in nsr.get_routes(family=fam, oif=idx, table=MAIN_TABLE):
                if r["proto"] not in (RTPROT_BOOT, RTPROT_STATIC):
                    continue
                dst = r.get("dst") or ("0.0.0.0" if fam == family(4) else "::")
                key = (fam, str(ipaddress.ip_network(f"{dst}/{r['dst_len']}", strict=False)))
                nexthop = r.get("gateway")
                if key in want and nexthop is not None and str(ipaddress.ip_address(nexthop)) == want[key]:
                    have[key] = want[key]
                else:
                    nsr.route("del", family=fam, dst=key[1], oif=idx, table=MAIN_TABLE)
        for (fam, dst), nh in want.items():
            if (fam, dst) not in have:
                nsr.route("replace", family=fam, dst=dst, gateway=nh, oif=idx, table=MAIN_TABLE,
                          proto=RTPROT_STATIC)

    def addresses(self, ns: str, port: PortPlug) -> frozenset[str]:
        vif = self.naming.vip_ifname(port.port_id)
        if not nsexec.netns_exists(ns):
            return frozenset()

        def inside(nsr: Any) -> frozenset[str]:
            link = self._one(nsr, vif)
            if link is None:
                return frozenset()
            return frozenset(str(ipaddress.ip_address(a.get("address"))) for a in nsr.get_addr(index=link["index"]))

        return self._in_ns(ns, inside)

    def remove_port(self, port_id: str) -> None:
        tap = self.naming.tap_ifname(port_id)
        with IPRoute() as ipr:
            for i in ipr.link_lookup(ifname=tap):
                try:
                    ipr.link("del", index=i)
                except NetlinkError as e:
                    if e.code != errno.ENODEV:
                        raise
