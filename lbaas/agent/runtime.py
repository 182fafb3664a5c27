"""The agent process: a work queue of LB ids, a periodic full resync, a 1 s heartbeat and a 1 s observer.

Triggers only enqueue ids: a nudge from the API, the resync timer (every assigned LB that is new,
changed, failing or not confirmed for ``confirm_interval``, plus every orphan), the observer when an HAProxy has died. The observer also measures operating
status and stats from each HAProxy's socket and reports what changed. Stopping the agent leaves
every HAProxy serving (fail-static); a new agent adopts them on its first resync.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from lbaas.agent.workqueue import Outcome, WorkQueue

log = logging.getLogger(__name__)

Observer = Callable[[str], bool]  # lb_id → False when its HAProxy is not running

# The observer may use at most this share of one core: a sweep over every LB that took c seconds of
# CPU is followed by a pause of at least c / OBSERVE_MAX_DUTY - c. An idle LB costs ~0.4 ms of CPU per
# observation (measured on a loaded 2-core VM), so up to ~600 LBs keep the 1 s period and 2000 LBs are
# observed every ~3 s.
OBSERVE_MAX_DUTY = 0.25


class Reconciles(Protocol):
    """What the agent loop needs from the reconciler (``lbaas.agent.reconciler.Reconciler`` is one)."""

    def reconcile(self, lb_id: str) -> Outcome: ...

    def resync_due(self, lb_id: str, generation: int) -> bool: ...

    def known_ids(self) -> set[str]: ...

    def assigned(self) -> Mapping[str, int]: ...

    def prefetch(self, lb_ids: Iterable[str]) -> None: ...

    def invalidate(self, lb_ids: Iterable[str]) -> None: ...


class Agent:
    def __init__(
        self,
        reconciler: Reconciles,
        *,
        resync_interval: float = 30.0,
        observe_interval: float = 1.0,
        observer: Observer | None = None,
        heartbeat: Callable[[], None] | None = None,
        heartbeat_interval: float | None = None,
        workers: int = 4,
        observe_max_duty: float = OBSERVE_MAX_DUTY,
    ) -> None:
        """``heartbeat_interval``: the heartbeat's own period (default: ``observe_interval``); the
        controller's ``agent_down_time`` is a few of these."""
        self.reconciler = reconciler
        self.queue = WorkQueue(reconciler.reconcile, workers=workers, name="reconcile")
        self._resync_interval = resync_interval
        self._observe_interval = observe_interval
        self._observer = observer
        self._heartbeat = heartbeat
        self._heartbeat_interval = heartbeat_interval if heartbeat_interval is not None else observe_interval
        self._observe_max_duty = observe_max_duty
        self.observe_period = observe_interval  # the last sweep's period (adapted to the number of LBs)
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
        lb_ids = list(lb_ids)
        self.reconciler.invalidate(lb_ids)
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
            assigned = dict(self.reconciler.assigned())
        except Exception as exc:  # fail-static: keep serving what runs, try again next round
            log.warning("resync: desired state unavailable (%s); keeping what runs", exc)
            return
        with self._lock:
            self._assigned = set(assigned)
        due = {lb_id for lb_id, generation in assigned.items() if self.reconciler.resync_due(lb_id, generation)}
        if due:
            try:
                self.reconciler.prefetch(due)
            except Exception as exc:  # an optimisation only: each LB is then read on its own
                log.warning("resync: bulk read failed (%s); reading LB by LB", exc)
        orphans = self.reconciler.known_ids() - set(assigned)
        for lb_id in due | orphans:
            self.queue.add(lb_id)

    def _resync_loop(self) -> None:
        while not self._stop.wait(self._resync_interval):
            self.resync()

    def _heartbeat_loop(self) -> None:
        """Its own thread: liveness must not wait for the observation of every LB (one report per LB;
        with a slow API, observing tens of LBs took longer than agent_down_time and live agents were
        failed over), nor for reconcile work (it waits on no queue or lock they hold)."""
        assert self._heartbeat is not None
        period = self._heartbeat_interval
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
        pause = self._observe_interval
        while not self._stop.wait(pause):
            if self._observer is None:
                continue
            t0, c0 = time.monotonic(), time.thread_time()
            self.observe_all()
            took, cpu = time.monotonic() - t0, time.thread_time() - c0
            pause = observe_pause(self._observe_interval, took, cpu, self._observe_max_duty)
            self.observe_period = took + pause

    def observe_all(self) -> None:
        """One sweep: every assigned LB once, in this thread (no per-LB thread or process)."""
        if self._observer is None:
            return
        with self._lock:
            ids = list(self._assigned)
        for lb_id in ids:
            if self._stop.is_set():
                return
            try:
                alive = self._observer(lb_id)
            except Exception as exc:
                log.debug("observe %s failed: %s", lb_id, exc)
                continue
            if not alive:
                self.queue.add(lb_id)  # dead HAProxy (or not yet started): repair


def observe_pause(interval: float, took: float, cpu: float, max_duty: float) -> float:
    """How long to wait before the next sweep: the rest of ``interval``, stretched so that the sweeps'
    CPU (``cpu`` seconds for the last one, which took ``took``) stays under ``max_duty`` of a core."""
    return max(interval - took, cpu / max_duty - took, 0.05)
