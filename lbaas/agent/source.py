"""Where an agent reads its desired state from: ids and generations, then whole LB specs.

``DesiredStateSource`` is the boundary; ``DbSource`` reads the database directly (embedded build);
the scale-out agent reads the API's internal endpoint instead and needs no database credentials.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from lbaas.db import models as m
from lbaas.db.base import utcnow
from lbaas.db.session import Database
from lbaas.db.to_spec import TlsResolver, to_spec
from lbaas.domain.spec import LoadBalancerSpec
from lbaas.services import instances


class DesiredStateSource(Protocol):
    def assigned(self) -> Mapping[str, int]:
        """lb_id → generation for every LB this agent should run (or tear down, if deleting)."""

    def get(self, lb_id: str) -> LoadBalancerSpec | None:
        """The desired state, or None when the LB is gone or is not this agent's."""


@runtime_checkable
class PrefetchingSource(Protocol):
    """A source that can read many specs at once (a resync), and be told which ones just changed."""

    def prefetch(self, lb_ids: Iterable[str]) -> None:
        """Read the desired state of ``lb_ids`` in bulk; each is served once by ``get``, if still current."""

    def invalidate(self, lb_ids: Iterable[str]) -> None:
        """These changed (a nudge): drop what was prefetched for them."""


PREFETCH_CHUNK = 500


class DbSource:
    """Embedded: this agent is the only one, so it claims every unbound LB of its providers."""

    def __init__(self, db: Database, *, host: str, providers: Iterable[str], availability_zone: str | None = None,
                 tls: TlsResolver | None = None):
        self._db = db
        self._tls = tls
        self._providers = tuple(providers)
        self._lock = threading.Lock()
        self._prefetched: dict[str, LoadBalancerSpec] = {}
        self._touched: set[str] = set()  # nudged while a prefetch was reading
        with db.write() as s:
            agent = s.scalar(select(m.Agent).where(m.Agent.host == host))
            if agent is None:
                agent = m.Agent(id=m.new_id(), host=host, availability_zone=availability_zone)
                s.add(agent)
            agent.last_heartbeat = utcnow()
            s.flush()
            self.agent_id = agent.id

    def heartbeat(self) -> None:
        # with its microseconds (utcnow() drops them): liveness is judged against a 1 s agent_down_time
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self._db.write() as s:
            s.execute(update(m.Agent).where(m.Agent.id == self.agent_id).values(last_heartbeat=now))

    def assigned(self) -> Mapping[str, int]:
        with self._db.write() as s:
            s.execute(
                update(m.LoadBalancer)
                .where(m.LoadBalancer.agent_id.is_(None), m.LoadBalancer.provider.in_(self._providers),
                       m.LoadBalancer.topology == "SINGLE")
                .values(agent_id=self.agent_id, binding_epoch=m.LoadBalancer.binding_epoch + 1)
            )  # fmt: skip
            rows = s.execute(
                select(m.LoadBalancer.id, m.LoadBalancer.generation).where(m.LoadBalancer.agent_id == self.agent_id)
            )
            out = {lb_id: gen for lb_id, gen in rows}
            # ACTIVE_STANDBY instances are never claimed here: the controller binds each (two agents)
            out.update(instances.assigned(s, self.agent_id))
            return out

    def _claim(self, lb_id: str) -> None:
        """Bind one unbound LB to this agent: what ``assigned`` does for every unbound LB, for one id
        (a provisioning pass need not touch, nor list, every other LB)."""
        with self._db.write() as s:
            s.execute(
                update(m.LoadBalancer)
                .where(m.LoadBalancer.id == lb_id, m.LoadBalancer.agent_id.is_(None),
                       m.LoadBalancer.provider.in_(self._providers), m.LoadBalancer.topology == "SINGLE")
                .values(agent_id=self.agent_id, binding_epoch=m.LoadBalancer.binding_epoch + 1)
            )

    def prefetch(self, lb_ids: Iterable[str]) -> None:
        """One resync's specs in a few bulk queries per chunk, instead of ~10 lazy loads per LB.

        A prefetched spec is used once, and only if the LB's row still shows the same generation,
        binding epoch, deletion and agent (``get`` checks with one narrow query); an LB nudged while
        the prefetch ran is not kept at all."""
        ids = sorted(set(lb_ids))
        with self._lock:
            self._touched.clear()
        specs: dict[str, LoadBalancerSpec] = {}
        for i in range(0, len(ids), PREFETCH_CHUNK):
            chunk = ids[i : i + PREFETCH_CHUNK]
            with self._db.read() as s:
                lbs = s.scalars(
                    select(m.LoadBalancer)
                    .where(m.LoadBalancer.id.in_(chunk), m.LoadBalancer.agent_id == self.agent_id,
                           m.LoadBalancer.provider.in_(self._providers))
                    .options(
                        selectinload(m.LoadBalancer.listeners).selectinload(m.Listener.l7policies)
                        .selectinload(m.L7Policy.rules),
                        selectinload(m.LoadBalancer.pools).selectinload(m.Pool.members),
                        selectinload(m.LoadBalancer.pools).selectinload(m.Pool.healthmonitor),
                    )
                ).all()  # fmt: skip
                # build_vip's session.get() then finds these in the identity map (which holds weak
                # references only: ``held`` keeps them alive until the specs are built)
                held: list[object] = []
                for model, attr in ((m.Port, "vip_port_id"), (m.Subnet, "vip_subnet_id"), (m.Network, "vip_network_id")):
                    keys = {getattr(lb, attr) for lb in lbs} - {None}
                    if keys:
                        held += s.scalars(select(model).where(model.id.in_(keys))).all()
                for lb in lbs:
                    try:
                        specs[lb.id] = to_spec(s, lb, self._tls)
                    except LookupError:
                        continue  # get() reports it in its own turn
        with self._lock:
            for lb_id in self._touched:
                specs.pop(lb_id, None)
            self._touched.clear()
            self._prefetched.update(specs)

    def invalidate(self, lb_ids: Iterable[str]) -> None:
        with self._lock:
            for lb_id in lb_ids:
                self._prefetched.pop(lb_id, None)
                self._touched.add(lb_id)

    def _take_prefetched(self, lb_id: str) -> LoadBalancerSpec | None:
        with self._lock:
            cached = self._prefetched.pop(lb_id, None)
        if cached is None:
            return None
        with self._db.read() as s:
            row = s.execute(
                select(m.LoadBalancer.generation, m.LoadBalancer.binding_epoch, m.LoadBalancer.provisioning_status,
                       m.LoadBalancer.agent_id, m.LoadBalancer.provider)
                .where(m.LoadBalancer.id == lb_id)
            ).first()  # fmt: skip
        if row is None or row[3] != self.agent_id or row[4] not in self._providers:
            return None
        deleting = row[2] in ("PENDING_DELETE", "DELETED")
        if (row[0], row[1], deleting) != (cached.generation, cached.binding_epoch, cached.deleting):
            return None
        return cached

    def get(self, lb_id: str) -> LoadBalancerSpec | None:
        cached = self._take_prefetched(lb_id)
        if cached is not None:
            return cached
        with self._db.read() as s:
            lb = s.get(m.LoadBalancer, lb_id)
            if lb is None or lb.provider not in self._providers:
                return None
            if lb.topology == "ACTIVE_STANDBY":  # this agent's instance of the pair, if it holds one
                amp = instances.of_agent(s, lb_id, self.agent_id)
                return to_spec(s, lb, self._tls, amp) if amp is not None else None
            if lb.agent_id == self.agent_id:
                return to_spec(s, lb, self._tls)
            if lb.agent_id is not None:
                return None
        self._claim(lb_id)  # unbound: claim it (embedded scheduling), then read again
        with self._db.read() as s:
            lb = s.get(m.LoadBalancer, lb_id)
            return to_spec(s, lb, self._tls) if lb is not None and lb.agent_id == self.agent_id else None
