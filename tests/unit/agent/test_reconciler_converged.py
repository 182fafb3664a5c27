"""The cheap path of a resync (``Reconciler._converged``): a converged LB is confirmed from files and a
liveness check, without any ``ensure_*`` (netlink, entering the namespace), ``haproxy -c`` or reload;
anything it cannot vouch for goes the full way."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbaas.agent.haproxy.process import FakeHaproxyProcess
from lbaas.agent.netns.base import HostRoute, NetworkPlug, PortPlug
from lbaas.agent.netns.fake import FakePlumber
from lbaas.agent.reconciler import AgentConfig, Reconciler
from lbaas.domain.spec import LoadBalancerSpec
from tests.unit.agent.test_reconciler import LB, NS, Reports, Source, spec


class CountingPlumber(FakePlumber):
    """Counts every ensure_* call, changing or not (FakePlumber.calls records changes only)."""

    ensures: int = 0

    def ensure_namespace(self, ns: str, *, ipv6: bool = True) -> None:
        self.ensures += 1
        super().ensure_namespace(ns, ipv6=ipv6)

    def ensure_bridge(self, network: NetworkPlug, physical_interface_mappings: dict[str, str]) -> str:  # type: ignore[override]
        self.ensures += 1
        return super().ensure_bridge(network, physical_interface_mappings)

    def ensure_port(self, ns: str, port: PortPlug) -> str:
        self.ensures += 1
        return super().ensure_port(ns, port)


class Host:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.source = Source({LB: spec(1)})
        self.reports = Reports()
        self.plumber = CountingPlumber()
        self.haproxy = FakeHaproxyProcess()
        self.rec = self.agent()
        assert self.rec.reconcile(LB).ok  # the first agent builds everything

    def agent(self, **config: float) -> Reconciler:
        """A (new) agent process on this host: fresh memory, same kernel state, processes and files."""
        self.rec = Reconciler(config=AgentConfig(state_dir=self.tmp_path, **config), source=self.source,
                              reporter=self.reports, plumber=self.plumber, haproxy=self.haproxy)  # fmt: skip
        return self.rec

    def reset(self) -> None:
        self.plumber.ensures = 0
        self.haproxy.calls.clear()
        self.reports.done.clear()

    def verbs(self) -> list[str]:
        return [v for v, _ in self.haproxy.calls]


@pytest.fixture
def h(tmp_path: Path) -> Host:
    return Host(tmp_path)


def test_a_restarted_agent_confirms_a_converged_lb_without_touching_anything(h: Host) -> None:
    h.reset()
    rec = h.agent()
    assert rec.reconcile(LB).ok
    assert h.plumber.ensures == 0 and h.verbs() == []
    assert LB in rec.adopted and rec.applied[LB].generation == 1
    assert h.reports.done == [(LB, 1, True, None)]  # the new process reports once (cheap when already recorded)
    assert rec.reconcile(LB).ok  # and the periodic resync after it: nothing at all
    assert h.plumber.ensures == 0 and h.verbs() == [] and len(h.reports.done) == 1


def test_the_same_agent_resyncs_cheaply_after_its_own_full_pass(h: Host) -> None:
    h.reset()
    for _ in range(3):
        assert h.rec.reconcile(LB).ok
    assert h.plumber.ensures == 0 and h.verbs() == [] and h.reports.done == []
    assert LB not in h.rec.adopted  # this agent started it


def test_a_dead_haproxy_takes_the_full_path_and_is_started(h: Host) -> None:
    h.haproxy.crash(h.rec.paths(LB))
    h.reset()
    assert h.agent().reconcile(LB).ok
    assert h.plumber.ensures == 3 and h.verbs() == ["start"]


def test_a_vanished_veth_takes_the_full_path_and_is_replugged(h: Host) -> None:
    h.plumber.remove_port("port-vip")
    h.reset()
    assert h.agent().reconcile(LB).ok
    assert h.plumber.ensures == 3 and ("ensure_port", "port-vip") in h.plumber.calls
    assert h.verbs() == []  # HAProxy was fine: no reload


def test_a_changed_port_takes_the_full_path_even_with_the_same_haproxy_cfg(h: Host) -> None:
    """A subnet's host routes change the namespace, not haproxy.cfg: the recorded plug digest differs."""
    base = h.source.specs[LB]
    vip = base.vip.model_copy(update={"host_routes": (HostRoute("192.0.2.0/24", "10.0.0.254"),)})
    h.source.specs[LB] = base.model_copy(update={"vip": vip, "generation": 2})
    h.reset()
    assert h.rec.reconcile(LB).ok
    assert h.plumber.ensures == 3 and ("ensure_port", "port-vip") in h.plumber.calls
    assert h.verbs() == []
    h.reset()
    assert h.rec.reconcile(LB).ok and h.plumber.ensures == 0  # recorded again: cheap from now on


def test_a_changed_config_takes_the_full_path(h: Host) -> None:
    h.source.specs[LB] = spec(2, members=3)
    h.reset()
    assert h.agent().reconcile(LB).ok
    assert h.verbs() == ["check", "swap", "reload"]


def test_a_reload_that_never_confirmed_is_redone(h: Host) -> None:
    """haproxy.cfg holds the new text but ``loaded`` the old digest (the agent died in between)."""
    h.rec.paths(LB).loaded.write_text("0" * 64)
    h.reset()
    assert h.agent().reconcile(LB).ok
    assert h.verbs() == ["reload"]


def test_without_a_plumbing_record_the_full_path_runs_once(h: Host) -> None:
    """LBs converged by an agent older than the record (an upgrade) are verified once, then cheap."""
    h.rec.paths(LB).plumbed.unlink()
    h.reset()
    rec = h.agent()
    assert rec.reconcile(LB).ok and h.plumber.ensures == 3 and h.verbs() == []
    assert rec.paths(LB).plumbed.exists()
    h.reset()
    assert rec.reconcile(LB).ok and h.plumber.ensures == 0


def test_full_check_interval_bounds_how_long_the_cheap_path_is_trusted(h: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    h.reset()
    rec = h.agent(full_check_interval=0)  # 0: always the full pass
    assert rec.reconcile(LB).ok and h.plumber.ensures == 3

    rec = h.agent(full_check_interval=100)
    assert rec.reconcile(LB).ok  # trusted; due for a full pass within one interval
    h.reset()
    import lbaas.agent.reconciler as reconciler

    now = reconciler.time.monotonic()
    monkeypatch.setattr(reconciler.time, "monotonic", lambda: now + 101)
    assert rec.reconcile(LB).ok and h.plumber.ensures == 3  # due: full pass
    h.reset()
    assert rec.reconcile(LB).ok and h.plumber.ensures == 0  # and trusted again


def test_a_failover_epoch_still_replaces_the_instance(h: Host) -> None:
    h.source.specs[LB] = spec(1, epoch=1)
    h.reset()
    assert h.agent().reconcile(LB).ok
    assert h.verbs() == ["stop", "start"] and h.plumber.ensures == 3
    assert NS in h.plumber.namespaces


def test_port_alive_of_the_fake_follows_the_host(h: Host) -> None:
    desired: LoadBalancerSpec = h.source.specs[LB]
    port = PortPlug.from_vip(desired.vip)
    assert h.plumber.port_alive(NS, port)
    assert not h.plumber.port_alive("qlbaas-other", port)
    h.plumber.remove_namespace(NS)
    assert not h.plumber.port_alive(NS, port)


def test_a_periodic_resync_skips_what_was_just_confirmed(h: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    from lbaas.agent.runtime import Agent

    agent = Agent(h.rec, resync_interval=3600, observe_interval=3600)
    queued: list[str] = []
    monkeypatch.setattr(agent.queue, "add", lambda lb_id, delay=0.0: queued.append(lb_id))
    agent.resync()
    assert queued == []  # generation 1 runs and was confirmed a moment ago
    h.source.specs[LB] = spec(2, members=3)  # a change whose nudge was lost
    agent.resync()
    assert queued == [LB]

    rec = h.agent()  # a restarted agent confirms everything once
    assert rec.resync_due(LB, 2)
    assert rec.reconcile(LB).ok and not rec.resync_due(LB, 2)
    assert rec.resync_due(LB, 3)
    import lbaas.agent.reconciler as reconciler

    now = reconciler.time.monotonic()
    monkeypatch.setattr(reconciler.time, "monotonic", lambda: now + rec.config.confirm_interval)
    assert rec.resync_due(LB, 2)  # confirmed too long ago
