"""Member use-cases, including the batch update (match on address and protocol_port)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from lbaas.db import lifecycle
from lbaas.db import models as m
from lbaas.domain import errors
from lbaas.services import neutron
from lbaas.services import policy as rbac
from lbaas.services.common import apply_fields, check_quota, load, nudge_after_commit, set_tags
from lbaas.services.context import RequestContext
from lbaas.services.env import ServiceEnv

FIELDS = ("name", "weight", "backup", "admin_state_up", "monitor_address", "monitor_port", "subnet_id")
UPDATABLE = ("name", "weight", "backup", "admin_state_up", "monitor_address", "monitor_port")


def _check_address(env: ServiceEnv, address: str) -> None:
    if address in env.settings.reserved_ips:
        raise errors.ValidationError(f"The IP Address {address} is reserved and cannot be used for a member.")


def _check_subnet(s: Session, ctx: RequestContext, subnet_id: str | None) -> None:
    if subnet_id:
        neutron.usable(s, ctx, m.Subnet, subnet_id)


def build(s: Session, ctx: RequestContext, env: ServiceEnv, pool: m.Pool, data: dict[str, Any]) -> m.Member:
    _check_address(env, data["address"])
    _check_subnet(s, ctx, data.get("subnet_id"))
    for other in pool.members:
        if (
            other.address == data["address"]
            and other.protocol_port == data["protocol_port"]
            and other.provisioning_status != "PENDING_DELETE"
        ):
            raise errors.Conflict(
                f"Another member on this pool is already using ip {data['address']} "
                f"on protocol_port {data['protocol_port']}"
            )
    has_hm = pool.healthmonitor is not None and pool.healthmonitor.provisioning_status != "PENDING_DELETE"
    member = m.Member(
        id=m.new_id(),
        project_id=pool.project_id,
        pool_id=pool.id,
        address=data["address"],
        protocol_port=data["protocol_port"],
        provisioning_status="PENDING_CREATE",
        operating_status="OFFLINE" if has_hm else "NO_MONITOR",
        weight=1,
        backup=False,
        admin_state_up=True,
    )
    apply_fields(member, {k: v for k, v in data.items() if v is not None}, FIELDS)
    pool.members.append(member)
    set_tags(member, data.get("tags"))
    return member


def _lock_pool(s: Session, pool: m.Pool) -> None:
    lifecycle.cas_lock_lb(s, pool.loadbalancer_id)
    lifecycle.ensure_parent_active(pool, "Pool")
    lifecycle.mark(pool, "PENDING_UPDATE")
    for listener in pool.listeners:
        lifecycle.mark(listener, "PENDING_UPDATE")


def create(s: Session, ctx: RequestContext, env: ServiceEnv, pool_id: str, data: dict[str, Any]) -> m.Member:
    pool = load(s, m.Pool, pool_id, ctx, "Pool", rbac.MEMBER + rbac.POST)
    check_quota(s, pool.project_id, "member", 1, env.settings.quota_defaults)
    _lock_pool(s, pool)
    member = build(s, ctx, env, pool, data)
    s.flush()
    nudge_after_commit(s, pool.loadbalancer_id)
    return member


def get(s: Session, ctx: RequestContext, pool_id: str, member_id: str, action: str = rbac.GET_ONE) -> m.Member:
    load(s, m.Pool, pool_id, ctx, "Pool", rbac.MEMBER + action)
    member = load(s, m.Member, member_id, ctx, "Member", rbac.MEMBER + action)
    if member.pool_id != pool_id:
        raise errors.NotFound("Member", member_id)
    return member


def update(
    s: Session, ctx: RequestContext, env: ServiceEnv, pool_id: str, member_id: str, data: dict[str, Any]
) -> m.Member:
    member = get(s, ctx, pool_id, member_id, rbac.PUT)
    _lock_pool(s, member.pool)
    if data.get("monitor_address"):
        _check_address(env, data["monitor_address"])
    apply_fields(member, data, UPDATABLE)
    set_tags(member, data.get("tags"))
    lifecycle.mark(member, "PENDING_UPDATE")
    nudge_after_commit(s, member.pool.loadbalancer_id)
    return member


def delete(s: Session, ctx: RequestContext, pool_id: str, member_id: str) -> None:
    member = get(s, ctx, pool_id, member_id, rbac.DELETE)
    _lock_pool(s, member.pool)
    lifecycle.mark(member, "PENDING_DELETE")
    nudge_after_commit(s, member.pool.loadbalancer_id)


def batch_update(
    s: Session,
    ctx: RequestContext,
    env: ServiceEnv,
    pool_id: str,
    members: list[dict[str, Any]],
    *,
    additive_only: bool = False,
) -> None:
    """Make the pool's members match the list: new → create, matched → update, absent → delete.

    Members match on (address, protocol_port). A key given twice is a 400. A list that changes
    nothing leaves the load balancer untouched (202 and no provisioning cycle).
    """
    pool = load(s, m.Pool, pool_id, ctx, "Pool", rbac.MEMBER + rbac.POST)  # Octavia: post, put, and delete
    rbac.authorize(ctx, rbac.MEMBER + rbac.PUT, pool.project_id)
    if not additive_only:
        rbac.authorize(ctx, rbac.MEMBER + rbac.DELETE, pool.project_id)
    seen: set[tuple[str, int]] = set()
    for d in members:
        key = (d["address"], d["protocol_port"])
        if key in seen:
            raise errors.ValidationError(
                f"Duplicate member with address {key[0]} and protocol_port {key[1]} in the request."
            )
        seen.add(key)
        _check_address(env, d["address"])
        _check_subnet(s, ctx, d.get("subnet_id"))
    current = {(mb.address, mb.protocol_port): mb for mb in pool.members if mb.provisioning_status != "PENDING_DELETE"}
    to_create = [d for d in members if (d["address"], d["protocol_port"]) not in current]
    to_update = [(current[(d["address"], d["protocol_port"])], d) for d in members if (d["address"], d["protocol_port"]) in current]
    to_delete = [] if additive_only else [mb for key, mb in current.items() if key not in seen]
    changed_updates = [(mb, d) for mb, d in to_update if _differs(mb, d)]
    if not to_create and not changed_updates and not to_delete:
        return
    check_quota(s, pool.project_id, "member", len(to_create) - len(to_delete), env.settings.quota_defaults)
    _lock_pool(s, pool)
    for d in to_create:
        build(s, ctx, env, pool, d)
    for mb, d in changed_updates:
        apply_fields(mb, d, UPDATABLE)
        if "tags" in d:
            set_tags(mb, d.get("tags"))
        lifecycle.mark(mb, "PENDING_UPDATE")
    for mb in to_delete:
        lifecycle.mark(mb, "PENDING_DELETE")
    s.flush()
    nudge_after_commit(s, pool.loadbalancer_id)


def _differs(member: m.Member, data: dict[str, Any]) -> bool:
    for name in UPDATABLE:
        if name in data and getattr(member, name) != data[name]:
            return True
    return "tags" in data and sorted(member.tags) != sorted(data.get("tags") or [])
