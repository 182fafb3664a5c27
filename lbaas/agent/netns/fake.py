"""In-memory ``Plumber`` for unit tests of the reconciler (no root, no kernel).

It keeps the same state the real plumber leaves on a host, enforces the same preconditions (a port
needs its namespace and its network's bridge; a VLAN uplink needs a mapped physical interface), and
records every *changing* call in ``calls`` so tests can assert that a converged host sees no changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lbaas.agent.netns.base import DEFAULT_NAMING, Naming, NetworkPlug, PlumbingError, PortPlug, vlan_ifname


@dataclass
class FakeBridge:
    name: str
    network: NetworkPlug
    uplink: str | None = None  # physical interface or VLAN subinterface enslaved


@dataclass
class FakePort:
    ns: str
    port: PortPlug
    vif: str
    tap: str


@dataclass
class FakePlumber:
    naming: Naming = DEFAULT_NAMING
    physical_interfaces: set[str] = field(default_factory=set)  # what exists on the fake host
    namespaces: dict[str, bool] = field(default_factory=dict)  # name -> ipv6 enabled
    bridges: dict[str, FakeBridge] = field(default_factory=dict)
    ports: dict[str, FakePort] = field(default_factory=dict)  # by port id
    calls: list[tuple[str, str]] = field(default_factory=list)  # (verb, object) for changes only
    solicited: list[str] = field(default_factory=list)  # IPs asked for by ``solicit``
    held: dict[str, frozenset[str]] = field(default_factory=dict)  # port id → foreign addresses (a VRRP MASTER's VIP)

    def list_namespaces(self, prefix: str) -> list[str]:
        return sorted(n for n in self.namespaces if n.startswith(prefix))

    def ensure_namespace(self, ns: str, *, ipv6: bool = True) -> None:
        if self.namespaces.get(ns) != ipv6:
            self.namespaces[ns] = ipv6
            self.calls.append(("ensure_namespace", ns))

    def ensure_bridge(self, network: NetworkPlug, physical_interface_mappings: Mapping[str, str]) -> str:
        name = self.naming.bridge_name(network.network_id)
        phys = physical_interface_mappings.get(network.physical_network or "")
        uplink = None
        if phys is not None:
            if phys not in self.physical_interfaces:
                raise PlumbingError(f"physical interface {phys} not found")
            if network.network_type == "vlan":
                assert network.segmentation_id is not None
                uplink = vlan_ifname(phys, network.segmentation_id)
            else:
                uplink = phys
                for other in self.bridges.values():
                    if other.name != name and other.uplink == phys:
                        raise PlumbingError(f"{phys} is already enslaved to another master")
        current = self.bridges.get(name)
        if current is None or (uplink is not None and current.uplink != uplink):
            self.bridges[name] = FakeBridge(name, network, uplink or (current.uplink if current else None))
            self.calls.append(("ensure_bridge", name))
        return name

    def ensure_port(self, ns: str, port: PortPlug) -> str:
        if ns not in self.namespaces:
            raise PlumbingError(f"namespace {ns} does not exist")
        br = self.naming.bridge_name(port.network.network_id)
        if br not in self.bridges:
            raise PlumbingError(f"bridge {br} for network {port.network.network_id} does not exist")
        want = FakePort(ns, port, self.naming.vip_ifname(port.port_id), self.naming.tap_ifname(port.port_id))
        if self.ports.get(port.port_id) != want:
            self.ports[port.port_id] = want
            self.calls.append(("ensure_port", port.port_id))
        return want.vif

    def port_alive(self, ns: str, port: PortPlug) -> bool:
        fp = self.ports.get(port.port_id)
        return (fp is not None and fp.ns == ns and ns in self.namespaces
                and self.naming.bridge_name(port.network.network_id) in self.bridges)

    def addresses(self, ns: str, port: PortPlug) -> frozenset[str]:
        """The port's own addresses, plus those a test put there for keepalived (``held``)."""
        fp = self.ports.get(port.port_id)
        if fp is None or fp.ns != ns:
            return frozenset()
        return frozenset(ip for ip, _ in fp.port.addresses) | self.held.get(port.port_id, frozenset())

    def remove_port(self, port_id: str) -> None:
        if self.ports.pop(port_id, None) is not None:
            self.calls.append(("remove_port", port_id))

    def remove_namespace(self, ns: str) -> None:
        if ns not in self.namespaces:
            return
        for pid in [p for p, fp in self.ports.items() if fp.ns == ns]:
            del self.ports[pid]  # veths die with their namespace
        del self.namespaces[ns]
        self.calls.append(("remove_namespace", ns))

    def solicit(self, network: NetworkPlug, ips: Sequence[str]) -> None:
        self.calls.append(("solicit", self.naming.bridge_name(network.network_id)))
        self.solicited.extend(ips)

    def remove_bridge_if_unused(self, network: NetworkPlug) -> bool:
        name = self.naming.bridge_name(network.network_id)
        if name not in self.bridges:
            return True
        if any(self.naming.bridge_name(fp.port.network.network_id) == name for fp in self.ports.values()):
            return False
        del self.bridges[name]
        self.calls.append(("remove_bridge", name))
        return True
