"""Where an agent reads its desired state from: ids and generations, then whole LB specs.

``DesiredStateSource`` is the boundary; ``DbSource`` reads the database directly (embedded build);
the scale-out agent reads the API's internal endpoint instead and needs no database credentials.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from sqlalchemy import select, update

from lbaas.db import models as m
from lbaas.db.base import utcnow
from lbaas.db.session import Database
from lbaas.db.to_spec import to_spec
from lbaas.domain.spec import LoadBalancerSpec


class DesiredStateSource(Protocol):
    def assigned(self) -> Mapping[str, int]:
        """lb_id → generation for every LB this agent should run (or tear down, if deleting)."""

    def get(self, lb_id: str) -> LoadBalancerSpec | None:
        """The desired state, or None when the LB is gone or is not this agent's."""


class DbSource:
    """Embedded: this agent is the only one, so it claims every unbound LB of its providers."""

    def __init__(self, db: Database, *, host: str, providers: Iterable[str], availability_zone: str | None = None):
        self._db = db
        self._providers = tuple(providers)
        with db.write() as s:
            agent = s.scalar(select(m.Agent).where(m.Agent.host == host))
            if agent is None:
                agent = m.Agent(id=m.new_id(), host=host, availability_zone=availability_zone)
                s.add(agent)
            agent.last_heartbeat = utcnow()
            s.flush()
            self.agent_id = agent.id

    def heartbeat(self) -> None:
        with self._db.write() as s:
            s.execute(update(m.Agent).where(m.Agent.id == self.agent_id).values(last_heartbeat=utcnow()))

    def assigned(self) -> Mapping[str, int]:
        with self._db.write() as s:
            s.execute(
                update(m.LoadBalancer)
                .where(m.LoadBalancer.agent_id.is_(None), m.LoadBalancer.provider.in_(self._providers))
                .values(agent_id=self.agent_id, binding_epoch=m.LoadBalancer.binding_epoch + 1)
            )
            rows = s.execute(
                select(m.LoadBalancer.id, m.LoadBalancer.generation).where(m.LoadBalancer.agent_id == self.agent_id)
            )
            return {lb_id: gen for lb_id, gen in rows}

    def _claim(self, lb_id: str) -> None:
        """Bind one unbound LB to this agent: what ``assigned`` does for every unbound LB, for one id
        (a provisioning pass need not touch, nor list, every other LB)."""
        with self._db.write() as s:
            s.execute(
                update(m.LoadBalancer)
                .where(m.LoadBalancer.id == lb_id, m.LoadBalancer.agent_id.is_(None),
                       m.LoadBalancer.provider.in_(self._providers))
                .values(agent_id=self.agent_id, binding_epoch=m.LoadBalancer.binding_epoch + 1)
            )

    def get(self, lb_id: str) -> LoadBalancerSpec | None:
        with self._db.read() as s:
            lb = s.get(m.LoadBalancer, lb_id)
            if lb is None or lb.provider not in self._providers:
                return None
            if lb.agent_id == self.agent_id:
                return to_spec(s, lb)
            if lb.agent_id is not None:
                return None
        self._claim(lb_id)  # unbound: claim it (embedded scheduling), then read again
        with self._db.read() as s:
            lb = s.get(m.LoadBalancer, lb_id)
            return to_spec(s, lb) if lb is not None and lb.agent_id == self.agent_id else None
