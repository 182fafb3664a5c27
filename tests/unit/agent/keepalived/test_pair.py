"""An instance of an ACTIVE_STANDBY pair on fakes: the keepalived unit with its tracker (the track file
follows HAProxy), the measured instance state the observer reports, and the real pidfd tracker on a real
child process."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbaas.agent.haproxy.process import FakeHaproxyProcess
from lbaas.agent.keepalived.pair import pair_parts
from lbaas.agent.keepalived.process import FakeKeepalived, KeepalivedError
from lbaas.agent.keepalived.state import InstanceProbe
from lbaas.agent.keepalived.track import FakeTracker, HaproxyTracker, write_track
from lbaas.agent.keepalived.unit import KeepalivedUnit, Vouch, spec_vrrp
from lbaas.agent.netns.base import DEFAULT_NAMING, ns_name
from lbaas.agent.netns.fake import FakePlumber
from lbaas.agent.observe import Observer
from lbaas.agent.plan import port_plug
from lbaas.agent.reconciler import AgentConfig, Reconciler
from lbaas.agent.units import RunContext
from lbaas.domain.spec import LoadBalancerSpec, VrrpPeerSpec, VrrpSpec
from tests.unit.agent.test_reconciler import LB, Reports, Source, spec

NS = ns_name(LB)


def instance(generation: int = 1, **vrrp: object) -> LoadBalancerSpec:
    v = VrrpSpec(**{"amphora_id": "amp-a", "role": "MASTER", "priority": 200, "virtual_router_id": 9,
                    "address": "10.0.0.11", "port_id": "port-vrrp-a", "mac_address": "fa:16:3e:00:00:0a",
                    "peers": (VrrpPeerSpec(amphora_id="amp-b", address="10.0.0.12"),), **vrrp})  # type: ignore[arg-type]
    return spec(generation).model_copy(update={"topology": "ACTIVE_STANDBY", "vrrp": v, "binding_epoch": 2})


class Host:
    def __init__(self, tmp_path: Path) -> None:
        self.source = Source({LB: instance()})
        self.haproxy = FakeHaproxyProcess()
        self.keepalived = FakeKeepalived()
        self.tracker = FakeTracker()
        self.plumber = FakePlumber()
        self.reports = Reports()
        self.unit = KeepalivedUnit(self.keepalived, spec_vrrp(DEFAULT_NAMING), haproxy=self.haproxy,
                                   tracker=self.tracker)  # fmt: skip
        self.rec = Reconciler(config=AgentConfig(state_dir=tmp_path), source=self.source, reporter=self.reports,
                              plumber=self.plumber, haproxy=self.haproxy, units=[self.unit])  # fmt: skip
        self.observer = Observer(self.rec, self.reports,
                                 instances=InstanceProbe(self.keepalived, self.haproxy, self.plumber))  # fmt: skip
        self.paths = self.rec.paths(LB)
        self.haproxy.responses["show info;show stat"] = "Pid: 1\n\n# pxname,svname,scur,slim,stot,status\n"

    def track(self) -> str:
        return self.paths.track.read_text().strip()

    def state(self) -> tuple[str, bool]:
        self.observer.observe(LB)
        lb_id, amp, epoch, state, healthy = self.reports.instance_calls[-1]
        assert (lb_id, amp, epoch) == (LB, "amp-a", 2)
        return state, healthy


def test_the_instance_plugs_its_own_port_and_keepalived_moves_the_vip(tmp_path: Path) -> None:
    h = Host(tmp_path)
    assert h.rec.reconcile(LB).ok
    port = h.plumber.ports["port-vrrp-a"]
    assert port.ns == NS and port.port.addresses == (("10.0.0.11", 24),) and port.port.mac_address == "fa:16:3e:00:00:0a"
    assert "port-vip" not in h.plumber.ports
    cfg = h.paths.keepalived_cfg.read_text()
    vip = instance().vip
    assert f"{vip.address}/{vip.prefixlen} dev lbv-portvrrpa" in cfg and "unicast_src_ip 10.0.0.11" in cfg
    assert "priority 200" in cfg and "virtual_router_id 9" in cfg and "advert_int 0.1" in cfg
    assert f"bind {vip.address}:80" in h.paths.cfg.read_text()  # HAProxy binds the VIP (nonlocal bind)


def test_the_track_file_says_0_once_haproxy_runs_and_is_vouched_again_after_a_restart(tmp_path: Path) -> None:
    h = Host(tmp_path)
    assert h.rec.reconcile(LB).ok
    assert h.track() == "0" and h.tracker.watching(LB) == h.haproxy.running_in(h.paths, NS)
    assert [v for v, _ in h.keepalived.calls] == ["check", "swap", "start"]
    h.tracker.calls.clear()
    assert h.rec.reconcile(LB).ok and h.tracker.calls == []  # converged: nothing written
    # HAProxy dies: the tracker writes 1 (the watcher's part), the reconciler starts it and vouches again
    h.haproxy.crash(h.paths)
    h.tracker.die(LB)
    assert h.track() == "1"
    h.keepalived.calls.clear()
    assert h.rec.reconcile(LB).ok
    assert h.track() == "0" and h.tracker.watching(LB) == h.haproxy.running_in(h.paths, NS)
    assert h.keepalived.calls == []  # keepalived untouched


def test_a_new_agent_process_vouches_live_for_the_haproxy_it_finds(tmp_path: Path) -> None:
    h = Host(tmp_path)
    assert h.rec.reconcile(LB).ok
    h.tracker.watched.clear()  # a new agent process: nothing watched
    h.rec._forget(LB)
    h.haproxy.calls.clear()
    assert h.rec.reconcile(LB).ok
    assert h.tracker.calls[-1] == ("vouch", LB) and h.haproxy.calls == []


def test_no_haproxy_to_vouch_for_fails_the_step_with_the_track_file_at_1(tmp_path: Path) -> None:
    h = Host(tmp_path)
    assert h.rec.reconcile(LB).ok
    h.haproxy.crash(h.paths)
    with pytest.raises(KeepalivedError, match="no HAProxy"):
        h.unit.run(Vouch(), RunContext(h.paths, NS, h.rec.memory(LB)))
    assert h.track() == "1" and h.tracker.watching(LB) is None


def test_a_refused_haproxy_config_never_gets_keepalived_started(tmp_path: Path) -> None:
    h = Host(tmp_path)
    h.haproxy.reject = lambda text: "bad"
    assert h.rec.reconcile(LB).ok  # terminal for the generation (reported ERROR)
    assert h.reports.done[-1][2] is False
    assert h.keepalived.calls == [] and not h.paths.track.exists()


def test_teardown_forgets_the_watch_and_a_single_lb_has_no_track_file(tmp_path: Path) -> None:
    h = Host(tmp_path)
    assert h.rec.reconcile(LB).ok
    del h.source.specs[LB]
    assert h.rec.reconcile(LB).ok
    assert h.tracker.watching(LB) is None and not h.paths.directory.exists()
    assert h.plumber.solicited == []  # the VIP is the other instance's
    h.source.specs[LB] = spec(3)
    assert h.rec.reconcile(LB).ok
    assert not h.paths.track.exists() and not h.paths.keepalived_cfg.exists() and h.keepalived.calls[-1][0] == "stop"
    assert "port-vip" in h.plumber.ports


def test_the_observer_reports_the_measured_instance_state_on_change(tmp_path: Path) -> None:
    h = Host(tmp_path)
    assert h.rec.reconcile(LB).ok
    assert h.state() == ("BACKUP", True)
    n = len(h.reports.instance_calls)
    h.observer.observe(LB)
    assert len(h.reports.instance_calls) == n  # unchanged: not reported again (until the refresh interval)
    h.plumber.held["port-vrrp-a"] = frozenset({instance().vip.address})  # keepalived added the VIP
    assert h.state() == ("MASTER", True)
    h.plumber.held.clear()
    write_track(h.paths.track, "1")  # the tracker saw HAProxy die
    h.haproxy.crash(h.paths)
    assert h.state() == ("FAULT", False)
    assert h.rec.reconcile(LB).ok
    assert h.state() == ("BACKUP", True)
    h.keepalived.running.clear()
    assert h.observer.observe(LB) is False  # keepalived died: the agent reconciles (starts it again)
    assert h.state() == ("FAULT", True)
    refreshing = Observer(h.rec, h.reports, instances=InstanceProbe(h.keepalived, h.haproxy, h.plumber),
                          instance_refresh=0.0)  # fmt: skip
    refreshing.observe(LB)
    refreshing.observe(LB)
    assert h.reports.instance_calls[-2:] == [(LB, "amp-a", 2, "FAULT", True)] * 2


def test_a_single_lb_reports_no_instance(tmp_path: Path) -> None:
    h = Host(tmp_path)
    h.source.specs[LB] = spec(1)
    assert h.rec.reconcile(LB).ok
    h.observer.observe(LB)
    assert h.reports.instance_calls == []


def test_pair_parts_build_a_fake_data_plane(tmp_path: Path) -> None:
    parts = pair_parts(FakePlumber(), FakeHaproxyProcess(), fake=True)
    assert isinstance(parts.tracker, FakeTracker) and parts.unit.tracker is parts.tracker
    parts.connect(lambda ids: None)
    assert port_plug(instance()).foreign == ((instance().vip.address, 24),)


# ---------------------------------------------------------------------------------------------- the real tracker


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def wait_for(pred: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(pred) and pred():
            return
        time.sleep(0.005)
    raise AssertionError("not within the timeout")


def test_the_pidfd_tracker_writes_1_when_the_vouched_process_exits(tmp_path: Path,
                                                                   child: subprocess.Popen[bytes]) -> None:
    dead: list[str] = []
    tracker = HaproxyTracker(on_dead=dead.append)
    track = tmp_path / "haproxy.track"
    try:
        tracker.vouch("lb-1", track, child.pid)
        assert track.read_text() == "0\n" and tracker.watching("lb-1") == child.pid
        tracker.vouch("lb-1", track, child.pid)  # the same master: still watched once
        other = subprocess.Popen(["sleep", "60"])
        try:
            tracker.vouch("lb-2", tmp_path / "other.track", other.pid)
            tracker.forget("lb-2")  # forgotten: its death changes nothing
            other.kill()
            other.wait()
        finally:
            other.kill()
        child.kill()
        child.wait()
        wait_for(lambda: dead == ["lb-1"])
        assert track.read_text() == "1\n" and tracker.watching("lb-1") is None
        assert (tmp_path / "other.track").read_text() == "0\n"
        with pytest.raises(ProcessLookupError):
            tracker.vouch("lb-1", track, child.pid)  # reaped: nothing to vouch for
        assert track.read_text() == "1\n"
    finally:
        tracker.close()


def test_a_track_file_of_a_removed_directory_is_dropped(tmp_path: Path) -> None:
    assert not write_track(tmp_path / "gone" / "haproxy.track", "1")


def test_the_track_file_is_root_only_and_replaced_whole(tmp_path: Path) -> None:
    track = tmp_path / "haproxy.track"
    assert write_track(track, "0")
    assert track.read_text() == "0\n" and track.stat().st_mode & 0o777 == 0o600
    assert write_track(track, "1")
    assert track.read_text() == "1\n" and not (tmp_path / "haproxy.track.tmp").exists()
