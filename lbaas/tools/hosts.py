"""Test hosts: namespaces that stand in for the instances a cloud would boot, on our networks.

A host is a Neutron port (device_owner ``compute:lbaas-host``, name = host name) made real as a
namespace ``lbh-<name>`` with that port's MAC, address and default route, plugged into the network's
bridge exactly as an LB's VIP port is. ``serve`` starts the built-in HTTP echo server inside it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lbaas.agent import echo
from lbaas.agent.hosts import ensure_host, host_ns, remove_host
from lbaas.agent.netns.base import HostRoute, NetworkPlug, Plumber, PortPlug
from lbaas.tools.client import ApiError, Client

DEVICE_OWNER = "compute:lbaas-host"


@dataclass
class Host:
    name: str
    port: dict[str, Any]

    @property
    def ip(self) -> str:
        return str(self.port["fixed_ips"][0]["ip_address"])

    @property
    def ns(self) -> str:
        return host_ns(self.name)


class Hosts:
    def __init__(self, client: Client, plumber: Plumber, *, state_dir: Path, mappings: dict[str, str] | None = None):
        self.client = client
        self.plumber = plumber
        self.dir = state_dir / "hosts"
        self.mappings = mappings or {}

    def _pidfile(self, name: str) -> Path:
        return self.dir / f"{name}.echo.pid"

    def get(self, name: str) -> Host:
        ports = self.client.call("GET", f"/v2.0/ports?device_owner={DEVICE_OWNER}&name={name}")["ports"]
        if not ports:
            raise ApiError(f"host {name} not found")
        return Host(name, ports[0])

    def all(self) -> list[Host]:
        ports = self.client.call("GET", f"/v2.0/ports?device_owner={DEVICE_OWNER}")["ports"]
        return [Host(p["name"], p) for p in ports]

    def create(self, name: str, network: str, ip: str | None = None) -> Host:
        existing = self.client.call("GET", f"/v2.0/ports?device_owner={DEVICE_OWNER}&name={name}")["ports"]
        if existing:  # a second port would land in the same namespace, and delete would leak one
            raise ApiError(f"host {name} already exists ({existing[0]['fixed_ips'][0]['ip_address']})")
        net = self.client.find_network(network)
        body: dict[str, Any] = {
            "network_id": net["id"],
            "name": name,
            "device_owner": DEVICE_OWNER,
            "device_id": f"lbaas-host-{name}",
        }
        if ip:
            body["fixed_ips"] = [{"ip_address": ip}]
        port = self.client.call("POST", "/v2.0/ports", {"port": body})["port"]
        try:
            self._plug(net, port, name)
        except Exception:
            self.client.call("DELETE", f"/v2.0/ports/{port['id']}", ok=(404,))
            raise
        return Host(name, port)

    def _plug(self, net: dict[str, Any], port: dict[str, Any], name: str) -> None:
        fixed = port["fixed_ips"][0]
        subnet = self.client.subnet(fixed["subnet_id"])
        prefixlen = ipaddress.ip_network(subnet["cidr"]).prefixlen
        network = self._network(net)
        plug = PortPlug(
            port_id=port["id"],
            mac_address=port["mac_address"],
            addresses=[(fixed["ip_address"], prefixlen)],
            mtu=network.mtu,
            gateway_ip=subnet.get("gateway_ip"),
            host_routes=[HostRoute(r["destination"], r["nexthop"]) for r in subnet.get("host_routes") or []],
            network=network,
        )
        self.plumber.ensure_bridge(network, self.mappings)
        ensure_host(name, plug, self.plumber)

    @staticmethod
    def _network(net: dict[str, Any]) -> NetworkPlug:
        return NetworkPlug(
            network_id=net["id"],
            network_type=net.get("provider:network_type") or "flat",
            physical_network=net.get("provider:physical_network"),
            segmentation_id=net.get("provider:segmentation_id"),
            mtu=net.get("mtu") or 1500,
        )

    def serve(self, name: str, port: int = 80) -> int:
        host = self.get(name)
        self.stop_server(name)
        pid = echo.serve_in_namespace(host.ns, name, port=port)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._pidfile(name).write_text(str(pid))
        return pid

    def stop_server(self, name: str) -> None:
        pidfile = self._pidfile(name)
        if not pidfile.exists():
            return
        pid = int(pidfile.read_text())
        pidfile.unlink()
        echo.stop(pid)

    def delete(self, name: str) -> None:
        host = self.get(name)
        self.stop_server(name)
        remove_host(name, self.plumber)
        self.client.call("DELETE", f"/v2.0/ports/{host.port['id']}", ok=(404,))
        net = self.client.call("GET", f"/v2.0/networks/{host.port['network_id']}")["network"]
        self.plumber.remove_bridge_if_unused(self._network(net))

    def exec_argv(self, name: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", host_ns(name), *argv]
