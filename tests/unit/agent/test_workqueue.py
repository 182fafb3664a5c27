"""The work queue: one worker per key, bursts coalesce, failures back off, dirty keys run again."""

from __future__ import annotations

import threading
import time
from collections import Counter

from lbaas.agent.workqueue import Outcome, WorkQueue


def test_burst_for_one_key_coalesces_and_never_runs_concurrently() -> None:
    running: set[str] = set()
    overlap = []
    calls: Counter[str] = Counter()
    gate = threading.Event()

    def handler(key: str) -> Outcome:
        if key in running:
            overlap.append(key)
        running.add(key)
        calls[key] += 1
        gate.wait(2)
        running.discard(key)
        return Outcome(ok=True)

    q = WorkQueue(handler, workers=4)
    q.start()
    try:
        q.add("lb1")
        time.sleep(0.05)  # lb1 is now running
        for _ in range(50):
            q.add("lb1")  # all of these fold into one more run
        gate.set()
        assert q.wait_idle(5)
    finally:
        q.stop()
    assert overlap == []
    assert calls["lb1"] == 2


def test_distinct_keys_run_in_parallel() -> None:
    barrier = threading.Barrier(3, timeout=2)

    def handler(key: str) -> Outcome:
        barrier.wait()  # only passes if three keys run at once
        return Outcome(ok=True)

    q = WorkQueue(handler, workers=3)
    q.start()
    try:
        for k in ("a", "b", "c"):
            q.add(k)
        assert q.wait_idle(5)
    finally:
        q.stop()
    assert not barrier.broken


def test_failures_are_retried_with_backoff_until_success() -> None:
    attempts: list[float] = []

    def handler(key: str) -> Outcome:
        attempts.append(time.monotonic())
        return Outcome(ok=len(attempts) >= 3, message="boom")

    q = WorkQueue(handler, workers=1, backoff_base=0.05)
    q.start()
    try:
        q.add("lb")
        deadline = time.monotonic() + 3
        while len(attempts) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
    finally:
        q.stop()
    assert len(attempts) == 3  # stops retrying once ok
    assert attempts[2] - attempts[1] >= attempts[1] - attempts[0] >= 0.04  # exponential


def test_a_raising_handler_does_not_kill_the_worker() -> None:
    seen: list[str] = []

    def handler(key: str) -> Outcome:
        seen.append(key)
        if key == "bad":
            raise RuntimeError("bug")
        return Outcome(ok=True)

    q = WorkQueue(handler, workers=1, backoff_base=10)
    q.start()
    try:
        q.add("bad")
        q.add("good")
        deadline = time.monotonic() + 2
        while "good" not in seen and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        q.stop()
    assert "good" in seen
