"""The agent's boundary to host networking: a small ``Plumber`` protocol, its value types and naming.

Why a protocol: the reconciler decides *what* should exist (a namespace per LB, a bridge per network,
a veth per VIP port) and must be unit-testable without root. ``pyroute2_plumber.Pyroute2Plumber`` is the
only implementation touching the kernel (and the only module allowed to import pyroute2, see
``.importlinter``); ``fake.FakePlumber`` keeps the same state in memory.

Every verb is idempotent (``ensure_*``/``remove_*``): the agent converges by calling them again after a
crash or restart, and a second call on a converged host changes nothing.

Naming. Linux interface names are limited to IFNAMSIZ-1 = 15 characters, so names carry a short prefix
plus the first 11 hex digits of the (dash-less) Neutron id, like neutron's linuxbridge agent:

* namespace of a load balancer: ``qlbaas-<lb_id>`` (a file under /run/netns, no length limit);
* VIP interface inside the LB namespace: ``lbv-<port11>``;
* host end of the veth pair, in the root namespace: ``tap<port11>``;
* bridge per network, in the root namespace: ``brq<net11>``;
* VLAN subinterface of a physical interface: ``<phys>.<vid>``, or ``v<hash9>.<vid>`` when that is longer
  than 15 characters (kernels with 8021q);
* VLAN tagger veth pair of a network, in the root namespace: ``vt<net10>a`` (a bridge port) and
  ``vt<net10>b`` (eBPF pushes/pops the tag there; kernels without 8021q, see ``bpf_vlan``).

The prefixes are a ``Naming`` value so tests (and several agents sharing one kernel) can own disjoint
name spaces.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from lbaas.domain.spec import VipSpec

IFNAMSIZ = 16
MAX_IFNAME = IFNAMSIZ - 1
ID_CHARS = 11

NS_PREFIX = "qlbaas-"
VIP_IF_PREFIX = "lbv-"
TAP_PREFIX = "tap"
BRIDGE_PREFIX = "brq"
TAGGER_PREFIX = "vt"
TAGGER_ID_CHARS = 10  # + one suffix character (a/b)

NETWORK_TYPES = ("flat", "vlan")


class PlumbingError(RuntimeError):
    """The host cannot be brought to the requested state (missing bridge, foreign interface, ...)."""


def short_id(some_id: str, n: int = ID_CHARS) -> str:
    """The first ``n`` characters of an id without dashes (uuid ``1234abcd-...`` -> ``1234abcd...``)."""
    s = some_id.replace("-", "")
    if not s:
        raise ValueError("empty id")
    return s[:n]


def check_ifname(name: str) -> str:
    """Return ``name`` if the kernel would accept it as an interface name, else raise ValueError."""
    if not name or len(name) > MAX_IFNAME:
        raise ValueError(f"interface name {name!r} must be 1..{MAX_IFNAME} characters")
    if "/" in name or any(c.isspace() for c in name) or name in (".", ".."):
        raise ValueError(f"interface name {name!r} contains a forbidden character")
    return name


@dataclass(frozen=True)
class Naming:
    """Name prefixes; each interface prefix must leave room for ``ID_CHARS`` id characters."""

    ns_prefix: str = NS_PREFIX
    vip_prefix: str = VIP_IF_PREFIX
    tap_prefix: str = TAP_PREFIX
    bridge_prefix: str = BRIDGE_PREFIX
    tagger_prefix: str = TAGGER_PREFIX

    def __post_init__(self) -> None:
        for p in (self.vip_prefix, self.tap_prefix, self.bridge_prefix, self.tagger_prefix):
            if not p or len(p) + ID_CHARS > MAX_IFNAME:
                raise ValueError(f"interface prefix {p!r} must be 1..{MAX_IFNAME - ID_CHARS} characters")
        if not self.ns_prefix or "/" in self.ns_prefix:
            raise ValueError(f"bad namespace prefix {self.ns_prefix!r}")

    def ns_name(self, lb_id: str) -> str:
        return self.ns_prefix + lb_id

    def vip_ifname(self, port_id: str) -> str:
        return check_ifname(self.vip_prefix + short_id(port_id))

    def tap_ifname(self, port_id: str) -> str:
        return check_ifname(self.tap_prefix + short_id(port_id))

    def bridge_name(self, network_id: str) -> str:
        return check_ifname(self.bridge_prefix + short_id(network_id))

    def tagger_ifnames(self, network_id: str) -> tuple[str, str]:
        """The VLAN tagger veth pair of a network: (bridge end, wire end)."""
        stem = self.tagger_prefix + short_id(network_id, TAGGER_ID_CHARS)
        return check_ifname(stem + "a"), check_ifname(stem + "b")


DEFAULT_NAMING = Naming()


def ns_name(lb_id: str) -> str:
    """Namespace of a load balancer, ``qlbaas-<lb_id>``."""
    return DEFAULT_NAMING.ns_name(lb_id)


def vip_ifname(port_id: str) -> str:
    return DEFAULT_NAMING.vip_ifname(port_id)


def tap_ifname(port_id: str) -> str:
    return DEFAULT_NAMING.tap_ifname(port_id)


def bridge_name(network_id: str) -> str:
    return DEFAULT_NAMING.bridge_name(network_id)


def vlan_ifname(physical_interface: str, vlan_id: int) -> str:
    """``<phys>.<vid>`` when it fits IFNAMSIZ, else ``v<9 hex of sha1(phys)>.<vid>`` (stable, unique)."""
    if not 1 <= vlan_id <= 4094:
        raise ValueError(f"VLAN id {vlan_id} out of range 1..4094")
    check_ifname(physical_interface)
    name = f"{physical_interface}.{vlan_id}"
    if len(name) <= MAX_IFNAME:
        return name
    digest = hashlib.sha1(physical_interface.encode()).hexdigest()
    return check_ifname(f"v{digest[: MAX_IFNAME - 2 - len(str(vlan_id))]}.{vlan_id}")


@dataclass(frozen=True)
class HostRoute:
    destination: str  # CIDR
    nexthop: str


@dataclass(frozen=True)
class NetworkPlug:
    """What the host needs to know about a Neutron network to build its bridge."""

    network_id: str
    network_type: str = "flat"  # flat | vlan
    physical_network: str | None = None
    segmentation_id: int | None = None
    mtu: int = 1500

    def __post_init__(self) -> None:
        if self.network_type not in NETWORK_TYPES:
            raise ValueError(f"unsupported network_type {self.network_type!r}; expected {NETWORK_TYPES}")
        if self.network_type == "vlan":
            if self.segmentation_id is None or not 1 <= self.segmentation_id <= 4094:
                raise ValueError("a vlan network needs a segmentation_id in 1..4094")
            if not self.physical_network:
                raise ValueError("a vlan network needs a physical_network")
        if not 68 <= self.mtu <= 65535:
            raise ValueError(f"mtu {self.mtu} out of range")


@dataclass(frozen=True)
class PortPlug:
    """One Neutron port to plug into a namespace: fixed MAC, addresses, routes, and its network."""

    port_id: str
    mac_address: str
    addresses: Sequence[tuple[str, int]]  # (ip, prefixlen); stored as a tuple
    network: NetworkPlug
    mtu: int = 1500
    gateway_ip: str | None = None
    host_routes: Sequence[HostRoute] = field(default=())
    # Addresses someone else puts on the interface and takes off again (keepalived's VIP, on an instance
    # of an ACTIVE_STANDBY pair): the plumber neither adds nor removes them. Not in the repr, so the plug
    # digest of a port without any (every SINGLE LB) is what it always was (``lbaas.agent.plan.plug_digest``).
    foreign: Sequence[tuple[str, int]] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        mac = self.mac_address.lower()
        parts = mac.split(":")
        if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts):
            raise ValueError(f"bad MAC address {self.mac_address!r}")
        if int(parts[0], 16) & 1:
            raise ValueError(f"MAC address {self.mac_address!r} is multicast")
        object.__setattr__(self, "mac_address", mac)
        norm: list[tuple[str, int]] = []
        for ip, plen in self.addresses:
            iface = ipaddress.ip_interface(f"{ip}/{plen}")
            norm.append((str(iface.ip), iface.network.prefixlen))
        object.__setattr__(self, "addresses", tuple(norm))
        foreign: list[tuple[str, int]] = []
        for ip, plen in self.foreign:
            iface = ipaddress.ip_interface(f"{ip}/{plen}")
            foreign.append((str(iface.ip), iface.network.prefixlen))
        object.__setattr__(self, "foreign", tuple(foreign))
        object.__setattr__(self, "host_routes", tuple(self.host_routes))
        if self.gateway_ip is not None:
            object.__setattr__(self, "gateway_ip", str(ipaddress.ip_address(self.gateway_ip)))
        if not 68 <= self.mtu <= 65535:
            raise ValueError(f"mtu {self.mtu} out of range")

    @classmethod
    def from_vip(cls, vip: VipSpec) -> PortPlug:
        """The plug for a load balancer's VIP port, as the agent receives it in a ``LoadBalancerSpec``."""
        return cls(
            port_id=vip.port_id,
            mac_address=vip.mac_address,
            addresses=((vip.address, vip.prefixlen),),
            mtu=vip.mtu,
            gateway_ip=vip.gateway_ip,
            host_routes=tuple(HostRoute(r.destination, r.nexthop) for r in vip.host_routes),
            network=NetworkPlug(
                network_id=vip.network_id,
                network_type=vip.network_type,
                physical_network=vip.physical_network,
                segmentation_id=vip.segmentation_id,
                mtu=vip.mtu,
            ),
        )


@runtime_checkable
class Plumber(Protocol):
    """Host networking verbs; all idempotent. Namespaces are named ``<ns_prefix><lb_id>``."""

    naming: Naming

    def list_namespaces(self, prefix: str) -> list[str]:
        """Names under /run/netns starting with ``prefix``, sorted."""
        ...

    def ensure_namespace(self, ns: str, *, ipv6: bool = True) -> None:
        """Create the namespace (visible to ``ip netns``), bring ``lo`` up and apply LB sysctls."""
        ...

    def port_alive(self, ns: str, port: PortPlug) -> bool:
        """A cheap liveness test for a port converged before (no netlink, nothing entered): the namespace
        exists, and the host end of the VIP veth is up (so its peer is) and enslaved to the network's
        bridge. False means "not sure": the caller then runs the full ``ensure_*``."""
        ...

    def ensure_bridge(self, network: NetworkPlug, physical_interface_mappings: Mapping[str, str]) -> str:
        """A bridge for ``network`` in the root namespace (no IP, IPv6 off); returns its name.

        flat: the mapped physical interface is enslaved; vlan: ``<phys>.<vid>`` is created and
        enslaved, or, on a kernel without 8021q, the tagger veth pair (``Naming.tagger_ifnames``) whose
        eBPF programs tag/untag on the physical interface; an unmapped physical network gives a
        local-only bridge.
        """
        ...

    def ensure_port(self, ns: str, port: PortPlug) -> str:
        """Plug ``port`` into ``ns`` via a veth to its network's bridge; returns the in-ns interface name."""
        ...

    def addresses(self, ns: str, port: PortPlug) -> frozenset[str]:
        """The IP addresses now on ``port``'s interface in ``ns`` (netlink; empty if there is none): what
        an ACTIVE_STANDBY instance's VRRP state is measured from (the VIP is there on the MASTER only)."""
        ...

    def remove_port(self, port_id: str) -> None: ...

    def remove_namespace(self, ns: str) -> None:
        """Delete the namespace and the veths inside it. Processes are the caller's business."""
        ...

    def solicit(self, network: NetworkPlug, ips: Sequence[str]) -> None:
        """Ask on ``network``'s bridge who holds ``ips`` (ARP probes from a throwaway MAC). Sent after a
        VIP this host served was removed because another host now owns it: the owner's answer moves
        the VIP's MAC back to it in every switch's table, which our copy's traffic had pulled here."""
        ...

    def remove_bridge_if_unused(self, network: NetworkPlug) -> bool:
        """Delete the bridge (and its VLAN subinterface or tagger, with the tagger's entry on the physical
        interface) if no port uses it; True if it is gone."""
        ...
