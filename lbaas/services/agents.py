"""Agents: what the internal agent API and the operator's agent endpoints do with the database.

An agent is known by its host name: a heartbeat creates or refreshes its row, so there is no
separate registration step to lose. Everything an agent reads or reports is fenced by the binding:

* ``assigned`` lists only the LBs bound to that agent now, with their generations;
* ``spec_for`` answers None for an LB bound elsewhere (the agent tears its copy down);
* ``applied``, ``operating`` and ``stats`` from an agent the LB is no longer bound to change nothing.

A re-bind (controller failover, drain) also bumps the generation, so even a report that was in
flight across the move carries a stale generation and ``lifecycle.complete`` ignores it.

Stats deltas are accumulated as sent; a retried request after a lost reply can count twice, an
accepted inaccuracy for counters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lbaas.db import lifecycle
from lbaas.db import models as m
from lbaas.db.session import nudge_after_commit
from lbaas.db.to_spec import TlsResolver, to_spec
from lbaas.domain import errors
from lbaas.domain.agents import AgentView, Breaker, Timing, breaker, liveness
from lbaas.domain.spec import LoadBalancerSpec
from lbaas.domain.status import MEMBER_KEY_PREFIX
from lbaas.services import amphorae, instances

STAT_FIELDS = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")
GAUGES = ("active_connections",)


def precise_utcnow() -> dt.datetime:
    """Heartbeats keep their microseconds: liveness is judged in seconds, not whole-second steps."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Beat:
    id: str
    host: str
    admin_state_up: bool


def heartbeat(s: Session, host: str, availability_zone: str | None) -> Beat:
    """Refresh (or create) the agent's row. The hot path, several times a second per agent: one
    UPDATE … RETURNING on the host's unique index, no ORM load, no SELECT first."""
    now = precise_utcnow()
    row = s.execute(
        update(m.Agent)
        .where(m.Agent.host == host)
        .values(last_heartbeat=now, availability_zone=availability_zone)
        .returning(m.Agent.id, m.Agent.host, m.Agent.admin_state_up)
        .execution_options(synchronize_session=False)
    ).first()
    if row is not None:
        return Beat(row[0], row[1], row[2])
    agent = m.Agent(id=m.new_id(), host=host, availability_zone=availability_zone, last_heartbeat=now)
    s.add(agent)
    s.flush()
    return Beat(agent.id, agent.host, agent.admin_state_up)


def _agent_id(s: Session, host: str) -> str | None:
    return s.scalar(select(m.Agent.id).where(m.Agent.host == host))


def assigned(s: Session, host: str) -> dict[str, int]:
    agent_id = _agent_id(s, host)
    if agent_id is None:
        return {}
    rows = s.execute(select(m.LoadBalancer.id, m.LoadBalancer.generation).where(m.LoadBalancer.agent_id == agent_id))
    out = {lb_id: gen for lb_id, gen in rows}
    out.update(instances.assigned(s, agent_id))  # ACTIVE_STANDBY: LBs with an instance bound here
    return out


def _binding(
    s: Session, host: str, lb_id: str, *, lock: bool = False
) -> tuple[m.LoadBalancer, m.Amphora | None] | None:
    """The LB and ``host``'s instance of it (None for a SINGLE LB), if it is bound to ``host``.
    ``lock``: hold the LB's row until commit (SELECT … FOR UPDATE), so the agents' reports on one LB
    run one at a time: an operating report that loaded a member must not race the ``applied`` that
    deletes it (that was a StaleDataError, a 500 to the agent), nor the two instances' reports each other."""
    lb = s.get(m.LoadBalancer, lb_id, populate_existing=True, with_for_update=lock)
    if lb is None:
        return None
    agent_id = _agent_id(s, host)
    if instances.is_pair(lb):
        amp = instances.of_agent(s, lb_id, agent_id)
        return (lb, amp) if amp is not None else None
    if lb.agent_id is None or lb.agent_id != agent_id:
        return None
    return lb, None


def _bound_lb(s: Session, host: str, lb_id: str, *, lock: bool = False) -> m.LoadBalancer | None:
    bound = _binding(s, host, lb_id, lock=lock)
    return bound[0] if bound is not None else None


def spec_for(s: Session, host: str, lb_id: str, tls: TlsResolver | None = None) -> LoadBalancerSpec | None:
    bound = _binding(s, host, lb_id)
    if bound is None:
        return None
    lb, amp = bound
    return to_spec(s, lb, tls, amp)


def applied(s: Session, host: str, lb_id: str, generation: int, *, ok: bool, message: str | None = None) -> bool:
    """Complete ``generation`` if the LB is still bound to ``host``; True when it counted. An ACTIVE_STANDBY
    LB completes when both its instances applied it (``instances.applied``)."""
    bound = _binding(s, host, lb_id, lock=True)
    if bound is None:
        return False
    lb, amp = bound
    if amp is not None:
        return instances.applied(s, lb, amp, generation, ok=ok, message=message)
    done = lifecycle.complete(s, lb_id, generation, ok=ok, message=message)
    lb_ = s.get(m.LoadBalancer, lb_id)
    if done and ok and lb_ is not None and lb_.provisioning_status == "ACTIVE":
        amphorae.ensure_amphora(s, lb_, host)
    return done


def instance(s: Session, host: str, lb_id: str, amphora_id: str, *, epoch: int, vrrp_state: str,
             healthy: bool) -> bool:  # fmt: skip
    """ACTIVE_STANDBY: ``host``'s instance as measured. Changes nothing unless ``amphora_id`` is the
    instance bound to ``host`` now, at ``epoch`` (a stale agent's report is ignored)."""
    bound = _binding(s, host, lb_id, lock=True)
    if bound is None or bound[1] is None or bound[1].id != amphora_id:
        return False
    return instances.record_instance(s, bound[1], epoch=epoch, vrrp_state=vrrp_state, healthy=healthy)


def record_operating(s: Session, lb: m.LoadBalancer, statuses: Mapping[str, str]) -> None:
    objs: dict[str, Any] = {lb.id: lb}
    for obj in lifecycle.iter_tree(lb):
        objs[obj.id] = obj
    for oid, status in statuses.items():
        obj = objs.get(oid)
        if obj is not None and obj.operating_status != status:
            obj.operating_status = status


def record_stats(s: Session, lb_id: str, deltas: Mapping[str, Mapping[str, int]]) -> None:
    """Accumulate deltas: listener ids into ``listener_stats``, ``member:<id>`` keys into ``member_stats``."""
    for key, counters in deltas.items():
        row: m.ListenerStats | m.MemberStats | None
        if key.startswith(MEMBER_KEY_PREFIX):
            row = _member_stats_row(s, lb_id, key.removeprefix(MEMBER_KEY_PREFIX))
            if row is None:
                continue
        else:
            row = s.get(m.ListenerStats, key)
            if row is None:
                row = m.ListenerStats(listener_id=key, loadbalancer_id=lb_id, **dict.fromkeys(STAT_FIELDS, 0))
                s.add(row)
        for f in STAT_FIELDS:
            if f in counters:
                value = counters[f] if f in GAUGES else getattr(row, f) + counters[f]
                setattr(row, f, value)


def _member_stats_row(s: Session, lb_id: str, member_id: str) -> m.MemberStats | None:
    row = s.get(m.MemberStats, member_id)
    if row is not None:
        return row
    member = s.get(m.Member, member_id)
    if member is None or member.pool.loadbalancer_id != lb_id:
        return None  # deleted meanwhile (or not this LB's): nothing to count
    row = m.MemberStats(member_id=member_id, pool_id=member.pool_id, loadbalancer_id=lb_id,
                        **dict.fromkeys(STAT_FIELDS, 0))  # fmt: skip
    s.add(row)
    return row


def operating(s: Session, host: str, lb_id: str, statuses: Mapping[str, str]) -> bool:
    bound = _binding(s, host, lb_id, lock=True)
    if bound is None:
        return False
    lb, amp = bound
    if amp is not None:  # one instance's statuses count (the MASTER's), so the two do not flap each other
        statuses = instances.filter_operating(s, lb, amp, statuses)
    record_operating(s, lb, statuses)
    return True


def stats(s: Session, host: str, lb_id: str, deltas: Mapping[str, Mapping[str, int]]) -> bool:
    if _bound_lb(s, host, lb_id, lock=True) is None:
        return False
    record_stats(s, lb_id, deltas)
    return True


# --------------------------------------------------------------------------- operator view


def views(s: Session) -> list[AgentView]:
    loads = dict(
        s.execute(
            select(m.LoadBalancer.agent_id, func.count())
            .where(m.LoadBalancer.agent_id.is_not(None))
            .group_by(m.LoadBalancer.agent_id)
        ).all()
    )
    for agent_id, n in s.execute(  # ACTIVE_STANDBY instances count as one LB each on their agent
        select(m.Amphora.agent_id, func.count())
        .where(m.Amphora.agent_id.is_not(None), m.Amphora.role.in_(("MASTER", "BACKUP")))
        .group_by(m.Amphora.agent_id)
    ).all():
        loads[agent_id] = loads.get(agent_id, 0) + n
    return [
        AgentView(
            id=a.id,
            host=a.host,
            availability_zone=a.availability_zone,
            admin_state_up=a.admin_state_up,
            last_heartbeat=a.last_heartbeat,
            load=int(loads.get(a.id, 0)),
        )
        for a in s.scalars(select(m.Agent).order_by(m.Agent.host))
    ]


def agent_view(a: AgentView, now: dt.datetime, timing: Timing) -> dict[str, Any]:
    state = liveness(a.last_heartbeat, now, timing)
    return {
        "id": a.id,
        "host": a.host,
        "availability_zone": a.availability_zone,
        "admin_state_up": a.admin_state_up,
        "alive": state == "ALIVE",
        "liveness": str(state),
        "loadbalancer_count": a.load,
        "last_heartbeat": a.last_heartbeat.isoformat() if a.last_heartbeat else None,
    }


def fleet_breaker(s: Session, timing: Timing, *, max_share: float) -> Breaker:
    return breaker(views(s), precise_utcnow(), timing, max_share=max_share)


def get(s: Session, agent_id: str) -> m.Agent:
    agent = s.get(m.Agent, agent_id) or s.scalar(select(m.Agent).where(m.Agent.host == agent_id))
    if agent is None:
        raise errors.NotFound("Agent", agent_id)
    return agent


def set_admin_state(s: Session, agent_id: str, up: bool) -> m.Agent:
    """Disabled agents get no new load balancers; the ones they run stay (see ``drain``)."""
    agent = get(s, agent_id)
    agent.admin_state_up = up
    s.flush()
    return agent


def drain(s: Session, agent_id: str) -> list[str]:
    """Disable the agent and unbind its load balancers; the controller places them elsewhere.

    Each LB gets a new binding epoch and generation (a new instance is built on the new agent);
    the old agent, nudged, sees them as no longer its own and tears its copies down.
    """
    agent = set_admin_state(s, agent_id, False)
    moved = []
    for lb_id, epoch in s.execute(
        select(m.LoadBalancer.id, m.LoadBalancer.binding_epoch).where(m.LoadBalancer.agent_id == agent.id)
    ).all():
        if lifecycle.rebind(s, lb_id, from_agent_id=agent.id, from_epoch=epoch, to_agent_id=None, rebuild=True):
            nudge_after_commit(s, lb_id)
            moved.append(lb_id)
    # ACTIVE_STANDBY: this agent's instances are marked for replacement; the controller rebuilds each
    # elsewhere (a new record) while the peer keeps serving
    for amp in s.scalars(
        select(m.Amphora).where(m.Amphora.agent_id == agent.id, m.Amphora.role.in_(("MASTER", "BACKUP")),
                                m.Amphora.status != instances.REPLACED)
    ).all():  # fmt: skip
        amp.status = instances.REPLACED
        if amp.loadbalancer_id:
            nudge_after_commit(s, amp.loadbalancer_id)
            moved.append(amp.loadbalancer_id)
    return moved
