"""A per-key coalescing work queue: at most one worker per load balancer, bursts folded into one run.

Triggers (a nudge, the periodic resync, a dead HAProxy, start-up) only ``add(lb_id)``. If the key is
already queued nothing changes; if it is running it is marked dirty and runs once more afterwards.
Failures come back with a delay (exponential backoff per key). This is the controller-runtime
workqueue shape, with threads because every step below it is a blocking syscall or subprocess.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    requeue_after: float | None = None
    message: str = ""


class WorkQueue:
    def __init__(
        self,
        handler: Callable[[str], Outcome],
        *,
        workers: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        name: str = "lbq",
    ) -> None:
        self._handler = handler
        self._workers = workers
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._name = name
        self._cv = threading.Condition()
        self._heap: list[tuple[float, int, str]] = []
        self._due: dict[str, float] = {}
        self._running: set[str] = set()
        self._dirty: set[str] = set()
        self._failures: dict[str, int] = {}
        self._seq = 0
        self._stopped = False
        self._threads: list[threading.Thread] = []
        # Called after every run with (seconds, ok): the service metrics' reconcile histogram.
        self.observe: Callable[[float, bool], None] | None = None

    def start(self) -> None:
        for i in range(self._workers):
            t = threading.Thread(target=self._run, name=f"{self._name}-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        for t in self._threads:
            t.join(timeout=10)

    def add(self, key: str, delay: float = 0.0) -> None:
        due = time.monotonic() + delay
        with self._cv:
            if key in self._running:
                if delay == 0.0:
                    self._dirty.add(key)
                else:
                    self._push(key, due)
                return
            if key in self._due and self._due[key] <= due:
                return
            self._push(key, due)
            self._cv.notify()

    def _push(self, key: str, due: float) -> None:
        self._due[key] = due
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, key))

    def pending(self) -> int:
        with self._cv:
            return len(self._due) + len(self._running)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        with self._cv:
            while self._running or any(d <= time.monotonic() for d in self._due.values()):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.05))
            return True

    def _next(self) -> str | None:
        with self._cv:
            while not self._stopped:
                now = time.monotonic()
                while self._heap:
                    due, _, key = self._heap[0]
                    if self._due.get(key) != due:  # superseded entry
                        heapq.heappop(self._heap)
                        continue
                    if key in self._running:
                        heapq.heappop(self._heap)
                        del self._due[key]
                        self._dirty.add(key)
                        continue
                    break
                if self._heap and self._heap[0][0] <= now:
                    _, _, key = heapq.heappop(self._heap)
                    del self._due[key]
                    self._running.add(key)
                    return key
                wait = (self._heap[0][0] - now) if self._heap else None
                self._cv.wait(wait)
            return None

    def _run(self) -> None:
        while (key := self._next()) is not None:
            t0 = time.monotonic()
            try:
                outcome = self._handler(key)
            except Exception as exc:  # a bug in a step must not kill the worker
                log.exception("reconcile of %s raised", key)
                outcome = Outcome(ok=False, message=str(exc))
            if self.observe is not None:
                try:
                    self.observe(time.monotonic() - t0, outcome.ok)
                except Exception:  # metrics must never stop a worker
                    log.debug("workqueue observer failed", exc_info=True)
            with self._cv:
                self._running.discard(key)
                if outcome.ok:
                    self._failures.pop(key, None)
                    delay = outcome.requeue_after
                else:
                    n = self._failures.get(key, 0) + 1
                    self._failures[key] = n
                    delay = min(self._backoff_base * 2 ** (n - 1), self._backoff_max)
                    if outcome.requeue_after is not None:
                        delay = min(delay, outcome.requeue_after)
                if key in self._dirty:
                    self._dirty.discard(key)
                    delay = 0.0 if outcome.ok else delay
                if delay is not None:
                    self._push(key, time.monotonic() + delay)
                self._cv.notify_all()
