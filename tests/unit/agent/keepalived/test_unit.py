"""The keepalived unit next to HAProxy in a reconciler on fakes, and its plan as a table."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbaas.agent.haproxy.process import FakeHaproxyProcess
from lbaas.agent.keepalived.process import FakeKeepalived
from lbaas.agent.keepalived.render import KeepalivedSpec, render_keepalived
from lbaas.agent.keepalived.unit import (
    CheckConfig,
    KeepalivedRecord,
    KeepalivedUnit,
    ReloadKeepalived,
    StartKeepalived,
    SwapConfig,
    Vrrp,
    no_vrrp,
)
from lbaas.agent.netns.base import ns_name
from lbaas.agent.netns.fake import FakePlumber
from lbaas.agent.paths import LbPaths
from lbaas.agent.plan import digest
from lbaas.agent.reconciler import AgentConfig, Reconciler
from lbaas.agent.units import Rendered, UnitPlan, UnitView
from lbaas.domain.spec import LoadBalancerSpec
from tests.unit.agent.test_reconciler import LB, Reports, Source, spec

NS = ns_name(LB)


def vrrp(priority: int = 100) -> Vrrp:
    def answer(desired: LoadBalancerSpec, paths: LbPaths) -> KeepalivedSpec | None:
        if desired.topology != "ACTIVE_STANDBY":
            return None
        return KeepalivedSpec(name=desired.id, interface="vip-port-vip", vips=((desired.vip.address, 24),),
                              virtual_router_id=7, priority=priority, unicast_src_ip="192.0.2.31",
                              unicast_peers=("192.0.2.32",), track_file=str(paths.track))  # fmt: skip

    return answer


def pair(generation: int = 1) -> LoadBalancerSpec:
    return spec(generation).model_copy(update={"topology": "ACTIVE_STANDBY"})


class Host:
    def __init__(self, tmp_path: Path, priority: int = 100) -> None:
        self.source = Source({LB: pair()})
        self.haproxy = FakeHaproxyProcess()
        self.keepalived = FakeKeepalived()
        self.unit = KeepalivedUnit(self.keepalived, vrrp(priority))
        self.rec = Reconciler(config=AgentConfig(state_dir=tmp_path), source=self.source, reporter=Reports(),
                              plumber=FakePlumber(), haproxy=self.haproxy, units=[self.unit])  # fmt: skip

    def verbs(self) -> list[str]:
        return [v for v, _ in self.keepalived.calls]


def test_an_active_standby_lb_gets_keepalived_after_its_plumbing(tmp_path: Path) -> None:
    h = Host(tmp_path)
    assert h.rec.reconcile(LB).ok
    assert h.verbs() == ["check", "swap", "start"]
    paths = h.rec.paths(LB)
    assert f'file "{paths.track}"' in paths.keepalived_cfg.read_text()
    assert h.haproxy.is_running(paths) is not None
    h.keepalived.calls.clear()
    assert h.rec.reconcile(LB).ok and h.verbs() == []  # converged


def test_a_changed_vrrp_config_is_checked_swapped_and_reloaded(tmp_path: Path) -> None:
    h = Host(tmp_path)
    assert h.rec.reconcile(LB).ok
    h.unit._vrrp = vrrp(priority=90)
    h.keepalived.calls.clear()
    assert h.rec.reconcile(LB).ok
    assert h.verbs() == ["check", "swap", "reload"]
    assert "priority 90" in h.rec.paths(LB).keepalived_cfg.read_text()


def test_a_dead_keepalived_is_started_and_haproxy_left_alone(tmp_path: Path) -> None:
    h = Host(tmp_path)
    assert h.rec.reconcile(LB).ok
    h.keepalived.running.clear()
    h.keepalived.calls.clear()
    h.haproxy.calls.clear()
    assert h.rec.reconcile(LB).ok
    assert h.verbs() == ["start"] and h.haproxy.calls == []


def test_teardown_and_failover_stop_keepalived(tmp_path: Path) -> None:
    h = Host(tmp_path)
    assert h.rec.reconcile(LB).ok
    h.source.specs[LB] = pair(2).model_copy(update={"binding_epoch": 1})
    h.keepalived.calls.clear()
    assert h.rec.reconcile(LB).ok
    assert h.verbs() == ["stop", "start"]  # a fresh instance: same config, new process
    del h.source.specs[LB]
    h.keepalived.calls.clear()
    assert h.rec.reconcile(LB).ok
    assert h.verbs() == ["stop"] and not h.rec.paths(LB).directory.exists()


def test_a_single_lb_never_touches_keepalived(tmp_path: Path) -> None:
    h = Host(tmp_path)
    h.source.specs[LB] = spec(1)
    assert h.rec.reconcile(LB).ok
    assert h.verbs() == [] and not h.rec.paths(LB).keepalived_cfg.exists()
    assert KeepalivedUnit(FakeKeepalived()).render(pair(), h.rec.paths(LB)) is None  # the default: no_vrrp
    assert no_vrrp(pair(), h.rec.paths(LB)) is None


def test_a_refused_keepalived_config_fails_the_pass_and_keeps_the_old_one(tmp_path: Path) -> None:
    h = Host(tmp_path)
    assert h.rec.reconcile(LB).ok
    good = h.rec.paths(LB).keepalived_cfg.read_text()
    h.keepalived.reject = "(keepalived.conf: Line 3) Unknown keyword"
    h.unit._vrrp = vrrp(priority=90)
    outcome = h.rec.reconcile(LB)
    assert not outcome.ok and "Unknown keyword" in outcome.message  # retried (it is our bug, not the user's)
    assert h.rec.paths(LB).keepalived_cfg.read_text() == good


_SPEC = vrrp()(pair(), LbPaths(Path("/x"), LB))
assert _SPEC is not None
TEXT = render_keepalived(_SPEC)
PLANS = {
    "converged": (KeepalivedRecord(TEXT, 1, True), UnitPlan(True, None, (), ())),
    "first start": (KeepalivedRecord(None, None, False),
                    UnitPlan(False, None, (), (CheckConfig(TEXT), SwapConfig(), StartKeepalived()))),
    "changed": (KeepalivedRecord("old", 1, True),
                UnitPlan(False, None, (), (CheckConfig(TEXT), SwapConfig(), ReloadKeepalived()))),
    "dead": (KeepalivedRecord(TEXT, None, False), UnitPlan(False, None, (), (StartKeepalived(),))),
    "running in a namespace that was replaced": (KeepalivedRecord(TEXT, 1, False),
                                                 UnitPlan(False, None, (), (StartKeepalived(),))),
}  # fmt: skip


@pytest.mark.parametrize("row", PLANS.values(), ids=PLANS.keys())
def test_plan(row: tuple[KeepalivedRecord, UnitPlan]) -> None:
    record, expected = row
    view = UnitView(pair(), Rendered({"keepalived.conf": TEXT}, digest(TEXT)), record, None, None)
    assert KeepalivedUnit(FakeKeepalived()).plan(view) == expected
