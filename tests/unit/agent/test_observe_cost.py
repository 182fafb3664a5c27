"""What keeps the observer cheap at thousands of LBs: one socket round trip per LB, no parsing when
nothing but time moved, a sweep period stretched to a CPU budget, and a heartbeat that a long sweep
cannot delay."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import lbaas.agent.observe as observe
from lbaas.agent.haproxy.process import FakeHaproxyProcess
from lbaas.agent.haproxy.stats import StatsParseError, split_info_stat, stat_signature
from lbaas.agent.netns.fake import FakePlumber
from lbaas.agent.observe import Observer
from lbaas.agent.reconciler import AgentConfig, Reconciler
from lbaas.agent.runtime import Agent, observe_pause
from tests.unit.agent.test_observe_robust import BACKEND, LISTENER, the_spec
from tests.unit.agent.test_reconciler import LB, Reports, Source

HEADER = "# pxname,svname,scur,slim,stot,status,type,lastchg,check_duration,downtime\n"


def stat(*, stot: int = 0, m1: str = "UP", lastchg: int = 5, dur: int = 1) -> str:
    return HEADER + "\n".join([
        f"{LISTENER},FRONTEND,0,2000,{stot},OPEN,0,,,",
        f"{BACKEND},member-1,0,,0,{m1},2,{lastchg},{dur},{lastchg}",
        f"{BACKEND},member-2,0,,0,UP,2,{lastchg},{dur},0",
        f"{BACKEND},BACKEND,0,2000,0,UP,1,{lastchg},,0",
    ]) + "\n"  # fmt: skip


def test_stat_signature_ignores_what_moves_with_time_alone() -> None:
    assert stat_signature(stat(lastchg=5, dur=1)) == stat_signature(stat(lastchg=6, dur=3))
    assert stat_signature(stat()) != stat_signature(stat(stot=1))
    assert stat_signature(stat()) != stat_signature(stat(m1="DOWN"))
    assert stat_signature("# pxname,svname\na,b\n") == "# pxname,svname\na,b\n"  # nothing volatile


def test_split_info_stat() -> None:
    info, st = split_info_stat("Name: HAProxy\nPid: 7\n\n" + stat() + "\n")
    assert info == "Name: HAProxy\nPid: 7\n" and st.startswith("# pxname,") and st.endswith("\n\n")
    assert split_info_stat(stat()) == ("", stat())
    with pytest.raises(StatsParseError):
        split_info_stat("Name: HAProxy\n")


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.reports = Reports()
        self.haproxy = FakeHaproxyProcess()
        self.rec = Reconciler(config=AgentConfig(state_dir=tmp_path), source=Source({LB: the_spec()}),
                              reporter=self.reports, plumber=FakePlumber(), haproxy=self.haproxy)  # fmt: skip
        assert self.rec.reconcile(LB).ok
        self.haproxy.responses["show info"] = "Name: HAProxy\nPid: 42\n"
        self.haproxy.responses["show stat"] = stat()
        self.observer = Observer(self.rec, self.reports)


def test_an_idle_lb_is_one_round_trip_and_no_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = Setup(tmp_path)
    parsed: list[int] = []
    real = observe.parse_show_stat
    monkeypatch.setattr(observe, "parse_show_stat", lambda text: parsed.append(1) or real(text))
    log = s.haproxy.lbs[s.rec.paths(LB)].runtime_log
    assert s.observer.observe(LB)
    assert log == ["show info;show stat"] and len(parsed) == 1
    first = len(s.reports.operating_calls)
    for i in range(3):
        s.haproxy.responses["show stat"] = stat(lastchg=6 + i, dur=i)  # time moved, nothing else
        assert s.observer.observe(LB)
    assert len(parsed) == 1 and len(log) == 4
    assert len(s.reports.operating_calls) == first and s.reports.stats_calls[1:] == []

    s.haproxy.responses["show stat"] = stat(m1="DOWN")
    assert s.observer.observe(LB)
    assert len(parsed) == 2 and s.reports.operating_calls[-1][1]["member-1"] == "ERROR"
    s.haproxy.responses["show stat"] = stat(m1="DOWN", stot=3)
    assert s.observer.observe(LB)
    assert s.reports.stats_calls[-1] == (LB, {LISTENER: {"total_connections": 3}})


def test_a_new_generation_is_measured_again_even_if_haproxy_answers_the_same(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    assert s.observer.observe(LB)
    calls = len(s.reports.operating_calls)
    mem = s.rec.memory(LB)
    assert mem is not None and mem.applied is not None
    mem.applied = mem.applied.model_copy(update={"generation": mem.applied.generation + 1, "admin_state_up": False})
    assert s.observer.observe(LB)
    assert len(s.reports.operating_calls) == calls + 1  # the LB's own status follows admin_state_up


def test_a_failed_report_is_retried_on_the_next_tick(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    assert s.observer.observe(LB)
    s.haproxy.responses["show stat"] = stat(stot=5)
    real = s.reports.stats
    s.reports.stats = lambda *a: (_ for _ in ()).throw(RuntimeError("db down"))  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        s.observer.observe(LB)
    s.reports.stats = real  # type: ignore[method-assign]
    assert s.observer.observe(LB)
    assert s.reports.stats_calls[-1] == (LB, {LISTENER: {"total_connections": 5}})


def test_observe_pause_keeps_the_period_while_cheap_and_stretches_it_to_the_cpu_budget() -> None:
    assert observe_pause(1.0, took=0.1, cpu=0.05, max_duty=0.25) == pytest.approx(0.9)
    assert observe_pause(1.0, took=0.6, cpu=0.5, max_duty=0.25) == pytest.approx(1.4)  # 0.5 s CPU per 2 s
    assert observe_pause(1.0, took=3.0, cpu=0.1, max_duty=0.25) == pytest.approx(0.05)  # slow I/O, little CPU


def test_a_long_sweep_does_not_delay_the_heartbeat(tmp_path: Path) -> None:
    beats: list[float] = []
    release = threading.Event()

    def slow_observer(lb_id: str) -> bool:
        release.wait(3.0)
        return True

    rec = Reconciler(config=AgentConfig(state_dir=tmp_path), source=Source({LB: the_spec()}), reporter=Reports(),
                     plumber=FakePlumber(), haproxy=FakeHaproxyProcess())  # fmt: skip
    agent = Agent(rec, resync_interval=60, observe_interval=0.05, observer=slow_observer,
                  heartbeat=lambda: beats.append(time.monotonic()))  # fmt: skip
    agent.start()
    try:
        deadline = time.monotonic() + 5
        while len(beats) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(beats) >= 5, "the heartbeat waited for the observer"
    finally:
        release.set()
        agent.stop()


def test_a_restarted_observer_does_not_report_again_what_was_reported_for_this_generation(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    assert s.observer.observe(LB)
    first = len(s.reports.operating_calls)
    assert first == 1
    restarted = Observer(s.rec, s.reports)  # a new agent process, same state dir
    assert restarted.observe(LB)
    assert len(s.reports.operating_calls) == first  # statuses.json said so: no write per LB at restart

    s.haproxy.responses["show stat"] = stat(m1="DOWN")
    assert Observer(s.rec, s.reports).observe(LB)  # a change while no agent watched: reported
    assert s.reports.operating_calls[-1][1]["member-1"] == "ERROR"

    mem = s.rec.memory(LB)
    assert mem is not None and mem.applied is not None
    mem.applied = mem.applied.model_copy(update={"generation": mem.applied.generation + 1})
    calls = len(s.reports.operating_calls)
    assert Observer(s.rec, s.reports).observe(LB)  # another generation: everything reported again
    assert len(s.reports.operating_calls) == calls + 1
    assert set(s.reports.operating_calls[-1][1]) >= {LB, LISTENER, "member-1", "member-2"}


def test_the_heartbeat_has_its_own_period_and_does_not_wait_for_reconcile_work(tmp_path: Path) -> None:
    """Heartbeats every ``heartbeat_interval`` (here much faster than observation), while every reconcile
    worker is stuck on a slow read of the desired state."""
    beats: list[float] = []
    release = threading.Event()

    class StuckSource(Source):
        def get(self, lb_id: str) -> Any:
            release.wait(5.0)
            return super().get(lb_id)

    rec = Reconciler(config=AgentConfig(state_dir=tmp_path), source=StuckSource({LB: the_spec()}), reporter=Reports(),
                     plumber=FakePlumber(), haproxy=FakeHaproxyProcess())  # fmt: skip
    agent = Agent(rec, resync_interval=60, observe_interval=30, heartbeat=lambda: beats.append(time.monotonic()),
                  heartbeat_interval=0.05)  # fmt: skip
    agent.start()
    try:
        deadline = time.monotonic() + 5
        while len(beats) < 8 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(beats) >= 8, "the heartbeat waited for reconcile work or for the observation period"
        assert not release.is_set()  # the reconcile was still stuck meanwhile
    finally:
        release.set()
        agent.stop()
