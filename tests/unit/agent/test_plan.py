"""The reconciler's plan as a table: (desired, what the host holds, what this process remembers) → steps.

One row per path that ``Reconciler.ensure`` and ``teardown`` take (the behaviour of the executed plans is
covered on fakes in test_reconciler*.py); then a fake data-plane unit plugged in next to HAProxy, to show
that a unit is added without touching the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lbaas.agent.haproxy.process import FakeHaproxyProcess
from lbaas.agent.haproxy.runtime_plan import plan_runtime
from lbaas.agent.haproxy.unit import (
    Check,
    CheckInBackground,
    CheckLive,
    FirstStart,
    ForgetDeletes,
    HaproxyMemory,
    HaproxyRecord,
    HaproxyUnit,
    KeepPendingDeletes,
    LiveApply,
    MarkLoaded,
    PruneCerts,
    Refuse,
    Reload,
    RetryDeletes,
    SaveServerState,
    Start,
    Swap,
    WriteCerts,
    config_digest,
)
from lbaas.agent.keepalived.process import FakeKeepalived
from lbaas.agent.keepalived.track import FakeTracker
from lbaas.agent.keepalived.unit import (
    CheckConfig,
    KeepalivedRecord,
    KeepalivedUnit,
    StartKeepalived,
    SwapConfig,
    Vouch,
    spec_vrrp,
)
from lbaas.agent.netns.base import DEFAULT_NAMING, HostRoute, PortPlug, ns_name
from lbaas.agent.netns.fake import FakePlumber
from lbaas.agent.paths import LbPaths
from lbaas.agent.plan import (
    Adopt,
    ForgetPlumbing,
    HostRecord,
    LbMemory,
    MarkVerified,
    Plan,
    Plumb,
    RecordNetwork,
    ReleaseBridge,
    RemoveDirectory,
    RemoveNamespace,
    SetApplied,
    Solicit,
    StopUnit,
    StoreEpoch,
    digest,
    network_json,
    network_plug,
    plan_ensure,
    plan_teardown,
    plug_digest,
    port_plug,
)
from lbaas.agent.reconciler import AgentConfig, Reconciler
from lbaas.agent.units import Rendered, RunContext, Step, Unit, UnitPlan, UnitStep, UnitView
from lbaas.domain.spec import LoadBalancerSpec, VrrpPeerSpec, VrrpSpec
from tests.unit.agent.haproxy import cases as c
from tests.unit.agent.haproxy.cases import TLS_OPTS
from tests.unit.agent.test_reconciler import LB, Reports, Source, spec

NS = ns_name(LB)
NOW = 10_000.0
INTERVAL = 1800.0
HAPROXY = HaproxyUnit(FakeHaproxyProcess(), lambda paths: TLS_OPTS, lambda paths, text: None)
PATHS = LbPaths(Path("/nonexistent"), LB)

S1 = spec(1)
S2_MEMBER = spec(2, members=3)  # a member more: expressible over the runtime API
S2_LISTENER = spec(2).model_copy(update={"listeners": tuple(
    li.model_copy(update={"timeout_client_data": 1234}) for li in spec(2).listeners)})  # fmt: skip
S2_EPOCH = spec(2, epoch=1)
S2_ROUTES = S1.model_copy(update={"generation": 2, "vip": S1.vip.model_copy(
    update={"host_routes": (HostRoute("192.0.2.0/24", "10.0.0.254"),)})})  # fmt: skip


def text(s: LoadBalancerSpec) -> str:
    return HAPROXY.render(s, PATHS).files["haproxy.cfg"]


T1, T2_MEMBER, T2_LISTENER = text(S1), text(S2_MEMBER), text(S2_LISTENER)
NET = network_plug(S1.vip)
PLUG = PortPlug.from_vip(S1.vip)
PLUMB = Plumb(NS, NET, PLUG, mark=False)
PLUMB_MARK = Plumb(NS, NET, PLUG, mark=True)


def host(*, cfg: str | None = T1, loaded: str | None = "T1", pid: int | None = 100, in_ns: bool = True,
         epoch: int | None = 0, network: bool = True, plumbed: str | None = "ok", port_alive: bool = True,
         directory: bool = True, certs: tuple[str, ...] = (), certs_private: bool = True) -> HostRecord:  # fmt: skip
    """A host running ``S1`` converged, unless told otherwise ("T1"/"ok": the right digests)."""
    return HostRecord(
        directory=directory,
        epoch=epoch,
        network_text=network_json(NET) if network else None,
        network=NET if network else None,
        plumbed=plug_digest(NS, PLUG) if plumbed == "ok" else plumbed,
        port_alive=port_alive,
        units={"haproxy": HaproxyRecord(cfg, digest(T1) if loaded == "T1" else loaded, pid, in_ns,
                                        frozenset(certs), certs_private)},  # fmt: skip
    )


FRESH = host(cfg=None, loaded=None, pid=None, in_ns=False, epoch=None, network=False, plumbed=None,
             port_alive=False)  # fmt: skip


def memory(*, applied: LoadBalancerSpec | None = S1, verified: float | None = NOW - 10,
           refused: tuple[str, str] | None = None, pending: set[str] | None = None) -> LbMemory:  # fmt: skip
    """What a process that converged ``S1`` itself remembers, unless told otherwise."""
    mem = LbMemory(applied=applied, epoch=0 if applied else None, network=NET if applied else None, verified=verified)
    if refused is not None or pending:
        mem.units["haproxy"] = HaproxyMemory(refused=refused, pending_deletes=set(pending or ()))
    return mem


NEW_PROCESS = LbMemory()


def plan(desired: LoadBalancerSpec, record: HostRecord, mem: LbMemory, *, interval: float = INTERVAL,
         units: tuple[Unit, ...] = (HAPROXY,)) -> Plan:  # fmt: skip
    rendered = {u.name: r for u in units if (r := u.render(desired, PATHS)) is not None}
    return plan_ensure(desired, rendered, record, mem, [u for u in units if u.name in rendered],
                       ns=NS, now=NOW, full_check_interval=interval)  # fmt: skip


def done(s: LoadBalancerSpec, *, epoch_write: bool = False, verified: bool = True) -> tuple[Step, ...]:
    return (StoreEpoch(s.binding_epoch, write=epoch_write), SetApplied(s)) + ((MarkVerified(),) if verified else ())


RELOAD_T2L = (Check(T2_LISTENER, background=True), Swap(), SaveServerState(), Reload(), ForgetDeletes(),
              MarkLoaded(T2_LISTENER), Adopt(False))  # fmt: skip
FULL_T2M = (CheckInBackground(T2_MEMBER), PLUMB, Check(T2_MEMBER, background=True), Swap(), SaveServerState(),
            Reload(), ForgetDeletes(), MarkLoaded(T2_MEMBER), Adopt(False), *done(S2_MEMBER))  # fmt: skip
LIVE_T2M = (LiveApply(tuple(plan_runtime(T1, T2_MEMBER) or ())), CheckLive(T2_MEMBER), Swap(), MarkLoaded(T2_MEMBER),
            KeepPendingDeletes())  # fmt: skip


# TLS: a TERMINATED_HTTPS listener whose certificate is a PEM file named by its digest; then replaced
def https(cert: str, generation: int, **pool_kw: Any) -> LoadBalancerSpec:
    tls = c._listener_tls(default_cert=c._tls_cert(cert))
    base = c.lb((c.listener("listener-443", protocol="TERMINATED_HTTPS", port=443, tls=tls),), (c.pool(**pool_kw),))
    return base.model_copy(update={"generation": generation})


S_TLS1, S_TLS2 = https("www", 1), https("api", 2)
S_TLS1_MEMBER = https("www", 2, members=spec(2, members=3).pools[0].members)
TT1, TT2, TT1_MEMBER = text(S_TLS1), text(S_TLS2), text(S_TLS1_MEMBER)
PEM1, PEM2 = c._tls_cert("www").pem, c._tls_cert("api").pem
N1, N2 = (hashlib.sha256(p.encode()).hexdigest() + ".pem" for p in (PEM1, PEM2))
STRAY = "0" * 64 + ".pem"
WRITE1, WRITE2 = WriteCerts((N1,), (PEM1,)), WriteCerts((N2,), (PEM2,))


def tls_host(**kw: Any) -> HostRecord:
    """A host running ``S_TLS1`` converged (its PEM file in a 0700 certs/), unless told otherwise."""
    kw = {"cfg": TT1, "loaded": config_digest(TT1, (N1,)), "certs": (N1,), **kw}
    return host(**kw)


@dataclass(frozen=True)
class Row:
    desired: LoadBalancerSpec
    record: HostRecord
    memory: LbMemory
    expected: Plan
    interval: float = INTERVAL


ENSURE: dict[str, Row] = {
    "first start": Row(S1, FRESH, NEW_PROCESS, Plan((
        RecordNetwork(NET, write=True), PLUMB_MARK, FirstStart(T1), ForgetDeletes(), MarkLoaded(T1), Adopt(False),
        *done(S1, epoch_write=True)))),
    "first start of a text refused before": Row(S1, FRESH, memory(applied=None, refused=(T1, "bad")), Plan((
        RecordNetwork(NET, write=True), PLUMB_MARK, FirstStart(T1, refused="bad"), ForgetDeletes(), MarkLoaded(T1),
        Adopt(False), *done(S1, epoch_write=True)))),
    "converged, unchanged: remember only": Row(S1, host(), memory(), Plan(done(S1, verified=False))),
    "converged, found by a new agent process: adopt": Row(S1, host(), NEW_PROCESS, Plan((
        RecordNetwork(NET, write=False), MarkVerified(jitter=True), Adopt(True), *done(S1, verified=False)))),
    "converged, full pass due: full path, nothing to change": Row(S1, host(), memory(verified=NOW - INTERVAL),
        Plan((PLUMB, *done(S1)))),
    "converged, full_check_interval 0: always the full path": Row(S1, host(), memory(), Plan((PLUMB, *done(S1))),
        interval=0),
    "adopted with no plumbing record (upgrade): full path once, adopt": Row(S1, host(plumbed=None), NEW_PROCESS,
        Plan((RecordNetwork(NET, write=False), PLUMB_MARK, Adopt(True), *done(S1)))),
    "vanished veth: replug only": Row(S1, host(port_alive=False), memory(), Plan((PLUMB, *done(S1)))),
    "plumbing changed (host routes), same haproxy.cfg": Row(S2_ROUTES, host(), memory(), Plan((
        Plumb(NS, NET, PortPlug.from_vip(S2_ROUTES.vip), mark=True), *done(S2_ROUTES)))),
    "members-only change: live, full path as fallback": Row(S2_MEMBER, host(), memory(), Plan(
        (*LIVE_T2M, *done(S2_MEMBER, verified=False)), fallback=FULL_T2M)),
    "members-only change refused before: refused again, not live": Row(S2_MEMBER, host(),
        memory(refused=(T2_MEMBER, "bad")), Plan((Refuse("bad"), *done(S2_MEMBER, verified=False)), fallback=(
            PLUMB, Check(T2_MEMBER, refused="bad"), Swap(), SaveServerState(), Reload(), ForgetDeletes(),
            MarkLoaded(T2_MEMBER), Adopt(False), *done(S2_MEMBER)))),
    "members-only change seen by a new agent process: reload": Row(S2_MEMBER, host(), NEW_PROCESS, Plan((
        RecordNetwork(NET, write=False), *FULL_T2M))),
    "members-only change with a new VIP address: reload": Row(
        S2_MEMBER, host(), memory(applied=S1.model_copy(update={"vip": S1.vip.model_copy(
            update={"address": "203.0.113.9"})})), Plan(FULL_T2M)),  # fmt: skip
    "other change: check in the background, plumb, check, swap, reload": Row(S2_LISTENER, host(), memory(), Plan((
        CheckInBackground(T2_LISTENER), PLUMB, *RELOAD_T2L, *done(S2_LISTENER)))),
    "change of a text refused before: no background check": Row(S2_LISTENER, host(),
        memory(refused=(T2_LISTENER, "bad")), Plan((PLUMB, Check(T2_LISTENER, refused="bad"), *RELOAD_T2L[1:],
                                                     *done(S2_LISTENER)))),
    "swapped but never loaded (reload failed, or agent died): reload": Row(S1, host(loaded="0" * 64), memory(),
        Plan((PLUMB, SaveServerState(), Reload(), ForgetDeletes(), MarkLoaded(T1), Adopt(False), *done(S1)))),
    "dead HAProxy: start": Row(S1, host(pid=None, in_ns=False), memory(), Plan((
        PLUMB, Start(), ForgetDeletes(), MarkLoaded(T1), Adopt(False), *done(S1)))),
    "dead HAProxy and a change: check, swap, start (restore the old one if refused)": Row(
        S2_LISTENER, host(pid=None, in_ns=False), memory(), Plan((
            CheckInBackground(T2_LISTENER), PLUMB, Check(T2_LISTENER, background=True, restore=T1), Swap(), Start(),
            ForgetDeletes(), MarkLoaded(T2_LISTENER), Adopt(False), *done(S2_LISTENER)))),
    "HAProxy alive outside its namespace: full path": Row(S1, host(in_ns=False), memory(), Plan((PLUMB, *done(S1)))),
    "runtime deletes pending: full path retries them": Row(S1, host(), memory(pending={"del server b/m"}), Plan((
        PLUMB, RetryDeletes(), *done(S1)))),
    "epoch changed (failover): replace, then start afresh": Row(S2_EPOCH, host(), memory(), Plan((
        StopUnit("haproxy"), RemoveNamespace(NS), ForgetPlumbing(), Adopt(False), PLUMB_MARK, Start(),
        ForgetDeletes(), MarkLoaded(T1), Adopt(False), *done(S2_EPOCH, epoch_write=True)))),
    "epoch changed, seen by a new agent process from the epoch file": Row(S2_EPOCH, host(), NEW_PROCESS, Plan((
        StopUnit("haproxy"), RemoveNamespace(NS), ForgetPlumbing(), Adopt(False), RecordNetwork(NET, write=False),
        PLUMB_MARK, Start(), ForgetDeletes(), MarkLoaded(T1), Adopt(False), *done(S2_EPOCH, epoch_write=True)))),
    "network record missing on disk: written": Row(S1, host(network=False), NEW_PROCESS, Plan((
        RecordNetwork(NET, write=True), MarkVerified(jitter=True), Adopt(True), *done(S1, verified=False)))),
    "TLS first start: the PEM file written before anything reads the config": Row(S_TLS1, FRESH, NEW_PROCESS, Plan((
        RecordNetwork(NET, write=True), WRITE1, PLUMB_MARK, FirstStart(TT1), ForgetDeletes(), MarkLoaded(TT1, (N1,)),
        Adopt(False), *done(S_TLS1, epoch_write=True)))),
    "TLS converged: remember only": Row(S_TLS1, tls_host(), memory(applied=S_TLS1), Plan(done(S_TLS1, verified=False))),
    "TLS, loaded without its PEM files in the digest (older agent): reload": Row(S_TLS1,
        tls_host(loaded=digest(TT1)), memory(applied=S_TLS1), Plan((PLUMB, SaveServerState(), Reload(),
        ForgetDeletes(), MarkLoaded(TT1, (N1,)), Adopt(False), *done(S_TLS1)))),
    "TLS, PEM file vanished: written again, no reload": Row(S_TLS1, tls_host(certs=()), memory(applied=S_TLS1),
        Plan((WRITE1, PLUMB, *done(S_TLS1)))),
    "TLS, certs/ not 0700: written again (the directory made 0700), no reload": Row(S_TLS1,
        tls_host(certs_private=False), memory(applied=S_TLS1), Plan((WRITE1, PLUMB, *done(S_TLS1)))),
    "TLS, stray file (died before pruning): pruned, no reload": Row(S_TLS1, tls_host(certs=(N1, STRAY)),
        memory(applied=S_TLS1), Plan((PLUMB, PruneCerts((STRAY,)), *done(S_TLS1)))),
    "certificate replaced: new file, check, reload, then the old file pruned": Row(S_TLS2, tls_host(),
        memory(applied=S_TLS1), Plan((WRITE2, CheckInBackground(TT2), PLUMB, Check(TT2, background=True), Swap(),
        SaveServerState(), Reload(), ForgetDeletes(), MarkLoaded(TT2, (N2,)), Adopt(False), PruneCerts((N1,)),
        *done(S_TLS2)))),
    "certificate replaced, HAProxy dead: restore names the old file": Row(S_TLS2, tls_host(pid=None, in_ns=False),
        memory(applied=S_TLS1), Plan((WRITE2, CheckInBackground(TT2), PLUMB,
        Check(TT2, background=True, restore=TT1, restore_certs=(N1,)), Swap(), Start(), ForgetDeletes(),
        MarkLoaded(TT2, (N2,)), Adopt(False), PruneCerts((N1,)), *done(S_TLS2)))),
    "TLS members-only change: live, the same PEM file in the digest": Row(S_TLS1_MEMBER, tls_host(),
        memory(applied=S_TLS1), Plan((LiveApply(tuple(plan_runtime(TT1, TT1_MEMBER) or ())), CheckLive(TT1_MEMBER),
        Swap(), MarkLoaded(TT1_MEMBER, (N1,)), KeepPendingDeletes(), *done(S_TLS1_MEMBER, verified=False)),
        fallback=(CheckInBackground(TT1_MEMBER), PLUMB, Check(TT1_MEMBER, background=True), Swap(), SaveServerState(),
        Reload(), ForgetDeletes(), MarkLoaded(TT1_MEMBER, (N1,)), Adopt(False), *done(S_TLS1_MEMBER)))),
}  # fmt: skip


@pytest.mark.parametrize("row", ENSURE.values(), ids=ENSURE.keys())
def test_plan_ensure(row: Row) -> None:
    assert plan(row.desired, row.record, row.memory, interval=row.interval) == row.expected


def test_the_plan_reads_nothing_and_changes_nothing() -> None:
    mem = memory(pending={"del server b/m"})
    before = repr(mem)
    assert plan(S2_LISTENER, host(), mem) == plan(S2_LISTENER, host(), mem)
    assert repr(mem) == before


TEARDOWN: dict[str, tuple[LoadBalancerSpec | None, HostRecord, LbMemory, Plan]] = {
    "gone while we served it: solicit the VIP for its new owner": (None, host(), memory(), Plan((
        StopUnit("haproxy"), RemoveNamespace(NS), Solicit(NET, (S1.vip.address,)), ReleaseBridge(NET),
        RemoveDirectory()))),
    "deleting: no solicit": (spec(2, deleting=True), host(), memory(), Plan((
        StopUnit("haproxy"), RemoveNamespace(NS), ReleaseBridge(NET), RemoveDirectory()))),
    "gone, new agent process: the bridge from the network record": (None, host(), NEW_PROCESS, Plan((
        StopUnit("haproxy"), RemoveNamespace(NS), ReleaseBridge(NET), RemoveDirectory()))),
    "gone, no network known: no bridge to release": (None, host(network=False), NEW_PROCESS, Plan((
        StopUnit("haproxy"), RemoveNamespace(NS), RemoveDirectory()))),
    "nothing on disk": (None, host(network=False, directory=False), NEW_PROCESS, Plan((
        StopUnit("haproxy"), RemoveNamespace(NS)))),
}  # fmt: skip


@pytest.mark.parametrize("row", TEARDOWN.values(), ids=TEARDOWN.keys())
def test_plan_teardown(row: tuple[LoadBalancerSpec | None, HostRecord, LbMemory, Plan]) -> None:
    desired, record, mem, expected = row
    assert plan_teardown(desired, record, mem, [HAPROXY], ns=NS) == expected


# ---------------------------------------------------------------------------------------------- a unit plugged in


@dataclass(frozen=True)
class Sidecar(UnitStep):
    unit: ClassVar[str] = "fake"
    what: str


@dataclass(frozen=True)
class FakeRecord:
    running: bool
    digest: str | None


@dataclass
class FakeUnit:
    """A second data-plane unit: one file, one process, its steps recorded when run."""

    name: str = "fake"
    up: dict[str, FakeRecord] = field(default_factory=dict)  # lb_id → what "runs"
    ran: list[str] = field(default_factory=list)
    live_ok: bool = False

    def render(self, desired: LoadBalancerSpec, paths: LbPaths) -> Rendered | None:
        body = f"fake for {desired.id} at {desired.vip.address}\n"
        return Rendered({"fake.conf": body}, digest(body))

    def observe(self, paths: LbPaths, ns: str) -> FakeRecord:
        return self.up.get(paths.lb_id, FakeRecord(False, None))

    def stopped(self, record: FakeRecord) -> FakeRecord:
        return FakeRecord(False, record.digest)

    def new_memory(self) -> dict[str, Any]:
        return {}

    def plan(self, view: UnitView) -> UnitPlan:
        rec: FakeRecord = view.record
        if rec.running and rec.digest == view.rendered.digest:
            return UnitPlan(True, None, (), ())
        live = (Sidecar("live"),) if self.live_ok and rec.running else None
        return UnitPlan(False, live, (Sidecar("pre"),), (Sidecar(f"start {view.rendered.digest}"),))

    def run(self, step: Any, ctx: RunContext) -> None:
        assert isinstance(step, Sidecar)
        self.ran.append(step.what)
        if step.what.startswith("start"):
            self.up[ctx.paths.lb_id] = FakeRecord(True, step.what.split()[1])

    def stop(self, paths: LbPaths) -> None:
        self.ran.append("stop")
        self.up.pop(paths.lb_id, None)

    def requeue_after(self, memory: Any) -> float | None:
        return None


def fake_record(up: bool) -> FakeRecord:
    r = FakeUnit().render(S1, PATHS)
    assert r is not None
    return FakeRecord(up, r.digest if up else None)


def with_fake(record: HostRecord, up: bool) -> HostRecord:
    return replace(record, units={**record.units, "fake": fake_record(up)})


def test_a_plugged_unit_is_planned_around_the_plumbing_next_to_haproxy() -> None:
    fake = FakeUnit()
    d = digest(f"fake for {LB} at {S1.vip.address}\n")
    assert plan(S1, with_fake(FRESH, False), NEW_PROCESS, units=(HAPROXY, fake)) == Plan((
        RecordNetwork(NET, write=True), Sidecar("pre"), PLUMB_MARK, FirstStart(T1), ForgetDeletes(), MarkLoaded(T1),
        Adopt(False), Sidecar(f"start {d}"), *done(S1, epoch_write=True)))  # fmt: skip
    # converged only when every unit is
    assert plan(S1, with_fake(host(), True), memory(), units=(HAPROXY, fake)) == Plan(done(S1, verified=False))
    assert plan(S1, with_fake(host(), False), memory(), units=(HAPROXY, fake)) == Plan((
        Sidecar("pre"), PLUMB, Sidecar(f"start {d}"), *done(S1)))  # haproxy: nothing to do
    # live only when every other unit is converged (or can change live too)
    live = plan(S2_MEMBER, with_fake(host(), True), memory(), units=(HAPROXY, fake))
    assert live.steps[0] == LIVE_T2M[0] and live.fallback
    not_live = plan(S2_MEMBER, with_fake(host(), False), memory(), units=(HAPROXY, fake))
    assert not_live.fallback == () and not any(isinstance(s, LiveApply) for s in not_live.steps)
    fake.live_ok = True
    stale = replace(host(), units={**host().units, "fake": FakeRecord(True, "old")})
    assert plan(S1, stale, memory(), units=(HAPROXY, fake)) == Plan(
        (Sidecar("live"), *done(S1, verified=False)), fallback=(Sidecar("pre"), PLUMB, Sidecar(f"start {d}"), *done(S1)))
    # a failover stops it too, and it starts afresh
    steps = plan(S2_EPOCH, with_fake(host(), True), memory(), units=(HAPROXY, fake)).steps
    assert steps[:2] == (StopUnit("haproxy"), StopUnit("fake")) and Sidecar("pre") in steps
    assert plan_teardown(None, host(), memory(), [HAPROXY, fake], ns=NS).steps[:2] == (
        StopUnit("haproxy"), StopUnit("fake"))


def test_a_plugged_unit_runs_its_steps_through_the_reconciler(tmp_path: Path) -> None:
    """The reconciler, executor and HAProxy unit as they are; a second unit given to the constructor."""
    fake = FakeUnit()
    source = Source({LB: S1})
    haproxy = FakeHaproxyProcess()
    rec = Reconciler(config=AgentConfig(state_dir=tmp_path), source=source, reporter=Reports(),
                     plumber=FakePlumber(), haproxy=haproxy, units=[fake])  # fmt: skip
    assert rec.reconcile(LB).ok
    d = digest(f"fake for {LB} at {S1.vip.address}\n")
    assert fake.ran == ["pre", f"start {d}"]
    assert haproxy.is_running(rec.paths(LB)) is not None
    fake.ran.clear()
    assert rec.reconcile(LB).ok and fake.ran == []  # converged: neither unit does anything
    fake.stop(rec.paths(LB))  # its process died
    fake.ran.clear()
    assert rec.reconcile(LB).ok
    assert fake.ran[0] == "pre" and fake.ran[1].startswith("start ")
    assert [v for v, _ in haproxy.calls].count("start") == 1  # HAProxy untouched
    del source.specs[LB]
    fake.ran.clear()
    assert rec.reconcile(LB).ok and fake.ran == ["stop"] and haproxy.is_running(rec.paths(LB)) is None


# ---------------------------------------------------------------------------------------------- ACTIVE_STANDBY
# One instance of a pair: its own vrrp port and address (the VIP is keepalived's), the keepalived unit next
# to HAProxy (the same HAProxy unit, no branch of its own), and the track file vouched for last.

AS = S1.model_copy(update={"topology": "ACTIVE_STANDBY", "binding_epoch": 3, "vrrp": VrrpSpec(
    amphora_id="amp-a", role="MASTER", priority=200, virtual_router_id=9, address="10.0.0.11", port_id="port-vrrp-a",
    mac_address="fa:16:3e:00:00:0a", peers=(VrrpPeerSpec(amphora_id="amp-b", address="10.0.0.12"),))})  # fmt: skip
AS_MEMBER = AS.model_copy(update={"generation": 2, "pools": S2_MEMBER.pools})
KEEPALIVED = KeepalivedUnit(FakeKeepalived(), spec_vrrp(DEFAULT_NAMING), haproxy=FakeHaproxyProcess(),
                            tracker=FakeTracker())  # fmt: skip
AS_UNITS = (HAPROXY, KEEPALIVED)
TA, TA_MEMBER = text(AS), text(AS_MEMBER)
_K = KEEPALIVED.render(AS, PATHS)
assert _K is not None
KA = _K.files["keepalived.conf"]
PLUG_AS = port_plug(AS)
PLUMB_AS, PLUMB_AS_MARK = Plumb(NS, NET, PLUG_AS, mark=False), Plumb(NS, NET, PLUG_AS, mark=True)


def as_host(*, track: str | None = "0", vouched: int | None = 100, keepalived: bool = True, **kw: Any) -> HostRecord:
    """A host running the instance ``AS`` converged and vouched for, unless told otherwise."""
    kw = {"cfg": TA, "loaded": digest(TA), "epoch": 3, **kw}
    rec = host(**kw)
    haproxy = rec.units["haproxy"]
    k = KeepalivedRecord(KA, 7 if keepalived else None, keepalived, track, vouched, haproxy.pid if haproxy.in_ns else None)
    return replace(rec, plumbed=plug_digest(NS, PLUG_AS) if kw.get("plumbed", "ok") == "ok" else rec.plumbed,
                   units={**rec.units, "keepalived": k})  # fmt: skip


def as_memory(**kw: Any) -> LbMemory:
    mem = memory(applied=kw.pop("applied", AS), **kw)
    mem.epoch = 3 if mem.applied is not None else None
    return mem


AS_FRESH = as_host(cfg=None, loaded=None, pid=None, in_ns=False, epoch=None, network=False, plumbed=None,
                   port_alive=False, track=None, vouched=None, keepalived=False)  # fmt: skip
AS_FRESH = replace(AS_FRESH, units={**AS_FRESH.units, "keepalived": KeepalivedRecord(None, None, False)})
START_K = (CheckConfig(KA), SwapConfig(), StartKeepalived(), Vouch())

ACTIVE_STANDBY: dict[str, Row] = {
    "first start of an instance: its own port plumbed, HAProxy, then keepalived, then vouched": Row(AS, AS_FRESH,
        NEW_PROCESS, Plan((RecordNetwork(NET, write=True), PLUMB_AS_MARK, FirstStart(TA), ForgetDeletes(),
        MarkLoaded(TA), Adopt(False), *START_K, *done(AS, epoch_write=True)))),
    "converged and vouched for: remember only": Row(AS, as_host(), as_memory(), Plan(done(AS, verified=False))),
    "HAProxy died (the tracker wrote 1): start it, vouch again": Row(AS,
        as_host(pid=None, in_ns=False, track="1", vouched=None), as_memory(), Plan((PLUMB_AS, Start(),
        ForgetDeletes(), MarkLoaded(TA), Adopt(False), Vouch(), *done(AS)))),
    "a new agent process (nothing vouched yet): vouch live, full path as fallback": Row(AS, as_host(vouched=None),
        NEW_PROCESS, Plan((RecordNetwork(NET, write=False), Vouch(), *done(AS, verified=False)), fallback=(
        PLUMB_AS, Adopt(True), Vouch(), *done(AS)))),
    "keepalived died: started, vouched, HAProxy untouched": Row(AS, as_host(keepalived=False), as_memory(), Plan((
        PLUMB_AS, StartKeepalived(), Vouch(), *done(AS)))),
    "members-only change: live (keepalived converged)": Row(AS_MEMBER, as_host(), as_memory(), Plan((
        LiveApply(tuple(plan_runtime(TA, TA_MEMBER) or ())), CheckLive(TA_MEMBER), Swap(), MarkLoaded(TA_MEMBER),
        KeepPendingDeletes(), *done(AS_MEMBER, verified=False)), fallback=(CheckInBackground(TA_MEMBER), PLUMB_AS,
        Check(TA_MEMBER, background=True), Swap(), SaveServerState(), Reload(), ForgetDeletes(), MarkLoaded(TA_MEMBER),
        Adopt(False), *done(AS_MEMBER)))),
    "epoch changed (this instance replaced): both stopped, started afresh, vouched": Row(
        AS.model_copy(update={"binding_epoch": 4}), as_host(), as_memory(), Plan((
        StopUnit("haproxy"), StopUnit("keepalived"), RemoveNamespace(NS), ForgetPlumbing(), Adopt(False),
        PLUMB_AS_MARK, Start(), ForgetDeletes(), MarkLoaded(TA), Adopt(False), StartKeepalived(), Vouch(),
        StoreEpoch(4, write=True), SetApplied(AS.model_copy(update={"binding_epoch": 4})), MarkVerified()))),
}  # fmt: skip


@pytest.mark.parametrize("row", ACTIVE_STANDBY.values(), ids=ACTIVE_STANDBY.keys())
def test_plan_active_standby(row: Row) -> None:
    assert plan(row.desired, row.record, row.memory, interval=row.interval, units=AS_UNITS) == row.expected


def test_an_instance_plugs_its_vrrp_port_and_leaves_the_vip_to_keepalived() -> None:
    assert AS.vrrp is not None
    assert (PLUG_AS.port_id, PLUG_AS.mac_address) == ("port-vrrp-a", AS.vrrp.mac_address)
    assert PLUG_AS.addresses == (("10.0.0.11", S1.vip.prefixlen),)
    assert PLUG_AS.foreign == ((S1.vip.address, S1.vip.prefixlen),)
    assert (PLUG_AS.gateway_ip, PLUG_AS.host_routes, PLUG_AS.network) == (PLUG.gateway_ip, PLUG.host_routes, NET)
    assert port_plug(S1) == PLUG and plug_digest(NS, PLUG) == digest(f"{NS}\n{PLUG!r}")  # SINGLE: as before
    assert plug_digest(NS, PLUG_AS) != plug_digest(NS, replace(PLUG_AS, foreign=()))


def test_an_instance_gone_while_it_served_does_not_solicit_the_vip() -> None:
    """The VIP is the other instance's (VRRP moved it, with gratuitous ARP); only a SINGLE LB solicits."""
    assert plan_teardown(None, as_host(), as_memory(), AS_UNITS, ns=NS) == Plan((
        StopUnit("haproxy"), StopUnit("keepalived"), RemoveNamespace(NS), ReleaseBridge(NET), RemoveDirectory()))


def test_a_single_lb_renders_nothing_for_keepalived() -> None:
    assert KEEPALIVED.render(S1, PATHS) is None
    assert plan(S1, host(), memory(), units=AS_UNITS) == Plan(done(S1, verified=False))
