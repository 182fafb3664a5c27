"""Networks, subnets and ports: the part of Neutron's v2.0 API a load balancer lives on.

Why it exists: a load balancer's VIP is a real port with a real address, and the stock clients
(openstack CLI, openstacksdk, Terraform) create the network, subnet and port first. Serving them here
keeps lbaas standalone. What it does not do: there is no DHCP server (``enable_dhcp`` is stored and
echoed, nothing answers DHCP), no security groups, no routers, no address scopes or subnet pools.

Rules kept here, each checked inside the caller's one write transaction:

- Visibility: a caller sees its own project's rows (admins see all); a ``shared`` network and its
  subnets are visible to every project, and any project may put a port on it. Only the owner (or an
  admin) may change or delete a network or subnet: others who can see it get 403, the rest 404.
- Provider segments: ``flat`` or ``vlan``; a VLAN needs a physical network and an id in 1–4094, and
  the pair is unique (a constraint, so concurrent creates cannot both win).
- Addresses come only from :mod:`lbaas.services.ipam`; locks are taken network first, then subnet.
- A port that is a live load balancer's VIP (device_owner ``Octavia``, device_id the LB) cannot be
  deleted, re-addressed, renamed or given another owner here: delete the load balancer instead.
"""

from __future__ import annotations

import ipaddress
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lbaas.db import models as m
from lbaas.domain import errors
from lbaas.services import ipam
from lbaas.services.context import RequestContext
from lbaas.services.policy import FORBIDDEN

MAX_FIXED_IPS = 5
OCTAVIA_OWNER = "Octavia"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NeutronRow = TypeVar("NeutronRow", m.Network, m.Subnet, m.Port)

# --------------------------------------------------------------------------- visibility


def network_scope(ctx: RequestContext) -> list[ColumnElement[bool]]:
    if ctx.is_admin:
        return []
    return [or_(m.Network.project_id == ctx.project_id, m.Network.shared.is_(True))]


def subnet_scope(ctx: RequestContext) -> list[ColumnElement[bool]]:
    if ctx.is_admin:
        return []
    shared = select(m.Network.id).where(m.Network.shared.is_(True))
    return [or_(m.Subnet.project_id == ctx.project_id, m.Subnet.network_id.in_(shared))]


def port_scope(ctx: RequestContext) -> list[ColumnElement[bool]]:
    return [] if ctx.is_admin else [m.Port.project_id == ctx.project_id]


def fixed_ips_filter(values: list[str]) -> list[ColumnElement[bool]]:
    """``fixed_ips=ip_address=…`` / ``fixed_ips=subnet_id=…``: ports with an address matching both lists."""
    if not values:
        return []
    wanted: dict[str, list[str]] = {"ip_address": [], "subnet_id": []}
    for value in values:
        key, _, want = value.partition("=")
        if key not in wanted or not want:
            raise errors.InvalidInput(f"fixed_ips filter {value!r}: use ip_address=… or subnet_id=…")
        wanted[key].append(want)
    conds: list[ColumnElement[bool]] = [m.IpAllocation.port_id == m.Port.id]
    if wanted["ip_address"]:
        conds.append(m.IpAllocation.ip_address.in_(wanted["ip_address"]))
    if wanted["subnet_id"]:
        conds.append(m.IpAllocation.subnet_id.in_(wanted["subnet_id"]))
    return [exists().where(*conds)]


def visible(ctx: RequestContext, obj: m.Network | m.Subnet | m.Port) -> bool:
    """Neutron's rule: a project sees its own networks, subnets and ports, plus shared networks and
    their subnets; an administrator sees all."""
    if ctx.can_see(obj):
        return True
    if isinstance(obj, m.Network):
        return bool(obj.shared)
    if isinstance(obj, m.Subnet):
        return bool(obj.network.shared)
    return False


def usable(s: Session, ctx: RequestContext, model: type[NeutronRow], ident: str) -> NeutronRow:
    """A network, subnet or port that an Octavia request names (a VIP, a member's subnet): the row if
    the caller may use it; 400 "not found" (Octavia's answer) if there is none; 403 if it belongs to
    another project (and is not shared)."""
    obj = s.get(model, ident)
    if obj is None:
        raise errors.ValidationError(f"{model.__name__} {ident} not found.")
    if not visible(ctx, obj):
        raise errors.Forbidden(FORBIDDEN)
    return obj


def get_network(s: Session, ctx: RequestContext, ident: str) -> m.Network:
    net = s.get(m.Network, ident)
    if net is None or not (ctx.can_see(net) or net.shared):
        raise errors.NetworkNotFound(ident)
    return net


def get_subnet(s: Session, ctx: RequestContext, ident: str) -> m.Subnet:
    sn = s.get(m.Subnet, ident)
    if sn is None or not (ctx.can_see(sn) or sn.network.shared):
        raise errors.SubnetNotFound(ident)
    return sn


def get_port(s: Session, ctx: RequestContext, ident: str) -> m.Port:
    port = s.get(m.Port, ident)
    if port is None or not ctx.can_see(port):
        raise errors.PortNotFound(ident)
    return port


def _owner_only(ctx: RequestContext, obj: Any, action: str) -> None:
    if not ctx.can_see(obj):
        raise errors.NeutronForbidden(f"rule:{action} is disallowed by policy")


def _project(ctx: RequestContext, data: dict[str, Any]) -> str:
    project, tenant = data.pop("project_id", None), data.pop("tenant_id", None)
    if project and tenant and project != tenant:
        raise errors.InvalidInput("tenant_id and project_id do not match")
    return ctx.project_for_create(project or tenant)


def _touch(obj: Any) -> None:
    """Every change bumps revision_number (and so updated_at), as Neutron's standard attributes do."""
    obj.revision_number = (obj.revision_number or 1) + 1


# --------------------------------------------------------------------------- networks

NETWORK_UPDATABLE = ("name", "description", "admin_state_up", "shared", "mtu")


def _check_segment(network_type: str, physnet: str | None, vlan_id: int | None) -> None:
    if network_type == "vlan":
        if not physnet:
            raise errors.InvalidInput("provider:physical_network is required for a vlan provider network")
        if vlan_id is None:
            raise errors.InvalidInput("provider:segmentation_id is required for a vlan provider network")
    elif vlan_id is not None:
        raise errors.InvalidInput("provider:segmentation_id is not allowed for a flat provider network")


def _supported_constants(data: dict[str, Any], *, port: bool = False) -> None:
    """Attributes Neutron has that only have one value here: accept that value, refuse the others.
    A port's ``port_security_enabled`` is kept as asked (there is nothing to turn off, so false is fine)."""
    if data.pop("router_external", False):
        raise errors.InvalidInput("external networks (router:external true) are not supported")
    if not port and data.pop("port_security_enabled", True) is False:
        raise errors.InvalidInput("port security cannot be disabled: there are no security groups to turn off")
    if data.pop("security_groups", None):
        raise errors.InvalidInput("security groups are not supported")
    if data.pop("allowed_address_pairs", None):
        raise errors.InvalidInput("allowed address pairs are not supported")


def create_network(s: Session, ctx: RequestContext, data: dict[str, Any]) -> m.Network:
    project_id = _project(ctx, data)
    _supported_constants(data)
    tags = data.pop("tags", None)
    data.setdefault("network_type", "flat")
    _check_segment(data["network_type"], data.get("physical_network"), data.get("segmentation_id"))
    net = m.Network(id=m.new_id(), project_id=project_id, **data)
    try:
        with s.begin_nested():
            s.add(net)
            if tags:
                net.tags = list(dict.fromkeys(tags))
            s.flush()
    except IntegrityError:
        raise errors.VlanIdInUse(data["segmentation_id"], data["physical_network"]) from None
    return net


def update_network(s: Session, ctx: RequestContext, ident: str, data: dict[str, Any]) -> m.Network:
    net = get_network(s, ctx, ident)
    _owner_only(ctx, net, "update_network")
    if data.get("shared") is False and net.shared:
        others = s.scalar(
            select(func.count()).select_from(m.Port).where(m.Port.network_id == net.id, m.Port.project_id != net.project_id)
        )
        if others:
            raise errors.NeutronConflict(
                f"Unable to reconfigure sharing settings for network {net.id}. Multiple tenants are using it."
            )
    for name in NETWORK_UPDATABLE:
        if name in data:
            setattr(net, name, data[name])
    _touch(net)
    s.flush()
    return net


def delete_network(s: Session, ctx: RequestContext, ident: str) -> None:
    net = get_network(s, ctx, ident)
    _owner_only(ctx, net, "delete_network")
    if not ipam.lock(s, m.Network, net.id, "update"):
        raise errors.NetworkNotFound(ident)
    if s.scalar(select(func.count()).select_from(m.Port).where(m.Port.network_id == net.id)):
        raise errors.NetworkInUse(net.id)
    for sn in list(net.subnets):
        s.delete(sn)
    s.delete(net)
    s.flush()


# --------------------------------------------------------------------------- subnets

SUBNET_UPDATABLE = ("name", "description", "enable_dhcp", "dns_nameservers", "host_routes")


def _first_host(net: Network) -> str | None:
    if net.num_addresses < 2:
        return None
    return str(net.network_address + 1)


def _check_gateway(net: Network, gateway: str | None) -> None:
    if gateway is None:
        return
    ip = ipaddress.ip_address(gateway)
    if ip not in net or ip == net.network_address or (net.version == 4 and ip == net.broadcast_address):
        raise errors.InvalidInput(f"Gateway {gateway} is not valid on subnet {net}")


def _check_pools(net: Network, pools: list[dict[str, str]], gateway: str | None) -> list[dict[str, str]]:
    ranges: list[tuple[Any, Any]] = []
    for pool in pools:
        start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        label = f"{start}-{end}"
        if start.version != net.version or end.version != net.version or int(start) > int(end):
            raise errors.NeutronBadRequest(f"The allocation pool {label} is not valid.")
        if start not in net or end not in net:
            raise errors.NeutronBadRequest(f"The allocation pool {label} spans beyond the subnet cidr {net}.")
        if start == net.network_address or (net.version == 4 and end == net.broadcast_address):
            raise errors.NeutronBadRequest(
                f"The allocation pool {label} includes the network or broadcast address of {net}."
            )
        ranges.append((start, end))
    ranges.sort()
    for (s1, e1), (s2, e2) in zip(ranges, ranges[1:], strict=False):
        if s2 <= e1:
            raise errors.NeutronConflict(f"Found overlapping allocation pools: {s1}-{e1} {s2}-{e2} for subnet {net}.")
    if gateway is not None:
        gw = ipaddress.ip_address(gateway)
        for start, end in ranges:
            if start <= gw <= end:
                raise errors.NeutronConflict(f"Gateway ip {gateway} conflicts with allocation pool {start}-{end}")
    return [{"start": str(a), "end": str(b)} for a, b in ranges]


def _check_routes_and_dns(net: Network, data: dict[str, Any]) -> None:
    for route in data.get("host_routes") or []:
        dest, hop = ipaddress.ip_network(route["destination"]), ipaddress.ip_address(route["nexthop"])
        if dest.version != net.version or hop.version != net.version:
            raise errors.InvalidInput(f"host route {route['destination']} via {route['nexthop']} is not IPv{net.version}")
    dns = data.get("dns_nameservers") or []
    if len(set(dns)) != len(dns):
        raise errors.InvalidInput("duplicate nameserver in dns_nameservers")


def create_subnet(s: Session, ctx: RequestContext, data: dict[str, Any]) -> m.Subnet:
    network = get_network(s, ctx, data["network_id"])
    _owner_only(ctx, network, "create_subnet")
    project_id = _project(ctx, data)
    tags = data.pop("tags", None)
    for attr in ("ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id"):
        data.pop(attr, None)
    net = ipaddress.ip_network(data["cidr"])
    version = data.setdefault("ip_version", net.version)
    if version != net.version:
        raise errors.InvalidInput(f"Cidr {net} does not match ip_version {version}")
    if net.prefixlen == 0:
        raise errors.InvalidInput(f"{net} is not allowed as a subnet cidr")
    if not ipam.lock(s, m.Network, network.id, "no_key_update"):  # one subnet create per network at a time
        raise errors.NetworkNotFound(network.id)
    for other in network.subnets:
        if net.overlaps(ipaddress.ip_network(other.cidr)):
            raise errors.InvalidInput(
                f"Requested subnet with cidr: {net} for network: {network.id} overlaps with another subnet"
            )
    gateway = data["gateway_ip"] if "gateway_ip" in data else _first_host(net)
    _check_gateway(net, gateway)
    pools = data.get("allocation_pools")
    pools = ipam.default_pools(str(net), gateway) if pools is None else _check_pools(net, pools, gateway)
    _check_routes_and_dns(net, data)
    subnet = m.Subnet(
        id=m.new_id(),
        project_id=project_id,
        network=network,
        name=data.get("name", ""),
        description=data.get("description", ""),
        ip_version=version,
        cidr=str(net),
        gateway_ip=gateway,
        allocation_pools=pools,
        host_routes=data.get("host_routes") or [],
        dns_nameservers=data.get("dns_nameservers") or [],
        enable_dhcp=data.get("enable_dhcp", False),
    )
    s.add(subnet)
    if tags:
        subnet.tags = list(dict.fromkeys(tags))
    _touch(network)
    s.flush()
    return subnet


def update_subnet(s: Session, ctx: RequestContext, ident: str, data: dict[str, Any]) -> m.Subnet:
    subnet = get_subnet(s, ctx, ident)
    _owner_only(ctx, subnet, "update_subnet")
    net = ipaddress.ip_network(subnet.cidr)
    gateway = data["gateway_ip"] if "gateway_ip" in data else subnet.gateway_ip
    _check_gateway(net, gateway)
    if "gateway_ip" in data and gateway is not None and gateway != subnet.gateway_ip:
        used = s.get(m.IpAllocation, (subnet.id, gateway))
        if used is not None:
            raise errors.NeutronConflict(f"Gateway ip {gateway} is in use by port {used.port_id}")
    pools = _check_pools(net, data.get("allocation_pools", subnet.allocation_pools), gateway)
    _check_routes_and_dns(net, data)
    subnet.gateway_ip, subnet.allocation_pools = gateway, pools
    for name in SUBNET_UPDATABLE:
        if name in data:
            setattr(subnet, name, data[name])
    _touch(subnet)
    s.flush()
    return subnet


def delete_subnet(s: Session, ctx: RequestContext, ident: str) -> None:
    subnet = get_subnet(s, ctx, ident)
    _owner_only(ctx, subnet, "delete_subnet")
    network = subnet.network
    if not (ipam.lock(s, m.Network, network.id, "no_key_update") and ipam.lock(s, m.Subnet, subnet.id, "update")):
        raise errors.SubnetNotFound(ident)
    if s.scalar(select(func.count()).select_from(m.IpAllocation).where(m.IpAllocation.subnet_id == subnet.id)):
        raise errors.SubnetInUse(subnet.id)
    s.delete(subnet)
    _touch(network)
    s.flush()


# --------------------------------------------------------------------------- ports

PORT_UPDATABLE = (
    "name", "description", "admin_state_up", "device_owner", "device_id", "binding_host_id", "port_security_enabled",
)  # fmt: skip


def _status(port: m.Port) -> str:
    """ACTIVE once bound to a host and administratively up; otherwise DOWN."""
    return "ACTIVE" if port.binding_host_id and port.admin_state_up else "DOWN"


def _requests(network: m.Network, fixed_ips: list[dict[str, Any]]) -> list[tuple[m.Subnet, str | None]]:
    """Resolve each fixed_ips entry to (subnet on this network, wanted address or None)."""
    if len(fixed_ips) > MAX_FIXED_IPS:
        raise errors.InvalidInput(f"Exceeded maximum amount of fixed ips per port ({MAX_FIXED_IPS})")
    subnets = {sn.id: sn for sn in network.subnets}
    out: list[tuple[m.Subnet, str | None]] = []
    for item in fixed_ips:
        subnet_id, ip = item.get("subnet_id"), item.get("ip_address")
        if subnet_id is None and ip is None:
            raise errors.InvalidInput("each fixed_ips entry needs a subnet_id, an ip_address, or both")
        if subnet_id is not None:
            subnet = subnets.get(subnet_id)
            if subnet is None:
                raise errors.InvalidInput(
                    f"Failed to create port on network {network.id}, because fixed_ips included invalid subnet {subnet_id}"
                )
        else:
            addr = ipaddress.ip_address(ip or "")
            found = next((sn for sn in network.subnets if addr in ipaddress.ip_network(sn.cidr)), None)
            if found is None:
                raise errors.InvalidInput(f"IP address {ip} is not a valid IP for any of the subnets on network {network.id}")
            subnet = found
        out.append((subnet, ip))
    explicit = [(sn.id, ip) for sn, ip in out if ip is not None]
    if len(set(explicit)) != len(explicit):
        raise errors.InvalidInput("the same IP address is requested twice in fixed_ips")
    return out


def _allocate_default(s: Session, port: m.Port, network: m.Network) -> None:
    """No fixed_ips given: one address from the first IPv4 subnet with room (IPv6 only if there is no IPv4)."""
    v4 = [sn for sn in network.subnets if sn.ip_version == 4]
    candidates = v4 or [sn for sn in network.subnets if sn.ip_version == 6]
    last: errors.LbaasError | None = None
    for subnet in candidates:
        try:
            ipam.allocate(s, port, subnet)
            return
        except errors.IpAddressGenerationFailure as exc:
            last = exc
    if last is not None:
        raise last


def create_port(s: Session, ctx: RequestContext, data: dict[str, Any]) -> m.Port:
    network = get_network(s, ctx, data["network_id"])
    project_id = _project(ctx, data)
    _supported_constants(data, port=True)
    tags = data.pop("tags", None)
    requested = None if data.get("fixed_ips") is None else _requests(network, data["fixed_ips"])
    port = ipam.new_port(
        s,
        network=network,
        project_id=project_id,
        name=data.get("name", ""),
        device_owner=data.get("device_owner", ""),
        device_id=data.get("device_id", ""),
        mac_address=data.get("mac_address"),
        description=data.get("description", ""),
        admin_state_up=data.get("admin_state_up", True),
        binding_host_id=data.get("binding_host_id", ""),
        port_security_enabled=data.get("port_security_enabled", True),
    )
    port.status = _status(port)
    if requested is None:
        _allocate_default(s, port, network)
    else:
        for subnet, ip in requested:
            ipam.allocate(s, port, subnet, ip)
    if tags:
        port.tags = list(dict.fromkeys(tags))
    s.flush()
    return port


def _lb_owning(s: Session, port: m.Port) -> m.LoadBalancer | None:
    if port.device_owner != OCTAVIA_OWNER or not port.device_id:
        return None
    lb = s.get(m.LoadBalancer, port.device_id)
    return lb if lb is not None and lb.provisioning_status != "DELETED" else None


def _guard_vip(s: Session, port: m.Port, action: str) -> None:
    lb = _lb_owning(s, port)
    if lb is not None:
        raise errors.PortInUse(
            f"Unable to {action} port {port.id}: it is the VIP port of load balancer {lb.id}; delete the load balancer instead."
        )


def update_port(s: Session, ctx: RequestContext, ident: str, data: dict[str, Any]) -> m.Port:
    port = get_port(s, ctx, ident)
    # The load balancer finds its VIP port by these (and deletes it by name), so they stay put.
    if any(k in data and data[k] != getattr(port, k) for k in ("name", "device_owner", "device_id")) or "fixed_ips" in data:
        _guard_vip(s, port, "update")
    for name in PORT_UPDATABLE:
        if name in data:
            setattr(port, name, data[name])
    port.status = _status(port)
    if "fixed_ips" in data:
        _readdress(s, port, data["fixed_ips"])
    _touch(port)
    s.flush()
    return port


def _readdress(s: Session, port: m.Port, fixed_ips: list[dict[str, Any]]) -> None:
    """Keep the addresses still asked for (an entry with only subnet_id keeps one on that subnet),
    free the rest, then allocate what is new."""
    network = s.get(m.Network, port.network_id)
    assert network is not None
    requested = _requests(network, fixed_ips)
    kept: list[m.IpAllocation] = []
    new: list[tuple[m.Subnet, str | None]] = []
    for subnet, ip in requested:
        match = next(
            (a for a in port.fixed_ips if a not in kept and a.subnet_id == subnet.id and ip in (None, a.ip_address)),
            None,
        )
        if match is None:
            new.append((subnet, ip))
        else:
            kept.append(match)
    for alloc in [a for a in port.fixed_ips if a not in kept]:
        port.fixed_ips.remove(alloc)
    s.flush()
    if new and not ipam.lock(s, m.Network, network.id, "key_share"):
        raise errors.NetworkNotFound(network.id)
    for subnet, ip in new:
        ipam.allocate(s, port, subnet, ip)


def delete_port(s: Session, ctx: RequestContext, ident: str) -> None:
    port = get_port(s, ctx, ident)
    _guard_vip(s, port, "delete")
    s.delete(port)
    s.flush()


# --------------------------------------------------------------------------- tags

TAGGED: dict[str, Any] = {"networks": get_network, "subnets": get_subnet, "ports": get_port}


def tagged(s: Session, ctx: RequestContext, collection: str, ident: str, *, write: bool) -> Any:
    obj = TAGGED[collection](s, ctx, ident)
    if write:
        _owner_only(ctx, obj, f"update_{collection[:-1]}_tags")
    return obj


def replace_tags(s: Session, ctx: RequestContext, collection: str, ident: str, tags: list[str]) -> list[str]:
    obj = tagged(s, ctx, collection, ident, write=True)
    obj.tags = list(dict.fromkeys(tags))
    _touch(obj)
    s.flush()
    return sorted(obj.tags)


def add_tag(s: Session, ctx: RequestContext, collection: str, ident: str, tag: str) -> None:
    obj = tagged(s, ctx, collection, ident, write=True)
    if tag not in obj.tags:
        obj.tags.append(tag)
        _touch(obj)
        s.flush()


def remove_tag(s: Session, ctx: RequestContext, collection: str, ident: str, tag: str | None) -> None:
    """One tag (404 if absent) or, with ``tag`` None, all of them."""
    obj = tagged(s, ctx, collection, ident, write=True)
    if tag is None:
        obj.tags = []
    elif tag in obj.tags:
        obj.tags.remove(tag)
    else:
        raise errors.NeutronNotFound(f"Tag {tag} could not be found.")
    _touch(obj)
    s.flush()
