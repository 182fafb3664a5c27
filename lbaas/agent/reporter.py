"""How an agent reports what it measured: applied generations, operating statuses, stats deltas.

``StatusReporter`` is the boundary; ``DbReporter`` writes the database (embedded build), ``ApiReporter``
(``agent.remote``) posts to the API's internal endpoints (scale-out). Reports are
idempotent and carry the generation they describe, so a stale report changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sqlalchemy import select

from lbaas.db import lifecycle
from lbaas.db import models as m
from lbaas.db.session import Database
from lbaas.services import agents, amphorae
from lbaas.services.agents import GAUGES, STAT_FIELDS

__all__ = ["GAUGES", "STAT_FIELDS", "DbReporter", "StatusReporter"]


class StatusReporter(Protocol):
    def applied(self, lb_id: str, generation: int, *, ok: bool, message: str | None = None) -> None:
        """The desired state of ``generation`` is running (ok) or was refused (message says why)."""

    def operating(self, lb_id: str, statuses: Mapping[str, str]) -> None:
        """object id → operating status, as measured from HAProxy."""

    def stats(self, lb_id: str, deltas: Mapping[str, Mapping[str, int]]) -> None:
        """listener id → counter deltas since the last report (gauges: current value)."""

    def instance(self, lb_id: str, amphora_id: str, *, epoch: int, vrrp_state: str, healthy: bool) -> None:
        """ACTIVE_STANDBY: this agent's instance of ``lb_id`` (``spec.vrrp.amphora_id``, at binding
        ``epoch``) as measured: keepalived's VRRP state (MASTER, BACKUP, FAULT or UNKNOWN) and whether
        its HAProxy serves. Reported on change and at every resync; a stale epoch changes nothing."""


class DbReporter:
    def __init__(self, db: Database, *, host: str) -> None:
        self._db = db
        self._host = host

    def _pair(self, lb_id: str) -> bool:
        with self._db.read() as s:
            return s.scalar(select(m.LoadBalancer.topology).where(m.LoadBalancer.id == lb_id)) == "ACTIVE_STANDBY"

    def applied(self, lb_id: str, generation: int, *, ok: bool, message: str | None = None) -> None:
        if self._pair(lb_id):  # ACTIVE_STANDBY: this host's instance applied it (fenced by its binding)
            with self._db.write() as s:
                agents.applied(s, self._host, lb_id, generation, ok=ok, message=message)
            return
        if ok and self._recorded(lb_id, generation):
            return  # a restarted agent confirming what runs: a read, not a write transaction per LB
        with self._db.write() as s:
            done = lifecycle.complete(s, lb_id, generation, ok=ok, message=message)
            lb = s.get(m.LoadBalancer, lb_id)
            if done and ok and lb is not None and lb.provisioning_status == "ACTIVE":
                amphorae.ensure_amphora(s, lb, self._host)

    def _recorded(self, lb_id: str, generation: int) -> bool:
        """Is this success already in the database (the generation observed, the LB ACTIVE with no
        message, its amphora record on this host)? Then ``complete`` would change nothing."""
        with self._db.read() as s:
            row = s.execute(
                select(m.LoadBalancer.observed_generation, m.LoadBalancer.generation,
                       m.LoadBalancer.provisioning_status, m.LoadBalancer.status_message)
                .where(m.LoadBalancer.id == lb_id)
            ).first()  # fmt: skip
            if row is None or row[0] != generation or row[1] != generation:
                return False
            if row[2] != "ACTIVE" or row[3] is not None:
                return False
            computes = s.scalars(
                select(m.Amphora.compute_id).where(m.Amphora.loadbalancer_id == lb_id, m.Amphora.role == "STANDALONE",
                                                   m.Amphora.status == "ALLOCATED")
            ).all()  # fmt: skip
            agent_id = s.scalar(select(m.Agent.id).where(m.Agent.host == self._host))
            return list(computes) == [amphorae.compute_id(agent_id, self._host)]

    def operating(self, lb_id: str, statuses: Mapping[str, str]) -> None:
        if not statuses:
            return
        if self._pair(lb_id):  # ACTIVE_STANDBY: counted only from the authoritative instance
            with self._db.write() as s:
                agents.operating(s, self._host, lb_id, statuses)
            return
        with self._db.write() as s:
            lb = s.get(m.LoadBalancer, lb_id)
            if lb is not None:
                agents.record_operating(s, lb, statuses)

    def stats(self, lb_id: str, deltas: Mapping[str, Mapping[str, int]]) -> None:
        if deltas:
            with self._db.write() as s:
                agents.record_stats(s, lb_id, deltas)

    def instance(self, lb_id: str, amphora_id: str, *, epoch: int, vrrp_state: str, healthy: bool) -> None:
        if self._instance_unchanged(lb_id, amphora_id, epoch, vrrp_state, healthy):
            return  # reported at every resync: a read, not a write transaction, when nothing changed
        with self._db.write() as s:
            agents.instance(s, self._host, lb_id, amphora_id, epoch=epoch, vrrp_state=vrrp_state, healthy=healthy)

    def _instance_unchanged(self, lb_id: str, amphora_id: str, epoch: int, vrrp_state: str, healthy: bool) -> bool:
        with self._db.read() as s:
            row = s.execute(
                select(m.Amphora.binding_epoch, m.Amphora.vrrp_state, m.Amphora.healthy)
                .where(m.Amphora.id == amphora_id, m.Amphora.loadbalancer_id == lb_id)
            ).first()  # fmt: skip
        return row is None or row[0] != epoch or (row[1], row[2]) == (vrrp_state, healthy)
