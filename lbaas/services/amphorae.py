"""Amphorae: Octavia's admin view of where each load balancer runs.

We have no service VMs. An "amphora" here is one running instance of a load balancer: its HAProxy
in a namespace on an agent host. ``compute_id`` names that host as Octavia names a VM, by a UUID: the
agent's id (``GET /v2/octavia/agents/{compute_id}`` gives its host). ``ha_ip``/``ha_port_id`` are the VIP
and its port. A SINGLE LB has one STANDALONE record; its namespace holds the VIP itself on the VIP port,
so that port is also its ``vrrp_port_id`` and the VIP its ``vrrp_ip``. An ACTIVE_STANDBY LB has two
(MASTER and BACKUP) with their own vrrp ports and bindings, made and moved by ``services.instances`` and
the controller.

The record is written by whatever runs the LB: the agent when it has applied a generation, the
noop provider (through its ``on_active`` hook) in API-only deployments, via ``ensure_amphora``.
Deleting the LB removes its amphorae (``db.lifecycle._delete_lb``).

A failover replaces the instance, so it gets a new record with a new id, as in Octavia: the failover
marks the record PENDING_DELETE (the scheduler still reads its agent, to place the LB elsewhere), and
the next ``ensure_amphora`` for the LB swaps it for a new one; so does an LB found on another host.
Every record has ``updated_at`` (its creation time until it changes).

Failover and config push act on the amphora's load balancer through the same compare-and-set lock
as every other change, so they follow Octavia's status rules (ACTIVE/ERROR for failover, ACTIVE for
a config push).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas.db import lifecycle
from lbaas.db import models as m
from lbaas.domain import errors
from lbaas.services import instances, load_balancers
from lbaas.services.common import nudge_after_commit
from lbaas.services.context import RequestContext

REPLACED = "PENDING_DELETE"  # a failed-over instance, until its replacement runs
STAT_FIELDS = ("active_connections", "bytes_in", "bytes_out", "request_errors", "total_connections")
_HOST_NAMESPACE = uuid.UUID("6f1c2a4e-9d1b-5c3e-8a7f-2b4d6e8f0a1c")


def compute_id(agent_id: str | None, host: str) -> str:
    """An instance's ``compute_id``: its agent's id; a host with no agent row (the noop provider) gets a
    UUID derived from its name, the same every time."""
    return agent_id if agent_id is not None else str(uuid.uuid5(_HOST_NAMESPACE, host))


def ensure_amphora(s: Session, lb: m.LoadBalancer, agent_host: str) -> m.Amphora:
    """Create or refresh the STANDALONE record of ``lb`` running on ``agent_host``; mark it ALLOCATED.

    Idempotent: an unchanged record is not rewritten (its updated_at stays). A record that a failover
    marked PENDING_DELETE, or one of another host, is replaced by a new record (a new id).
    """
    agent = s.scalars(select(m.Agent).where(m.Agent.host == agent_host)).first()
    if instances.is_pair(lb):
        return _ensure_pair(s, lb, agent_host, agent)
    amp = s.scalars(
        select(m.Amphora).where(m.Amphora.loadbalancer_id == lb.id, m.Amphora.role == "STANDALONE")
    ).first()
    compute = compute_id(agent.id if agent is not None else None, agent_host)
    if amp is not None and (amp.status == REPLACED or (amp.compute_id is not None and amp.compute_id != compute)):
        s.delete(amp)
        s.flush()
        amp = None
    if amp is None:  # (no query after this add: an autoflush would turn one INSERT into INSERT + UPDATE)
        now = m.utcnow()
        amp = m.Amphora(id=m.new_id(), loadbalancer_id=lb.id, role="STANDALONE", created_at=now, updated_at=now)
        s.add(amp)
    wanted: dict[str, Any] = {
        "agent_id": agent.id if agent is not None else None,
        "compute_id": compute,
        "ha_ip": lb.vip_address,
        "ha_port_id": lb.vip_port_id,
        "vrrp_ip": lb.vip_address,
        "vrrp_port_id": lb.vip_port_id,
        "cached_zone": (agent.availability_zone if agent is not None else None) or lb.availability_zone,
        "status": "ALLOCATED",
    }
    for name, value in wanted.items():
        if getattr(amp, name) != value:
            setattr(amp, name, value)
    s.flush()
    return amp


def _ensure_pair(s: Session, lb: m.LoadBalancer, agent_host: str, agent: m.Agent | None) -> m.Amphora:
    """An ACTIVE_STANDBY LB run by a provider without agents (noop): both instances are marked running
    there (nothing runs; the records show the pair as a real deployment would)."""
    out = None
    for amp in instances.live(instances.rows(s, lb.id)):
        if amp.agent_id is None and amp.compute_id is None:
            amp.compute_id = compute_id(agent.id if agent is not None else None, agent_host)
        if amp.status != "ALLOCATED":
            amp.status = "ALLOCATED"
        out = out or amp
    s.flush()
    if out is None:
        raise errors.Conflict(f"Load balancer {lb.id} has no instances.")
    return out


def get(s: Session, amphora_id: str) -> m.Amphora:
    amp = s.get(m.Amphora, amphora_id)
    if amp is None:
        raise errors.NotFound("Amphora", amphora_id)
    return amp


def stats(s: Session, amphora_id: str) -> list[dict[str, Any]]:
    """One entry per listener of the amphora's LB (zeros until the agent reports)."""
    amp = get(s, amphora_id)
    if amp.loadbalancer_id is None:
        return []
    listeners = s.scalars(
        select(m.Listener.id)
        .where(m.Listener.loadbalancer_id == amp.loadbalancer_id)
        .order_by(m.Listener.created_at, m.Listener.id)
    )
    rows = {
        r.listener_id: r
        for r in s.scalars(select(m.ListenerStats).where(m.ListenerStats.loadbalancer_id == amp.loadbalancer_id))
    }
    out = []
    for listener_id in listeners:
        row = rows.get(listener_id)
        out.append(
            {
                "id": amp.id,
                "listener_id": listener_id,
                "loadbalancer_id": amp.loadbalancer_id,
                **{f: getattr(row, f) if row is not None else 0 for f in STAT_FIELDS},
            }
        )
    return out


def _lb_id(amp: m.Amphora) -> str:
    if amp.loadbalancer_id is None:
        raise errors.Conflict(f"Amphora {amp.id} is not serving a load balancer.")
    return amp.loadbalancer_id


def failover(s: Session, ctx: RequestContext, amphora_id: str) -> None:
    """Replace this instance: the same as failing over its load balancer (ACTIVE or ERROR → PENDING_UPDATE).
    An instance of an ACTIVE_STANDBY pair is replaced alone; its peer keeps serving (and the VIP)."""
    amp = get(s, amphora_id)
    lb_id = _lb_id(amp)
    lb = s.get(m.LoadBalancer, lb_id)
    if lb is not None and instances.is_pair(lb):
        lifecycle.lock_for_failover(s, lb_id)
        instances.mark_replaced(s, lb_id, [amp.id])
        nudge_after_commit(s, lb_id)
        return
    load_balancers.failover(s, ctx, lb_id)


def push_config(s: Session, amphora_id: str) -> None:
    """Re-render and reload the instance's configuration: a new generation of its LB (ACTIVE only)."""
    lb_id = _lb_id(get(s, amphora_id))
    lifecycle.cas_lock_lb(s, lb_id, child=False)
    nudge_after_commit(s, lb_id)


def delete(s: Session, amphora_id: str) -> None:
    """Forget a failed instance (status ERROR only); its LB is nudged so a healthy one is put back."""
    amp = get(s, amphora_id)
    if amp.status != "ERROR":
        raise errors.ImmutableObject("Amphora", amp.id)
    lb_id = amp.loadbalancer_id
    lb = s.get(m.LoadBalancer, lb_id) if lb_id else None
    if lb is not None and instances.is_pair(lb):  # one of a pair: rebuilt in its slot (the controller)
        instances.mark_replaced(s, lb.id, [amp.id])
        nudge_after_commit(s, lb.id)
        return
    s.delete(amp)
    if lb_id is not None:
        nudge_after_commit(s, lb_id)
