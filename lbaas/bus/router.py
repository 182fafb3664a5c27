"""From committed LB ids to agent hosts, off the request path.

``NudgeRouter.deliver`` is what the API hands the haproxy provider: it only queues the ids and
returns, so a slow or unreachable broker never delays an API response. A background thread reads,
for each LB, the host it is bound to and the hosts that last ran it (amphora records) and nudges
all of them: the new holder builds it, a previous holder tears its copy down at once instead of at
its next resync. An unbound LB needs no message: the controller polls for those.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas.bus.base import Nudger
from lbaas.db import models as m
from lbaas.db.session import Database

log = logging.getLogger(__name__)


def targets(s: Session, lb_ids: Iterable[str]) -> dict[str, set[str]]:
    """host → the given LB ids that host should look at (bound there, or last ran there)."""
    ids = list(set(lb_ids))
    out: dict[str, set[str]] = {}
    if not ids:
        return out
    bound = s.execute(
        select(m.LoadBalancer.id, m.Agent.host)
        .join(m.Agent, m.Agent.id == m.LoadBalancer.agent_id)
        .where(m.LoadBalancer.id.in_(ids))
    )
    ran = s.execute(
        select(m.Amphora.loadbalancer_id, m.Agent.host)
        .join(m.Agent, m.Agent.id == m.Amphora.agent_id)
        .where(m.Amphora.loadbalancer_id.in_(ids))
    )
    for lb_id, host in [*bound, *ran]:
        if lb_id is not None:
            out.setdefault(host, set()).add(lb_id)
    return out


class NudgeRouter:
    def __init__(self, db: Database, nudger: Nudger) -> None:
        self._db = db
        self._nudger = nudger
        self._queue: queue.Queue[set[str] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="nudge-router", daemon=True)
        self._thread.start()

    def deliver(self, lb_ids: Iterable[str]) -> None:
        ids = set(lb_ids)
        if ids:
            self._queue.put(ids)

    def route(self, lb_ids: Iterable[str]) -> None:
        with self._db.read() as s:
            by_host = targets(s, lb_ids)
        for host, ids in by_host.items():
            self._nudger.publish(host, ids)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while (ids := self._queue.get()) is not None:
            while not self._queue.empty():  # fold a burst into one routing query
                more = self._queue.get_nowait()
                if more is None:
                    self._queue.put(None)
                    break
                ids |= more
            try:
                self.route(ids)
            except Exception as exc:  # a lost nudge costs latency only (agents resync)
                log.warning("could not route nudges for %d LBs: %s", len(ids), exc)
