"""Octavia's provisioning state machine, done with atomic compare-and-set UPDATEs.

Every accepted change to a load balancer or anything under it runs ``cas_lock_lb`` first: one
``UPDATE load_balancer SET provisioning_status=…, generation=generation+1 WHERE id=… AND
provisioning_status IN (…)``. Its rowcount decides; no SELECT … FOR UPDATE, so it holds the same way
on SQLite (inside BEGIN IMMEDIATE) and on PostgreSQL (row lock, WHERE re-checked).

``complete`` is the other half: what the provider or agent reports after it applied generation N.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from lbaas.db import models as m
from lbaas.db.base import utcnow
from lbaas.domain import errors
from lbaas.domain.enums import DELETABLE_STATUSES, FAILOVERABLE_STATUSES, MUTABLE_STATUSES

PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")


def cas_lock_lb(
    s: Session,
    lb_id: str,
    *,
    to_status: str = "PENDING_UPDATE",
    allowed: Iterable[str] = MUTABLE_STATUSES,
    child: bool = True,
) -> m.LoadBalancer:
    """Move the LB to ``to_status`` if it is in ``allowed``; bump its generation. Raise 404/409 otherwise.

    ``child`` picks the fault Octavia gives: ImmutableObject for changes under the LB, the
    pending-state error for the LB's own PUT/DELETE/failover.
    """
    allowed = tuple(str(a) for a in allowed)
    res = s.execute(
        update(m.LoadBalancer)
        .where(m.LoadBalancer.id == lb_id, m.LoadBalancer.provisioning_status.in_(allowed))
        .values(provisioning_status=to_status, generation=m.LoadBalancer.generation + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    lb = s.get(m.LoadBalancer, lb_id, populate_existing=True)
    if lb is None or lb.provisioning_status == "DELETED":
        raise errors.NotFound("Load Balancer", lb_id)
    if res.rowcount != 1:  # type: ignore[attr-defined]
        if child:
            raise errors.ImmutableObject("Load Balancer", lb_id)
        raise errors.PendingState(lb.provisioning_status, lb_id)
    return lb


def lock_project_quota(s: Session, project_id: str) -> None:
    """Serialize quota checks of one project until this transaction ends: count, insert, commit.

    Without it two transactions both count N (below the limit) and both insert: 20 concurrent creates
    against a quota of 3 all succeeded on PostgreSQL. There a transaction-scoped advisory lock keyed by
    the project does it (no row needed, so projects on the default quota are covered too); SQLite
    writers already run one at a time (``BEGIN IMMEDIATE``). One key per project, not per resource, so
    a fully populated create that checks several resources cannot deadlock with another.
    """
    if s.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(f"lbaas-quota:{project_id}".encode()).digest()[:8], "big", signed=True)
    s.execute(select(func.pg_advisory_xact_lock(key)))


def lock_for_delete(s: Session, lb_id: str) -> m.LoadBalancer:
    return cas_lock_lb(s, lb_id, to_status="PENDING_DELETE", allowed=DELETABLE_STATUSES, child=False)


def lock_for_failover(s: Session, lb_id: str) -> m.LoadBalancer:
    return cas_lock_lb(s, lb_id, to_status="PENDING_UPDATE", allowed=FAILOVERABLE_STATUSES, child=False)


def ensure_parent_active(obj: Any, resource: str) -> None:
    """Member/HM/L7 ops need their parent pool or policy to be ACTIVE too (checked after the LB lock)."""
    if obj.provisioning_status not in MUTABLE_STATUSES:
        raise errors.ImmutableObject(resource, obj.id)


def mark(obj: Any, status: str) -> None:
    obj.provisioning_status = status
    obj.updated_at = utcnow()


def iter_tree(lb: m.LoadBalancer) -> Iterator[Any]:
    """Every child object of an LB (listeners, l7 policies and rules, pools, members, monitors)."""
    for listener in lb.listeners:
        yield listener
        for policy in listener.l7policies:
            yield policy
            yield from policy.rules
    for pool in lb.pools:
        yield pool
        yield from pool.members
        if pool.healthmonitor is not None:
            yield pool.healthmonitor


def complete(s: Session, lb_id: str, generation: int, *, ok: bool, message: str | None = None) -> bool:
    """Record that the provider applied the desired state of ``generation`` (or failed to).

    Returns False and changes nothing when the LB has moved on to a newer generation: the newer
    change will be reconciled and completed in its own turn. On success, PENDING_DELETE rows go away,
    other PENDING_* become ACTIVE. On failure, the changed children go to ERROR and the LB returns to
    ACTIVE, as do parents that were only locked for the change (the pool and listener of a new member);
    a failed create/update of the LB itself puts the LB in ERROR.
    """
    lb = s.get(m.LoadBalancer, lb_id, populate_existing=True)
    if lb is None or lb.generation != generation:
        return False
    lb.observed_generation = generation
    lb.status_message = None if ok else message
    children = [o for o in iter_tree(lb) if o.provisioning_status in PENDING]
    if ok:
        if lb.provisioning_status == "PENDING_DELETE":
            _delete_lb(s, lb)
            return True
        for obj in children:
            if obj.provisioning_status == "PENDING_DELETE":
                _delete_child(s, obj)
            else:
                mark(obj, "ACTIVE")
                _applied_operating_status(lb, obj)
        mark(lb, "ACTIVE")
    else:
        # The objects the change was about go to ERROR; parents it merely locked go back to ACTIVE.
        verdicts = [(obj, "ACTIVE" if _locked_parent(obj) else "ERROR") for obj in children]
        for obj, status in verdicts:
            mark(obj, status)
        lb_self_failed = not children or lb.provisioning_status in ("PENDING_CREATE", "PENDING_DELETE")
        mark(lb, "ERROR" if lb_self_failed else "ACTIVE")
    s.flush()
    return True


_NOT_HAPROXY = ("UDP", "SCTP")


def _applied_operating_status(lb: m.LoadBalancer, obj: Any) -> None:
    """A health monitor, L7 policy or L7 rule is ONLINE as soon as it is applied, OFFLINE if it (or the LB)
    is disabled: Octavia's worker marks it so in the same step as ACTIVE (``Mark*ActiveInDB``), and the
    agent's later measurements follow the same rule (``lbaas.domain.status``), so no client ever sees an
    ACTIVE monitor that is still OFFLINE. Objects of UDP/SCTP listeners or pools are left to their layer."""
    if isinstance(obj, m.HealthMonitor):
        protocol = obj.pool.protocol if obj.pool is not None else None
    elif isinstance(obj, m.L7Policy):
        protocol = obj.listener.protocol if obj.listener is not None else None
    elif isinstance(obj, m.L7Rule):
        listener = obj.l7policy.listener if obj.l7policy is not None else None
        protocol = listener.protocol if listener is not None else None
    else:
        return
    if protocol in _NOT_HAPROXY:
        return
    obj.operating_status = "ONLINE" if lb.admin_state_up and obj.admin_state_up else "OFFLINE"


def _dependents(obj: Any) -> list[Any]:
    """What a change below ``obj`` may be about: its policies and pools, members and monitor, or rules."""
    if isinstance(obj, m.Listener):
        pools = [obj.default_pool] + [p.redirect_pool for p in obj.l7policies]
        return [*obj.l7policies, *(p for p in pools if p is not None)]
    if isinstance(obj, m.Pool):
        return [*obj.members, *([obj.healthmonitor] if obj.healthmonitor is not None else [])]
    if isinstance(obj, m.L7Policy):
        return list(obj.rules)
    return []


def _locked_parent(obj: Any) -> bool:
    """PENDING_UPDATE only because a change below it was in flight (e.g. the pool and listener of a new member)."""
    if obj.provisioning_status != "PENDING_UPDATE":
        return False
    return any(d.provisioning_status in PENDING for d in _dependents(obj))


def _delete_child(s: Session, obj: Any) -> None:
    if isinstance(obj, m.Pool):
        for listener in list(obj.listeners):
            listener.default_pool_id = None
    if isinstance(obj, m.Listener | m.Pool):
        s.execute(delete(m.ListenerStats).where(m.ListenerStats.listener_id == obj.id))
    with s.no_autoflush:  # a flush here would send the pool's delete (and its cascade) before its members'
        if isinstance(obj, m.Pool):
            s.execute(delete(m.MemberStats).where(m.MemberStats.pool_id == obj.id))
        if isinstance(obj, m.Member):
            s.execute(delete(m.MemberStats).where(m.MemberStats.member_id == obj.id))
    if isinstance(obj, m.L7Policy):
        _remove_policy(obj)
    s.delete(obj)


def _remove_policy(policy: m.L7Policy) -> None:
    """Take the policy out of its listener's list and close the gap: positions stay 1..n."""
    remaining = policy.listener.l7policies
    if policy in remaining:
        remaining.remove(policy)
    for position, other in enumerate(remaining, start=1):
        if other.position != position:
            other.position = position


def _delete_lb(s: Session, lb: m.LoadBalancer) -> None:
    for listener in lb.listeners:
        listener.default_pool_id = None
    s.flush()
    s.execute(delete(m.ListenerStats).where(m.ListenerStats.loadbalancer_id == lb.id))
    s.execute(delete(m.MemberStats).where(m.MemberStats.loadbalancer_id == lb.id))
    # ACTIVE_STANDBY: the instances' vrrp ports and the VRRP group go with the LB
    vrrp_ports = [p for p in s.scalars(select(m.Amphora.vrrp_port_id).where(m.Amphora.loadbalancer_id == lb.id)) if p]
    s.execute(delete(m.Amphora).where(m.Amphora.loadbalancer_id == lb.id))
    s.execute(delete(m.VrrpGroup).where(m.VrrpGroup.load_balancer_id == lb.id))
    for port_id in vrrp_ports:
        port = s.get(m.Port, port_id)
        if port is not None and port.name.startswith("octavia-lb-vrrp-"):
            s.delete(port)
    if lb.vip_port_id:
        port = s.get(m.Port, lb.vip_port_id)
        if port is not None and port.name == f"octavia-lb-{lb.id}":
            s.delete(port)
    s.delete(lb)


def pending_lb_ids(s: Session) -> list[str]:
    return list(s.scalars(select(m.LoadBalancer.id).where(m.LoadBalancer.provisioning_status.in_(PENDING))))


def rebind(
    s: Session,
    lb_id: str,
    *,
    from_agent_id: str | None,
    from_epoch: int,
    to_agent_id: str | None,
    rebuild: bool,
) -> bool:
    """Move an LB's binding with one compare-and-set UPDATE; True when this caller won.

    The binding epoch always goes up (fencing: the agent that held the old epoch must not run it).
    ``rebuild`` (a move off a dead or drained agent) also bumps the generation, so reports still in
    flight from the old agent are stale, and turns an ACTIVE LB into PENDING_UPDATE until the new
    agent has built it. A first placement of a new LB (or one already pending) needs neither.
    """
    values: dict[str, Any] = {"agent_id": to_agent_id, "binding_epoch": m.LoadBalancer.binding_epoch + 1}
    if rebuild:
        values["generation"] = m.LoadBalancer.generation + 1
        values["provisioning_status"] = case(
            (m.LoadBalancer.provisioning_status == "ACTIVE", "PENDING_UPDATE"),
            else_=m.LoadBalancer.provisioning_status,
        )
    owner = m.LoadBalancer.agent_id.is_(None) if from_agent_id is None else m.LoadBalancer.agent_id == from_agent_id
    res = s.execute(
        update(m.LoadBalancer)
        .where(m.LoadBalancer.id == lb_id, owner, m.LoadBalancer.binding_epoch == from_epoch)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(res.rowcount == 1)  # type: ignore[attr-defined]
