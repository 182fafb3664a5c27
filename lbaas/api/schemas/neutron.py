"""Neutron v2.0 wire shapes for networks, subnets and ports.

Request bodies refuse unknown attributes (Neutron answers "Unrecognized attribute(s)" too) and take
the extension attributes only by their wire names (``provider:network_type``, ``binding:host_id``…),
which map onto plain column names. Responses are built from rows in Neutron's style: both
``project_id`` and ``tenant_id``, timestamps as ``YYYY-MM-DDTHH:MM:SSZ``, and the attributes of
features not served here (security groups, address pairs, DHCP options…) at their empty value.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from lbaas.api.schemas.common import Body, Cidr, IpAddr, Name, ProjectId, SafeStr, Uuid
from lbaas.db import models as m

_MAC = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")


def _mac(v: str) -> str:
    low = v.strip().lower()
    if not _MAC.match(low):
        raise ValueError("must be a MAC address like fa:16:3e:00:00:01")
    low = low.replace("-", ":")
    if low in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff") or int(low[:2], 16) & 1:
        raise ValueError("must be a unicast MAC address")
    return low


def _ip_version(v: int) -> int:
    if v not in (4, 6):
        raise ValueError("must be 4 or 6")
    return v


MacAddr = Annotated[str, AfterValidator(_mac)]
IpVersion = Annotated[int, AfterValidator(_ip_version)]
PhysNet = Annotated[SafeStr, StringConstraints(min_length=1, max_length=64)]
NeutronTag = Annotated[SafeStr, StringConstraints(min_length=1, max_length=60)]
Mtu = Annotated[int, Field(ge=68, le=9216)]


# --------------------------------------------------------------------------- networks


class NetworkCreate(Body):
    name: Name = ""
    description: Name = ""
    admin_state_up: bool = True
    shared: bool = False
    mtu: Mtu = 1500
    network_type: Literal["flat", "vlan"] = Field(default="flat", alias="provider:network_type")
    physical_network: PhysNet | None = Field(default=None, alias="provider:physical_network")
    segmentation_id: int | None = Field(default=None, ge=1, le=4094, alias="provider:segmentation_id")
    router_external: bool = Field(default=False, alias="router:external")
    port_security_enabled: bool = True
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None
    tags: list[NeutronTag] | None = None


class NetworkUpdate(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = None
    shared: bool | None = None
    mtu: Mtu | None = None


class NetworkRootCreate(Body):
    network: NetworkCreate


class NetworkRootUpdate(Body):
    network: NetworkUpdate


# --------------------------------------------------------------------------- subnets


class AllocationPool(Body):
    start: IpAddr
    end: IpAddr


class HostRoute(Body):
    destination: Cidr
    nexthop: IpAddr


class SubnetCreate(Body):
    network_id: Uuid
    name: Name = ""
    description: Name = ""
    ip_version: IpVersion | None = None
    cidr: Cidr
    gateway_ip: IpAddr | None = None  # absent: the first address; null: no gateway
    allocation_pools: list[AllocationPool] | None = None
    host_routes: list[HostRoute] = []
    dns_nameservers: list[IpAddr] = []
    enable_dhcp: bool = False  # stored and echoed only: nothing serves DHCP
    ipv6_ra_mode: None = None
    ipv6_address_mode: None = None
    subnetpool_id: None = None
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None
    tags: list[NeutronTag] | None = None


class SubnetUpdate(Body):
    name: Name | None = None
    description: Name | None = None
    gateway_ip: IpAddr | None = None
    allocation_pools: list[AllocationPool] | None = None
    host_routes: list[HostRoute] | None = None
    dns_nameservers: list[IpAddr] | None = None
    enable_dhcp: bool | None = None


class SubnetRootCreate(Body):
    subnet: SubnetCreate


class SubnetRootUpdate(Body):
    subnet: SubnetUpdate


# --------------------------------------------------------------------------- ports


class FixedIp(Body):
    subnet_id: Uuid | None = None
    ip_address: IpAddr | None = None


class PortCreate(Body):
    network_id: Uuid
    name: Name = ""
    description: Name = ""
    admin_state_up: bool = True
    mac_address: MacAddr | None = None
    fixed_ips: list[FixedIp] | None = None
    device_owner: Name = ""
    device_id: Name = ""
    binding_host_id: Name = Field(default="", alias="binding:host_id")
    security_groups: list[Uuid] | None = None
    port_security_enabled: bool = True
    allowed_address_pairs: list[dict[str, Any]] | None = None
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None
    tags: list[NeutronTag] | None = None


class PortUpdate(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = None
    device_owner: Name | None = None
    device_id: Name | None = None
    binding_host_id: Name | None = Field(default=None, alias="binding:host_id")
    fixed_ips: list[FixedIp] | None = None
    port_security_enabled: bool | None = None


class PortRootCreate(Body):
    port: PortCreate


class PortRootUpdate(Body):
    port: PortUpdate


class TagsBody(Body):
    tags: list[NeutronTag]


def dump(body: Body) -> dict[str, Any]:
    """The attributes the caller sent, under column names; an explicit null stays (it can mean "none")."""
    return body.model_dump(exclude_unset=True, mode="json")


def update_dump(body: Body) -> dict[str, Any]:
    """For updates a null means "leave it", except gateway_ip where it removes the gateway."""
    data = dump(body)
    return {k: v for k, v in data.items() if v is not None or k == "gateway_ip"}


# --------------------------------------------------------------------------- views


def timestamp(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _standard(row: Any) -> dict[str, Any]:
    """Attributes every Neutron resource has (the standard-attr-* and project-id extensions)."""
    return {
        "project_id": row.project_id,
        "tenant_id": row.project_id,
        "tags": sorted(row.tags),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at or row.created_at),
        "revision_number": row.revision_number,
    }


def network_view(row: m.Network) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "admin_state_up": row.admin_state_up,
        "status": row.status,
        "shared": row.shared,
        "mtu": row.mtu,
        "subnets": [sn.id for sn in row.subnets],
        "provider:network_type": row.network_type,
        "provider:physical_network": row.physical_network,
        "provider:segmentation_id": row.segmentation_id,
        "router:external": False,
        "port_security_enabled": True,
        **_standard(row),
    }


def subnet_view(row: m.Subnet) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "network_id": row.network_id,
        "ip_version": row.ip_version,
        "cidr": row.cidr,
        "gateway_ip": row.gateway_ip,
        "allocation_pools": list(row.allocation_pools),
        "host_routes": list(row.host_routes),
        "dns_nameservers": list(row.dns_nameservers),
        "enable_dhcp": row.enable_dhcp,
        "ipv6_ra_mode": None,
        "ipv6_address_mode": None,
        "subnetpool_id": None,
        "service_types": [],
        **_standard(row),
    }


def port_view(row: m.Port) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "network_id": row.network_id,
        "admin_state_up": row.admin_state_up,
        "status": row.status,
        "mac_address": row.mac_address,
        "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in row.fixed_ips],
        "device_owner": row.device_owner,
        "device_id": row.device_id,
        "binding:host_id": row.binding_host_id,
        "binding:vif_type": "other" if row.binding_host_id else "unbound",
        "binding:vif_details": {},
        "binding:vnic_type": "normal",
        "binding:profile": {},
        "security_groups": [],
        "port_security_enabled": row.port_security_enabled,
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        **_standard(row),
    }
