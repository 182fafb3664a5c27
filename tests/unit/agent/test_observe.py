"""Counter deltas across reloads and agent restarts (the observer's arithmetic), with a fake HAProxy."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from lbaas.agent.haproxy.process import FakeHaproxyProcess
from lbaas.agent.haproxy.stats import parse_show_info, worker_identity
from lbaas.agent.observe import Observer, counter_deltas, load_baseline, save_baseline
from lbaas.agent.paths import LbPaths
from lbaas.domain.spec import ListenerSpec, LoadBalancerSpec, VipSpec
from lbaas.domain.status import ListenerCounters

LB = "11111111-1111-1111-1111-111111111111"
LI = "22222222-2222-2222-2222-222222222222"
HEADER = "# pxname,svname,scur,slim,stot,bin,bout,ereq,status,type\n"


def c(total: int, bytes_in: int = 0, active: int = 0) -> ListenerCounters:
    return ListenerCounters(bytes_in=bytes_in, total_connections=total, active_connections=active)


def test_show_info_gives_the_worker_identity() -> None:
    info = parse_show_info("Name: HAProxy\nPid: 4242\nUptime_sec: 3\nnoise\n")
    assert info["Pid"] == "4242"
    assert worker_identity(info) == "4242"
    assert worker_identity({"Pid": "7", "Start_time_sec": "1700000000"}) == "7@1700000000"
    assert worker_identity({}) is None


def test_same_worker_reports_the_difference() -> None:
    assert counter_deltas(("w1", {LI: c(10, 100)}), "w1", {LI: c(15, 160)}) == {
        LI: {"total_connections": 5, "bytes_in": 60}
    }
    assert counter_deltas(("w1", {LI: c(10, 100)}), "w1", {LI: c(10, 100)}) == {}


def test_new_worker_that_already_passed_the_old_count_is_added_in_full() -> None:
    """The bug this guards against: 1 counted by the old worker, 10 by the new before the next tick."""
    assert counter_deltas(("w1", {LI: c(1)}), "w2", {LI: c(10)}) == {LI: {"total_connections": 10}}


def test_counter_going_down_in_the_same_worker_counts_from_zero() -> None:
    assert counter_deltas(("w1", {LI: c(10)}), "w1", {LI: c(3)}) == {LI: {"total_connections": 3}}


def test_gauges_are_reported_when_they_change_whatever_the_worker() -> None:
    assert counter_deltas(None, "w1", {LI: c(0, active=0)}) == {LI: {"active_connections": 0}}
    assert counter_deltas(("w1", {LI: c(0, active=2)}), "w2", {LI: c(0, active=2)}) == {}
    assert counter_deltas(("w1", {LI: c(0, active=2)}), "w2", {LI: c(0, active=1)}) == {
        LI: {"active_connections": 1}
    }


def test_baseline_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "counters.json"
    assert load_baseline(path) is None
    save_baseline(path, ("w1", {LI: c(4, 40)}))
    assert load_baseline(path) == ("w1", {LI: c(4, 40)})
    path.write_text("{not json")
    assert load_baseline(path) is None
    save_baseline(tmp_path / "gone" / "counters.json", ("w1", {}))  # a torn-down LB: nothing written
    assert not (tmp_path / "gone").exists()


class _Recorder:
    def __init__(self) -> None:
        self.totals: dict[str, int] = {}

    def applied(self, lb_id: str, generation: int, *, ok: bool, message: str | None = None) -> None:
        pass

    def operating(self, lb_id: str, statuses: Mapping[str, str]) -> None:
        pass

    def stats(self, lb_id: str, deltas: Mapping[str, Mapping[str, int]]) -> None:
        for counters in deltas.values():
            self.totals["total"] = self.totals.get("total", 0) + counters.get("total_connections", 0)

    def instance(self, lb_id: str, amphora_id: str, *, epoch: int, vrrp_state: str, healthy: bool) -> None:
        pass


class _Reconciler:
    def __init__(self, state_dir: Path, haproxy: FakeHaproxyProcess, spec: LoadBalancerSpec) -> None:
        self.state_dir = state_dir
        self.haproxy = haproxy
        self.applied = {spec.id: spec}

    def applied_spec(self, lb_id: str) -> LoadBalancerSpec | None:
        return self.applied.get(lb_id)

    def paths(self, lb_id: str) -> LbPaths:
        return LbPaths(self.state_dir, lb_id)


def _spec() -> LoadBalancerSpec:
    vip = VipSpec(address="10.0.0.5", prefixlen=24, port_id="p", mac_address="fa:16:3e:00:00:01",
                  subnet_id="s", network_id="n")  # fmt: skip
    return LoadBalancerSpec(id=LB, project_id="p", generation=1, vip=vip,
                            listeners=(ListenerSpec(id=LI, protocol="HTTP", protocol_port=80),))  # fmt: skip


def test_observer_across_a_reload_and_an_agent_restart() -> None:
    tmp_path = Path(tempfile.mkdtemp(prefix="lbo", dir="/tmp"))  # short: AF_UNIX paths are limited
    haproxy = FakeHaproxyProcess()
    spec = _spec()
    paths = LbPaths(tmp_path, LB)
    paths.directory.mkdir(parents=True)
    haproxy.check("cfg", paths)
    haproxy.swap(paths)
    haproxy.ensure_running(paths, "ns")
    reporter = _Recorder()
    recon = _Reconciler(tmp_path, haproxy, spec)

    def worker_says(pid: int, stot: int) -> None:
        haproxy.responses["show info"] = f"Name: HAProxy\nPid: {pid}\n"
        haproxy.responses["show stat"] = HEADER + f"{LI},FRONTEND,0,100,{stot},0,0,0,OPEN,0\n"

    obs = Observer(recon, reporter)
    worker_says(1, 1)
    obs.observe(LB)
    worker_says(2, 10)  # reload; the new worker counted 10 before this tick
    obs.observe(LB)
    assert reporter.totals["total"] == 11
    worker_says(2, 12)
    obs.observe(LB)
    assert reporter.totals["total"] == 13

    restarted = Observer(recon, reporter)  # a new agent process adopts the same HAProxy
    restarted.observe(LB)
    assert reporter.totals["total"] == 13, "nothing counted twice"
    worker_says(2, 14)
    restarted.observe(LB)
    assert reporter.totals["total"] == 15
