"""The agent process: a work queue of LB ids, a periodic full resync, a 1 s heartbeat and a 1 s observer.

Triggers only enqueue ids: a nudge from the API, the resync timer (every assigned LB plus every
orphan namespace), the observer when an HAProxy has died. The observer also measures operating
status and stats from each HAProxy's socket and reports what changed. Stopping the agent leaves
every HAProxy serving (fail-static); a new agent adopts them on its first resync.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from lbaas.agent.reconciler import Reconciler
from lbaas.agent.workqueue import WorkQueue

log = logging.getLogger(__name__)

Observer = Callable[[str], bool]  # lb_id → False when its HAProxy is not running


class Agent:
    def __init__(
        self,
        reconciler: Reconciler,
        *,
        resync_interval: float = 30.0,
        observe_interval: float = 1.0,
        observer: Observer | None = None,
        heartbeat: Callable[[], None] | None = None,
        workers: int = 4,
    ) -> None:
        self.reconciler = reconciler
        self.queue = WorkQueue(reconciler.reconcile, workers=workers, name="reconcile")
        self._resync_interval = resync_interval
        self._observe_interval = observe_interval
        self._observer = observer
        self._heartbeat = heartbeat
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._assigned: set[str] = set()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self.queue.start()
        self.resync()
        loops = [(self._resync_loop, "resync"), (self._observe_loop, "observe")]
        if self._heartbeat is not None:
            loops.append((self._heartbeat_loop, "heartbeat"))
        for target, name in loops:
            t = threading.Thread(target=target, name=f"agent-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Stop reconciling; HAProxy processes keep serving."""
        self._stop.set()
        self.queue.stop()
        for t in self._threads:
            t.join(timeout=5)

    def nudge(self, lb_ids: Iterable[str]) -> None:
        for lb_id in lb_ids:
            with self._lock:
                self._assigned.add(lb_id)
            self.queue.add(lb_id)

    # ---------------------------------------------------------------- loops

    def resync(self) -> None:
        """Enqueue every LB this agent should run, and every LB it has state for but should not run.

        Orphans are found from this agent's own state directory, never from namespace names alone:
        another agent (or a test) on the same machine may own other ``qlbaas-*`` namespaces.
        """
        try:
            assigned = set(self.reconciler.source.assigned())
        except Exception as exc:  # fail-static: keep serving what runs, try again next round
            log.warning("resync: desired state unavailable (%s); keeping what runs", exc)
            return
        with self._lock:
            self._assigned = assigned
        for lb_id in assigned | self.reconciler.known_ids():
            self.queue.add(lb_id)

    def _resync_loop(self) -> None:
        while not self._stop.wait(self._resync_interval):
            self.resync()

    def _heartbeat_loop(self) -> None:
        """Its own thread: liveness must not wait for the observation of every LB (one report per LB;
        with a slow API, observing tens of LBs took longer than agent_down_time and live agents were
        failed over)."""
        assert self._heartbeat is not None
        period = self._observe_interval
        next_beat = time.monotonic() + period
        # fixed rate: a slow call does not stretch the period (the controller counts silence from the
        # last heartbeat that arrived, so a late one costs failover time)
        while not self._stop.wait(max(0.0, next_beat - time.monotonic())):
            next_beat = max(next_beat + period, time.monotonic())
            try:
                self._heartbeat()
            except Exception as exc:
                log.debug("heartbeat failed: %s", exc)

    def _observe_loop(self) -> None:
        while not self._stop.wait(self._observe_interval):
            if self._observer is None:
                continue
            with self._lock:
                ids = list(self._assigned)
            for lb_id in ids:
                try:
                    alive = self._observer(lb_id)
                except Exception as exc:
                    log.debug("observe %s failed: %s", lb_id, exc)
                    continue
                if not alive:
                    self.queue.add(lb_id)  # dead HAProxy (or not yet started): repair
