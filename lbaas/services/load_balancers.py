"""Load balancer use-cases: VIP allocation, the fully populated create, cascade delete, failover, status."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas.db import lifecycle
from lbaas.db import models as m
from lbaas.domain import addresses, errors
from lbaas.domain.enums import Topology
from lbaas.services import health_monitors, instances, ipam, l7, listeners, members, neutron, pools
from lbaas.services import policy as rbac
from lbaas.services.common import apply_fields, check_quota, load, nudge_after_commit, set_tags
from lbaas.services.context import RequestContext
from lbaas.services.env import ServiceEnv

UPDATABLE = ("name", "description", "admin_state_up", "vip_qos_policy_id")
VIP_SUBNET_MIN_FREE = 2
LB_POST = rbac.LOADBALANCER + rbac.POST


def _flavor_topology(s: Session, flavor_id: str | None, default: str) -> str:
    """Octavia's choice: the flavor profile's ``loadbalancer_topology``, else the configured default."""
    if not flavor_id:
        return default
    flavor = s.get(m.Flavor, flavor_id)
    if flavor is None or not flavor.enabled:
        raise errors.ValidationError(f"Invalid flavor_id {flavor_id}.")
    profile = s.get(m.FlavorProfile, flavor.flavor_profile_id)
    data = json.loads(profile.flavor_data) if profile is not None and profile.flavor_data else {}
    topology = str(data.get("loadbalancer_topology", default))
    if topology not in tuple(Topology):  # profiles are validated when written; an old row is refused here
        raise errors.ValidationError(f"Invalid loadbalancer_topology {topology!r} in flavor {flavor_id}.")
    return topology


def _check_az(s: Session, name: str | None) -> None:
    if name is None:
        return
    az = s.get(m.AvailabilityZone, name)
    if az is None or not az.enabled:
        raise errors.ValidationError(f"Invalid availability zone {name}.")


def _allocate_vip(s: Session, ctx: RequestContext, lb: m.LoadBalancer, data: dict[str, Any]) -> None:
    """Resolve the VIP from a port, a network or a subnet, and give the LB a real Neutron port."""
    port_id, net_id, subnet_id = data.get("vip_port_id"), data.get("vip_network_id"), data.get("vip_subnet_id")
    address = data.get("vip_address")
    if not (port_id or net_id or subnet_id):
        raise errors.ValidationError("VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")
    if port_id:
        port = neutron.usable(s, ctx, m.Port, port_id)
        if net_id:
            neutron.usable(s, ctx, m.Network, net_id)
        if port.device_id:
            raise errors.ValidationError(f"Port {port_id} already has a device_id {port.device_id}.")
        if net_id and net_id != port.network_id:
            raise errors.ValidationError("vip_network_id does not match the network of vip_port_id.")
        fixed = [a for a in port.fixed_ips if (address is None or addresses.same(a.ip_address, address))]
        if subnet_id:
            fixed = [a for a in fixed if a.subnet_id == subnet_id]
        if not fixed:
            raise errors.ValidationError(f"Port {port_id} has no fixed IP matching the VIP request.")
        port.device_owner, port.device_id = "Octavia", lb.id
        lb.vip_port_id, lb.vip_subnet_id = port.id, fixed[0].subnet_id
        lb.vip_address = address or fixed[0].ip_address
        lb.vip_network_id = port.network_id
        return
    subnet = _pick_subnet(s, ctx, net_id, subnet_id, address)
    network = s.get(m.Network, subnet.network_id)
    assert network is not None
    port = ipam.new_port(
        s, network=network, project_id=lb.project_id, name=f"octavia-lb-{lb.id}", device_owner="Octavia", device_id=lb.id
    )
    try:
        alloc = ipam.allocate(s, port, subnet, address)
    except errors.IpAddressAlreadyAllocated:
        raise errors.Conflict(f"IP address {address} is already allocated to another port.") from None
    except errors.IpAddressGenerationFailure:
        raise errors.Conflict(f"No more IP addresses available on subnet {subnet.id}.") from None
    except errors.NeutronBadRequest as exc:
        raise errors.ValidationError(exc.user_message) from None
    # The VIP address is echoed as the caller wrote it; the allocation holds the canonical form.
    lb.vip_port_id, lb.vip_address = port.id, address or alloc.ip_address
    lb.vip_subnet_id, lb.vip_network_id = subnet.id, network.id


def _pick_subnet(
    s: Session, ctx: RequestContext, net_id: str | None, subnet_id: str | None, address: str | None
) -> m.Subnet:
    import ipaddress

    if net_id:
        neutron.usable(s, ctx, m.Network, net_id)
    if subnet_id:
        subnet = neutron.usable(s, ctx, m.Subnet, subnet_id)
        if net_id and subnet.network_id != net_id:
            raise errors.ValidationError("vip_subnet_id is not on vip_network_id.")
        return subnet
    network = neutron.usable(s, ctx, m.Network, str(net_id))
    subnets = [sn for sn in network.subnets if neutron.visible(ctx, sn)]
    if not subnets:
        raise errors.ValidationError(f"Supplied network {net_id} does not have any subnets.")
    if address:
        ip = ipaddress.ip_address(address)
        for sn in subnets:
            if ip in ipaddress.ip_network(sn.cidr, strict=False):
                return sn
        raise errors.ValidationError(f"Supplied network does not contain a subnet for VIP address {address}.")
    subnets.sort(key=lambda sn: sn.ip_version)  # prefer IPv4
    # The first subnet with room for a VIP (Octavia asks for two free addresses); else the first (409 later).
    return next((sn for sn in subnets if ipam.has_free(s, sn, VIP_SUBNET_MIN_FREE)), subnets[0])


def _count_graph(data: dict[str, Any]) -> dict[str, int]:
    counts = {"listener": 0, "pool": 0, "member": 0, "healthmonitor": 0, "l7policy": 0, "l7rule": 0}
    pools_seen: list[dict[str, Any]] = list(data.get("pools") or [])
    for li in data.get("listeners") or []:
        counts["listener"] += 1
        if li.get("default_pool") and li["default_pool"].get("protocol"):
            pools_seen.append(li["default_pool"])
        for pol in li.get("l7policies") or []:
            counts["l7policy"] += 1
            counts["l7rule"] += len(pol.get("rules") or [])
            if pol.get("redirect_pool") and pol["redirect_pool"].get("protocol"):
                pools_seen.append(pol["redirect_pool"])
    for p in pools_seen:
        counts["pool"] += 1
        counts["member"] += len(p.get("members") or [])
        counts["healthmonitor"] += 1 if p.get("healthmonitor") else 0
    return counts


def create(s: Session, ctx: RequestContext, env: ServiceEnv, data: dict[str, Any]) -> m.LoadBalancer:
    project_id = ctx.project_for_create(data.get("project_id") or data.get("tenant_id"))
    rbac.authorize(ctx, LB_POST, project_id)
    provider_name = data.get("provider") or "amphora"
    env.provider(provider_name)  # 400 if not enabled; the full check runs before commit (validate_touched)
    if data.get("additional_vips"):
        raise errors.NotImplementedFeature("Provider does not support requested option: additional_vips.")
    if data.get("vip_sg_ids"):
        rbac.authorize(ctx, f"{LB_POST}:vip_sg_ids", project_id)
        raise errors.NotImplementedFeature("Provider does not support requested option: vip_sg_ids.")
    check_quota(s, project_id, "loadbalancer", 1, env.settings.quota_defaults)
    for resource, n in _count_graph(data).items():
        check_quota(s, project_id, resource, n, env.settings.quota_defaults)
    topology = _flavor_topology(s, data.get("flavor_id"), env.settings.default_topology)
    _check_az(s, data.get("availability_zone"))
    lb = m.LoadBalancer(
        id=m.new_id(),
        project_id=project_id,
        name=data.get("name"),
        description=data.get("description"),
        admin_state_up=data.get("admin_state_up", True),
        provider=provider_name,
        flavor_id=data.get("flavor_id"),
        availability_zone=data.get("availability_zone"),
        vip_qos_policy_id=data.get("vip_qos_policy_id"),
        topology=topology,
        provisioning_status="PENDING_CREATE",
        operating_status="OFFLINE",
        generation=1,
    )
    set_tags(lb, data.get("tags"))
    # The VIP first, then one INSERT of the complete row: a later UPDATE would stamp updated_at.
    _allocate_vip(s, ctx, lb, data)
    s.add(lb)
    s.flush()
    if topology == Topology.ACTIVE_STANDBY:
        instances.create_pair(s, lb)
    if data.get("listeners") or data.get("pools"):
        _graph(s, ctx, env, lb, data)
    s.flush()
    nudge_after_commit(s, lb.id)
    return lb


def _graph(s: Session, ctx: RequestContext, env: ServiceEnv, lb: m.LoadBalancer, data: dict[str, Any]) -> None:
    """Build the whole tree; pools are named and referenced by name."""
    by_name: dict[str, m.Pool] = {}

    def make_pool(pd: dict[str, Any]) -> m.Pool:
        pool = pools.build(s, lb, pd)
        for md in pd.get("members") or []:
            members.build(s, ctx, env, pool, md)
        if pd.get("healthmonitor"):
            health_monitors.build(s, pool, pd["healthmonitor"])
        return pool

    for pd in data.get("pools") or []:
        if not pd.get("name"):
            raise errors.ValidationError("Pools in a fully populated load balancer create must be named.")
        if pd["name"] in by_name:
            raise errors.ValidationError(f"Pool name {pd['name']} is used more than once.")
        if not pd.get("protocol"):
            raise errors.ValidationError(f"Pool {pd['name']} needs protocol and lb_algorithm.")
        by_name[pd["name"]] = make_pool(pd)

    def resolve(ref: dict[str, Any]) -> m.Pool:
        if ref.get("protocol"):
            pool = make_pool(ref)
            if ref.get("name"):
                by_name.setdefault(ref["name"], pool)
            return pool
        name = ref.get("name")
        if not name or name not in by_name:
            raise errors.ValidationError(f"Pool {name!r} is referenced but not defined in pools.")
        return by_name[name]

    for ld in data.get("listeners") or []:
        li = listeners.build(s, lb, ld)
        if ld.get("default_pool_id"):
            raise errors.ValidationError("Use default_pool, not default_pool_id, in a fully populated create.")
        if ld.get("default_pool") is not None:
            pools.attach_to_listener(li, resolve(ld["default_pool"]))
        for pd in ld.get("l7policies") or []:
            redirect = resolve(pd["redirect_pool"]) if pd.get("redirect_pool") is not None else None
            l7.build_policy(s, li, pd, redirect_pool=redirect)
        listeners.validate(lb, li)


def update(s: Session, ctx: RequestContext, env: ServiceEnv, lb_id: str, data: dict[str, Any]) -> m.LoadBalancer:
    lb = load(s, m.LoadBalancer, lb_id, ctx, "Load Balancer", rbac.LOADBALANCER + rbac.PUT)
    if data.get("vip_sg_ids"):
        rbac.authorize(ctx, f"{rbac.LOADBALANCER}{rbac.PUT}:vip_sg_ids", lb.project_id)
        raise errors.NotImplementedFeature("Provider does not support requested option: vip_sg_ids.")
    lifecycle.cas_lock_lb(s, lb.id, child=False)
    apply_fields(lb, data, UPDATABLE)
    set_tags(lb, data.get("tags"))
    nudge_after_commit(s, lb.id)
    return lb


def delete(s: Session, ctx: RequestContext, lb_id: str, *, cascade: bool) -> None:
    lb = load(s, m.LoadBalancer, lb_id, ctx, "Load Balancer", rbac.LOADBALANCER + rbac.DELETE)
    if not cascade and (lb.listeners or lb.pools):
        raise errors.ValidationError(f"Cannot delete Load Balancer {lb_id} - it has children")
    lifecycle.lock_for_delete(s, lb.id)
    for obj in lifecycle.iter_tree(lb):
        lifecycle.mark(obj, "PENDING_DELETE")
    nudge_after_commit(s, lb.id)


def failover(s: Session, ctx: RequestContext, lb_id: str) -> None:
    lb = load(s, m.LoadBalancer, lb_id, ctx, "Load Balancer", rbac.LOADBALANCER + rbac.PUT_FAILOVER)
    lifecycle.lock_for_failover(s, lb.id)
    if instances.is_pair(lb):
        # ACTIVE_STANDBY: both instances are rebuilt, one at a time (the controller replaces one, waits for
        # it to run, then the other), so the VIP stays served throughout.
        instances.mark_replaced(s, lb.id)
        nudge_after_commit(s, lb.id)
        return
    # Unbind with a new epoch (fencing): the instance is replaced, on another agent when the scheduler
    # has one (it avoids the agent in the amphora record), else on the same one. The old holder is
    # nudged too (see the bus router) and tears its copy down.
    lb.agent_id = None
    lb.binding_epoch += 1
    # the instance is replaced: its record gives way to a new one (a new id) once the new instance runs
    for amp in s.scalars(select(m.Amphora).where(m.Amphora.loadbalancer_id == lb.id)):
        amp.status = "PENDING_DELETE"
    nudge_after_commit(s, lb.id)


def status_tree(s: Session, ctx: RequestContext, lb_id: str) -> dict[str, Any]:
    lb = load(s, m.LoadBalancer, lb_id, ctx, "Load Balancer", rbac.LOADBALANCER + rbac.GET_STATUS)

    def st(obj: Any, **extra: Any) -> dict[str, Any]:
        return {
            "id": obj.id,
            "name": getattr(obj, "name", None) or "",
            "provisioning_status": obj.provisioning_status,
            "operating_status": obj.operating_status,
            **extra,
        }

    def pool_tree(pool: m.Pool) -> dict[str, Any]:
        out = st(pool, members=[st(mb, address=mb.address, protocol_port=mb.protocol_port) for mb in pool.members])
        if pool.healthmonitor is not None:
            out["health_monitor"] = st(pool.healthmonitor, type=pool.healthmonitor.type)
        return out

    listener_trees = []
    for li in lb.listeners:
        pool_ids: list[m.Pool] = []
        if li.default_pool is not None:
            pool_ids.append(li.default_pool)
        for pol in li.l7policies:
            if pol.redirect_pool is not None and pol.redirect_pool not in pool_ids:
                pool_ids.append(pol.redirect_pool)
        listener_trees.append(st(li, pools=[pool_tree(p) for p in pool_ids]))
    return {"statuses": {"loadbalancer": st(lb, listeners=listener_trees)}}


STAT_FIELDS = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")


def stats(s: Session, ctx: RequestContext, lb_id: str) -> dict[str, int]:
    lb = load(s, m.LoadBalancer, lb_id, ctx, "Load Balancer", rbac.LOADBALANCER + rbac.GET_STATS)
    rows = s.scalars(select(m.ListenerStats).where(m.ListenerStats.loadbalancer_id == lb.id))
    total = dict.fromkeys(STAT_FIELDS, 0)
    for row in rows:
        for f in STAT_FIELDS:
            total[f] += getattr(row, f)
    return total


def listener_stats(s: Session, ctx: RequestContext, listener_id: str) -> dict[str, int]:
    li = load(s, m.Listener, listener_id, ctx, "Listener", rbac.LISTENER + rbac.GET_STATS)
    row = s.get(m.ListenerStats, li.id)
    return {f: getattr(row, f) if row is not None else 0 for f in STAT_FIELDS}
