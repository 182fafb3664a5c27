"""The ``noop`` provider: drives PENDING_* → ACTIVE without a data plane.

A worker thread completes each nudged LB at its current generation. With ``hold=True`` it completes
nothing until ``release()``, so tests can observe PENDING states and 409s deterministically.

``on_active(session, lb)`` is called in the completing transaction for each LB that became ACTIVE:
what an agent would record about the running instance (the wiring passes
``services.amphorae.ensure_amphora``; providers sit below services, so it is injected, not imported).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

from lbaas.db import lifecycle
from lbaas.db import models as m
from lbaas.db.session import Database
from lbaas.domain.spec import LoadBalancerSpec
from lbaas.providers.base import AZ_CAPABILITIES, FLAVOR_CAPABILITIES

log = logging.getLogger(__name__)


class NoopProvider:
    name = "noop"
    description = "Drives provisioning to ACTIVE without a data plane (for API tests and dry runs)."

    def __init__(
        self,
        db: Database,
        *,
        hold: bool = False,
        names: frozenset[str] = frozenset({"noop"}),
        on_active: Callable[[Session, m.LoadBalancer], object] | None = None,
    ) -> None:
        self._db = db
        self._names = names  # the LB.provider values this provider completes (noop, and aliases if default)
        self._on_active = on_active
        self._hold = threading.Event()
        if hold:
            self._hold.set()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self._thread = threading.Thread(target=self._run, name="noop-provider", daemon=True)
        self._thread.start()

    def validate(self, lb: LoadBalancerSpec) -> None:
        return None

    def flavor_capabilities(self) -> list[dict[str, str]]:
        return FLAVOR_CAPABILITIES

    def availability_zone_capabilities(self) -> list[dict[str, str]]:
        return AZ_CAPABILITIES

    def nudge(self, lb_ids: Iterable[str]) -> None:
        for lb_id in lb_ids:
            with self._lock:
                if self._hold.is_set():
                    self._held.add(lb_id)
                    continue
                self._busy += 1
            self._queue.put(lb_id)

    def hold(self) -> None:
        self._hold.set()

    def release(self) -> None:
        """Stop holding: complete everything nudged meanwhile."""
        with self._lock:
            self._hold.clear()
            held, self._held = self._held, set()
        self.nudge(held)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while (lb_id := self._queue.get()) is not None:
            try:
                with self._db.write() as s:
                    lb = s.get(m.LoadBalancer, lb_id)
                    if lb is None or lb.provider not in self._names:
                        continue
                    if lifecycle.complete(s, lb_id, lb.generation, ok=True):
                        if self._on_active is not None and lb.provisioning_status == "ACTIVE":
                            self._on_active(s, lb)
            except Exception:  # keep the worker alive; the LB stays pending and can be re-nudged
                log.exception("noop provider failed to complete %s", lb_id)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()
