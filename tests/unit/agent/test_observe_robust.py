"""The observer on fakes: statuses reported only when they change, counters as deltas across resets."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbaas.agent.haproxy.process import FakeHaproxyProcess
from lbaas.agent.netns.fake import FakePlumber
from lbaas.agent.observe import Observer
from lbaas.agent.reconciler import AgentConfig, Reconciler
from lbaas.domain.spec import LoadBalancerSpec
from tests.unit.agent.haproxy.cases import http_lb, member
from tests.unit.agent.test_reconciler import LB, Reports, Source

LISTENER = "listener-80"
BACKEND = f"pool-a:{LISTENER}"
HEADER = "# pxname,svname,scur,slim,stot,bin,bout,ereq,status,weight,type,check_status\n"


def show_stat(m1: str = "UP", m2: str = "UP", *, stot: int = 0, bin_: int = 0, bout: int = 0, scur: int = 0) -> str:
    rows = [
        f"{LISTENER},FRONTEND,{scur},9000,{stot},{bin_},{bout},0,OPEN,,0,",
        f"{BACKEND},member-1,0,,0,0,0,,{m1},1,2,L4OK",
        f"{BACKEND},member-2,0,,0,0,0,,{m2},1,2,L4OK",
        f"{BACKEND},BACKEND,0,9000,0,0,0,,UP,2,1,",
    ]
    return HEADER + "\n".join(rows) + "\n"


def the_spec() -> LoadBalancerSpec:
    return http_lb(members=(member("member-1", "198.51.100.11"), member("member-2", "198.51.100.12")))


class Setup:
    def __init__(self, tmp_path: Path, *, adopted: bool = False) -> None:
        self.reports = Reports()
        self.source = Source({LB: the_spec()})
        self.haproxy = FakeHaproxyProcess()
        self.rec = Reconciler(config=AgentConfig(state_dir=tmp_path), source=self.source, reporter=self.reports,
                              plumber=FakePlumber(), haproxy=self.haproxy)  # fmt: skip
        self.set_stat(show_stat())
        assert self.rec.reconcile(LB).ok
        if adopted:  # what a new agent process finds: the same HAProxy, running
            self.rec = Reconciler(config=AgentConfig(state_dir=tmp_path), source=self.source,
                                  reporter=self.reports, plumber=self.rec.plumber, haproxy=self.haproxy)  # fmt: skip
            assert self.rec.reconcile(LB).ok
            assert LB in self.rec.adopted
        self.observer = Observer(self.rec, self.reports)

    def set_stat(self, text: str) -> None:
        self.haproxy.responses["show stat"] = text


@pytest.fixture
def s(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def test_first_observation_reports_every_status_then_only_changes(s: Setup) -> None:
    assert s.observer.observe(LB)
    [(lb_id, first)] = s.reports.operating_calls
    assert lb_id == LB
    assert first["member-1"] == "ONLINE" and first["member-2"] == "ONLINE"
    assert first[LB] == "ONLINE" and first[LISTENER] == "ONLINE" and first["pool-a"] == "ONLINE"

    for _ in range(3):
        assert s.observer.observe(LB)
    assert len(s.reports.operating_calls) == 1  # nothing changed: nothing reported

    s.set_stat(show_stat(m2="DOWN"))
    s.observer.observe(LB)
    assert s.reports.operating_calls[-1] == (LB, {"member-2": "ERROR", "pool-a": "DEGRADED",
                                                   LB: "DEGRADED"})  # fmt: skip
    s.observer.observe(LB)
    assert len(s.reports.operating_calls) == 2

    s.set_stat(show_stat())
    s.observer.observe(LB)
    assert s.reports.operating_calls[-1][1]["member-2"] == "ONLINE"




def test_a_dead_haproxy_is_reported_as_not_running(s: Setup) -> None:
    assert s.observer.observe(LB)
    s.haproxy.crash(s.rec.paths(LB))
    assert s.observer.observe(LB) is False


def test_an_lb_with_nothing_applied_is_left_to_the_reconciler(tmp_path: Path) -> None:
    rec = Reconciler(config=AgentConfig(state_dir=tmp_path), source=Source(), reporter=Reports(),
                     plumber=FakePlumber(), haproxy=FakeHaproxyProcess())  # fmt: skip
    assert Observer(rec, Reports()).observe("lb-unknown") is True
