"""The reconciler on fakes: what it asks the host and the process layer to do, and what it reports.

``FakePlumber`` is the host, ``FakeHaproxyProcess`` the processes (config files go to a temp state dir,
as with the real one); a dict is the desired state and a list records the reports. A "new agent
process" is a new ``Reconciler`` on the same fakes and state dir: the host and HAProxy outlive it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lbaas.agent.haproxy.process import FakeHaproxyProcess, HaproxyError
from lbaas.agent.netns.base import PlumbingError, ns_name
from lbaas.agent.netns.fake import FakePlumber
from lbaas.agent.reconciler import REPORT_ERROR_AFTER, AgentConfig, Reconciler
from lbaas.agent.workqueue import Outcome, WorkQueue
from lbaas.domain.spec import LoadBalancerSpec
from tests.unit.agent.haproxy.cases import http_lb, member

LB = "lb-0001"
NS = ns_name(LB)
BRIDGE = "brqnetvip"


@dataclass
class Source:
    specs: dict[str, LoadBalancerSpec] = field(default_factory=dict)

    def assigned(self) -> Mapping[str, int]:
        return {k: v.generation for k, v in self.specs.items()}

    def get(self, lb_id: str) -> LoadBalancerSpec | None:
        return self.specs.get(lb_id)


@dataclass
class Reports:
    """A StatusReporter that records every report."""

    done: list[tuple[str, int, bool, str | None]] = field(default_factory=list)
    operating_calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    stats_calls: list[tuple[str, dict[str, dict[str, int]]]] = field(default_factory=list)
    instance_calls: list[tuple[str, str, int, str, bool]] = field(default_factory=list)

    def applied(self, lb_id: str, generation: int, *, ok: bool, message: str | None = None) -> None:
        self.done.append((lb_id, generation, ok, message))

    def operating(self, lb_id: str, statuses: Mapping[str, str]) -> None:
        self.operating_calls.append((lb_id, dict(statuses)))

    def stats(self, lb_id: str, deltas: Mapping[str, Mapping[str, int]]) -> None:
        self.stats_calls.append((lb_id, {k: dict(v) for k, v in deltas.items()}))

    def instance(self, lb_id: str, amphora_id: str, *, epoch: int, vrrp_state: str, healthy: bool) -> None:
        self.instance_calls.append((lb_id, amphora_id, epoch, vrrp_state, healthy))


class FlakyPlumber(FakePlumber):
    """Fails ``ensure_namespace`` the next ``fail`` times (a kernel hiccup)."""

    fail = 0

    def ensure_namespace(self, ns: str, *, ipv6: bool = True) -> None:
        if self.fail > 0:
            self.fail -= 1
            raise PlumbingError("netlink: resource busy")
        super().ensure_namespace(ns, ipv6=ipv6)


@dataclass
class World:
    state_dir: Path
    source: Source
    reports: Reports
    plumber: FlakyPlumber
    haproxy: FakeHaproxyProcess
    rec: Reconciler

    def new_agent(self) -> Reconciler:
        """A new agent process: fresh memory, same host, same HAProxy processes, same state dir."""
        self.rec = make_reconciler(self.state_dir, self.source, self.reports, self.plumber, self.haproxy)
        return self.rec

    def set(self, spec: LoadBalancerSpec) -> LoadBalancerSpec:
        self.source.specs[spec.id] = spec
        return spec

    def reset_calls(self) -> None:
        self.plumber.calls.clear()
        self.haproxy.calls.clear()
        self.reports.done.clear()

    def verbs(self) -> list[str]:
        return [v for v, _ in self.haproxy.calls]

    @property
    def paths(self) -> Any:
        return self.rec.paths(LB)


def make_reconciler(
    state_dir: Path, source: Source, reports: Reports, plumber: FakePlumber, haproxy: FakeHaproxyProcess
) -> Reconciler:
    return Reconciler(
        config=AgentConfig(state_dir=state_dir),
        source=source,
        reporter=reports,
        plumber=plumber,
        haproxy=haproxy,
    )


@pytest.fixture
def w(tmp_path: Path) -> World:
    source, reports, plumber, haproxy = Source(), Reports(), FlakyPlumber(), FakeHaproxyProcess()
    return World(
        tmp_path, source, reports, plumber, haproxy, make_reconciler(tmp_path, source, reports, plumber, haproxy)
    )


def spec(generation: int = 1, *, members: int = 2, epoch: int = 0, deleting: bool = False) -> LoadBalancerSpec:
    base = http_lb(members=tuple(member(f"member-{i}", f"198.51.100.{10 + i}") for i in range(members)))
    return base.model_copy(update={"generation": generation, "binding_epoch": epoch, "deleting": deleting})


# ---------------------------------------------------------------------------------------------- create


def test_create_plumbs_swaps_starts_and_reports_the_generation(w: World) -> None:
    w.set(spec(1))
    assert w.rec.reconcile(LB).ok
    assert w.plumber.calls == [("ensure_namespace", NS), ("ensure_bridge", BRIDGE), ("ensure_port", "port-vip")]
    assert w.verbs() == ["swap", "start"]  # a first start parses the file itself: no separate haproxy -c
    assert w.haproxy.lbs[w.paths].ns == NS
    assert w.paths.cfg.read_text() == w.haproxy.lbs[w.paths].cfg
    assert w.reports.done == [(LB, 1, True, None)]
    assert w.rec.applied[LB].generation == 1
    assert LB not in w.rec.adopted


def test_unchanged_desired_state_changes_nothing_and_reports_nothing(w: World) -> None:
    w.set(spec(1))
    w.rec.reconcile(LB)
    w.reset_calls()
    for _ in range(3):
        assert w.rec.reconcile(LB).ok
    assert w.verbs() == []  # no check, no reload
    assert w.plumber.calls == []
    assert w.reports.done == []


def test_changed_desired_state_is_checked_swapped_and_reloaded(w: World) -> None:
    w.set(spec(1))
    w.rec.reconcile(LB)
    master = w.haproxy.is_running(w.paths)
    w.reset_calls()
    w.set(spec(2, members=3))
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == ["check", "swap", "reload"]
    assert w.haproxy.is_running(w.paths) == master  # same master, new worker
    assert "member-2" in w.paths.cfg.read_text()
    # this fake refuses live changes ("" to "add server"), so the reconciler reloaded instead
    assert w.haproxy.lbs[w.paths].runtime_log[0].startswith("add server ")
    assert w.haproxy.lbs[w.paths].runtime_log[-1] == "show servers state"  # health kept across the reload
    assert w.reports.done == [(LB, 2, True, None)]


def test_refused_config_reports_haproxys_words_and_keeps_the_old_one(w: World) -> None:
    w.set(spec(1))
    w.rec.reconcile(LB)
    good = w.paths.cfg.read_text()
    w.haproxy.reject = lambda text: (
        "[ALERT] parsing [haproxy.cfg:42]: 'server member-2' unknown keyword" if "member-2" in text else None
    )
    w.reset_calls()
    w.set(spec(2, members=3))
    outcome = w.rec.reconcile(LB)
    assert outcome.ok  # terminal for this generation: no retry loop
    assert w.verbs() == ["check"]  # no swap, no reload
    assert w.paths.cfg.read_text() == good
    assert "member-2" in w.paths.cfg_failed.read_text()
    [(lb_id, gen, ok, message)] = w.reports.done
    assert (lb_id, gen, ok) == (LB, 2, False)
    assert message is not None and "unknown keyword" in message and "haproxy.cfg:42" in message
    assert w.rec.applied[LB].generation == 1  # the observer still measures what runs

    # A resync of the same generation neither runs haproxy -c again nor reports again.
    w.reset_calls()
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == [] and w.reports.done == []

    # A fix is a new attempt.
    w.haproxy.reject = None
    w.set(spec(3, members=4))
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == ["check", "swap", "reload"]
    assert w.reports.done == [(LB, 3, True, None)]


def test_refused_config_of_a_new_generation_with_the_same_text_is_reported_for_it(w: World) -> None:
    w.haproxy.reject = lambda text: "bad"
    w.set(spec(1))
    w.rec.reconcile(LB)
    w.set(spec(2))  # e.g. a rename: new generation, same rendered text
    w.rec.reconcile(LB)
    assert [(g, ok) for _, g, ok, _ in w.reports.done] == [(1, False), (2, False)]
    assert w.verbs() == ["swap", "check"]  # the start failed, haproxy -c said why; the second needed neither
    assert not w.paths.cfg.exists() and w.paths.cfg_failed.exists()  # no live config was left behind


def test_first_start_that_fails_on_a_good_config_is_retried(w: World) -> None:
    w.set(spec(1))
    w.plumber.fail = 0
    real_start = w.haproxy.ensure_running
    attempts: list[int] = []

    def flaky_start(paths: Any, ns: str) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise HaproxyError("haproxy did not daemonize in 10s")
        return real_start(paths, ns)

    w.haproxy.ensure_running = flaky_start  # type: ignore[method-assign]
    outcome = w.rec.reconcile(LB)
    assert not outcome.ok and "daemonize" in outcome.message  # not a refusal: retried
    assert w.verbs() == ["swap", "check", "swap"]  # checked to tell, and kept as the (checked) config
    assert w.rec.reconcile(LB).ok
    assert w.haproxy.is_running(w.paths) is not None
    assert w.reports.done == [(LB, 1, True, None)]


def test_refused_config_while_haproxy_is_dead_restarts_the_last_good_one(w: World) -> None:
    w.set(spec(1))
    w.rec.reconcile(LB)
    w.haproxy.crash(w.paths)
    w.haproxy.reject = lambda text: "bad"
    w.set(spec(2, members=3))
    w.rec.reconcile(LB)
    assert w.haproxy.is_running(w.paths) is not None
    assert "member-2" not in (w.haproxy.lbs[w.paths].cfg or "")


# ---------------------------------------------------------------------------------------------- failures


def test_transient_error_is_retried_and_reported_as_error_after_three_attempts(w: World) -> None:
    w.set(spec(1))
    w.plumber.fail = REPORT_ERROR_AFTER
    for attempt in range(1, REPORT_ERROR_AFTER + 1):
        outcome = w.rec.reconcile(LB)
        assert not outcome.ok and "resource busy" in outcome.message
        expected = [(LB, 1, False, "netlink: resource busy")] if attempt == REPORT_ERROR_AFTER else []
        assert w.reports.done == expected, attempt
    assert w.haproxy.is_running(w.paths) is None
    assert w.rec.reconcile(LB).ok  # the kernel recovered
    assert w.reports.done[-1] == (LB, 1, True, None)
    assert w.haproxy.is_running(w.paths) is not None


def test_the_work_queue_retries_a_failing_lb_by_itself(w: World) -> None:
    w.set(spec(1))
    w.plumber.fail = REPORT_ERROR_AFTER + 1
    q = WorkQueue(w.rec.reconcile, workers=1, backoff_base=0.01, backoff_max=0.05)
    q.start()
    try:
        q.add(LB)
        deadline = time.monotonic() + 5
        while w.haproxy.is_running(w.paths) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert q.wait_idle(5)
    finally:
        q.stop()
    assert [ok for *_, ok, _ in w.reports.done] == [False, True]
    assert w.haproxy.is_running(w.paths) is not None


def test_a_process_error_counts_like_a_kernel_error(w: World) -> None:
    w.set(spec(1))

    def boom(paths: Any, ns: str) -> int:
        raise HaproxyError("haproxy exited with 1: cannot bind socket")

    w.haproxy.ensure_running = boom  # type: ignore[method-assign]
    outcomes = [w.rec.reconcile(LB) for _ in range(REPORT_ERROR_AFTER)]
    assert [o.ok for o in outcomes] == [False] * REPORT_ERROR_AFTER
    assert w.reports.done == [(LB, 1, False, "haproxy exited with 1: cannot bind socket")]


# ---------------------------------------------------------------------------------------------- teardown


def test_desired_none_tears_everything_down(w: World) -> None:
    w.set(spec(1))
    w.rec.reconcile(LB)
    w.reset_calls()
    del w.source.specs[LB]
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == ["stop"]
    # it served the VIP until now: ask who holds it, so switches relearn the owner's port
    assert w.plumber.calls == [("remove_namespace", NS), ("solicit", BRIDGE), ("remove_bridge", BRIDGE)]
    assert w.plumber.solicited == [spec(1).vip.address]
    assert not w.paths.directory.exists()
    assert w.reports.done == []  # nothing to report for an LB that is gone
    assert LB not in w.rec.applied


def test_deleting_tears_down_and_reports_the_delete(w: World) -> None:
    w.set(spec(1))
    w.rec.reconcile(LB)
    w.reset_calls()
    w.set(spec(2, deleting=True))
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == ["stop"]
    assert ("remove_namespace", NS) in w.plumber.calls and ("remove_bridge", BRIDGE) in w.plumber.calls
    assert not w.paths.directory.exists()
    assert w.reports.done == [(LB, 2, True, None)]


@pytest.mark.parametrize("gone", [False, True], ids=["deleting", "row-gone"])
def test_teardown_by_a_new_agent_process_still_releases_the_bridge(w: World, gone: bool) -> None:
    w.set(spec(1))
    w.rec.reconcile(LB)
    w.new_agent()  # never saw this LB's spec
    if gone:
        del w.source.specs[LB]
    else:
        w.set(spec(2, deleting=True))
    w.reset_calls()
    assert w.rec.reconcile(LB).ok
    assert ("remove_bridge", BRIDGE) in w.plumber.calls
    assert BRIDGE not in w.plumber.bridges
    assert NS not in w.plumber.namespaces


def test_the_network_record_is_what_the_bridge_release_uses(w: World) -> None:
    w.set(spec(1))
    w.rec.reconcile(LB)
    assert json.loads(w.paths.network.read_text())["network_id"] == "net-vip"


# ---------------------------------------------------------------------------------------------- failover


def test_epoch_change_replaces_namespace_and_process(w: World) -> None:
    w.set(spec(1, epoch=1))
    w.rec.reconcile(LB)
    old = w.haproxy.is_running(w.paths)
    w.reset_calls()
    w.set(spec(2, epoch=2))
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == ["stop", "start"]  # same config text: no check, a fresh process
    assert w.plumber.calls == [("remove_namespace", NS), ("ensure_namespace", NS), ("ensure_port", "port-vip")]
    new = w.haproxy.is_running(w.paths)
    assert new is not None and new != old
    assert w.reports.done == [(LB, 2, True, None)]


def test_epoch_change_is_seen_by_a_new_agent_process(w: World) -> None:
    w.set(spec(1, epoch=1))
    w.rec.reconcile(LB)
    old = w.haproxy.is_running(w.paths)
    w.new_agent()
    w.set(spec(2, epoch=2))
    w.rec.reconcile(LB)
    assert w.haproxy.is_running(w.paths) not in (None, old)


# ---------------------------------------------------------------------------------------------- adoption


def test_new_agent_process_adopts_a_running_haproxy(w: World) -> None:
    w.set(spec(1))
    w.rec.reconcile(LB)
    master = w.haproxy.is_running(w.paths)
    w.new_agent()
    w.reset_calls()
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == []  # no check, no start, no reload, no stop
    assert w.plumber.calls == []
    assert w.haproxy.is_running(w.paths) == master
    assert w.rec.applied[LB].generation == 1 and LB in w.rec.adopted
    assert w.reports.done == [(LB, 1, True, None)]  # idempotent: the store ignores a stale one


def test_new_agent_process_restarts_a_haproxy_that_died_meanwhile(w: World) -> None:
    w.set(spec(1))
    w.rec.reconcile(LB)
    w.haproxy.crash(w.paths)
    w.new_agent()
    w.reset_calls()
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == ["start"]
    assert LB not in w.rec.adopted  # its counters start from zero: nothing to skip


def test_new_agent_process_applies_a_change_made_while_it_was_down(w: World) -> None:
    w.set(spec(1))
    w.rec.reconcile(LB)
    w.new_agent()
    w.set(spec(2, members=3))
    w.reset_calls()
    w.rec.reconcile(LB)
    assert w.verbs() == ["check", "swap", "reload"]
    assert LB not in w.rec.adopted


def test_concurrent_reconciles_of_distinct_lbs_do_not_mix(w: World) -> None:
    specs = [spec(1).model_copy(update={"id": f"lb-{i:04d}"}) for i in range(2, 8)]
    for s in specs:
        w.set(s)
    threads = [threading.Thread(target=w.rec.reconcile, args=(s.id,)) for s in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(w.rec.applied) == sorted(s.id for s in specs)
    for s in specs:
        assert f"load balancer {s.id}" in w.rec.paths(s.id).cfg.read_text()


# ---------------------------------------------------------------------------------------------- half-applied


@pytest.mark.parametrize("new_agent", [False, True], ids=["same-agent", "agent-restarted"])
def test_a_swap_whose_reload_failed_is_reloaded_on_the_next_pass(w: World, new_agent: bool) -> None:
    """The file on disk is the new config, the process still runs the old one: that is not "applied"."""
    w.set(spec(1))
    w.rec.reconcile(LB)
    real_reload = w.haproxy.reload

    def failing_reload(paths: Any) -> int:
        raise HaproxyError("reload of lb-0001 failed; the previous worker keeps serving")

    w.haproxy.reload = failing_reload  # type: ignore[method-assign]
    w.set(spec(2, members=3))
    assert not w.rec.reconcile(LB).ok
    assert "member-2" in w.paths.cfg.read_text()  # swapped in, never loaded
    w.haproxy.reload = real_reload  # type: ignore[method-assign]
    if new_agent:
        w.new_agent()
    w.reset_calls()
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == ["reload"]  # already checked and swapped: only the reload was missing
    assert w.haproxy.lbs[w.paths].reloads == 1
    assert w.reports.done == [(LB, 2, True, None)]
    assert LB not in w.rec.adopted
    w.reset_calls()
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == []


# ---------------------------------------------------------------------------------------------- live member changes


@pytest.fixture
def live(w: World) -> World:
    """A World whose fake HAProxy answers member commands the way HAProxy 2.6 does, with LB at generation 1."""
    w.haproxy.live_runtime = True
    w.set(spec(1))
    assert w.rec.reconcile(LB).ok
    w.reset_calls()
    w.haproxy.lbs[w.paths].runtime_log.clear()
    return w


def test_member_added_live_is_checked_and_swapped_without_plumbing_or_reload(live: World) -> None:
    w = live
    w.set(spec(2, members=3))
    assert w.rec.reconcile(LB) == Outcome(ok=True)
    assert w.verbs() == ["check", "swap"]  # no reload
    assert w.plumber.calls == []  # an LB this process converged, same VIP: plumbing not re-verified
    log = w.haproxy.lbs[w.paths].runtime_log
    assert log[0].startswith("add server pool-a:listener-80/member-2 198.51.100.12:80")
    assert log[1:] == ["enable server pool-a:listener-80/member-2"]
    assert "member-2" in w.paths.cfg.read_text()
    assert w.reports.done == [(LB, 2, True, None)]
    w.reset_calls()
    assert w.rec.reconcile(LB).ok  # and it stays converged: the loaded digest is the new text
    assert w.verbs() == []


def test_failed_runtime_command_falls_back_to_check_and_reload(live: World) -> None:
    w = live
    w.haproxy.responses["enable server pool-a:listener-80/member-2"] = "No such server.\n"
    w.set(spec(2, members=3))
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == ["check", "swap", "reload"]
    assert w.reports.done == [(LB, 2, True, None)]


def test_refused_delete_leaves_the_server_in_maintenance_and_is_retried(live: World) -> None:
    w = live
    delete = "del server pool-a:listener-80/member-1"
    w.haproxy.responses[delete] = "Server still has connections attached to it, cannot remove it.\n"
    w.set(spec(2, members=1))
    outcome = w.rec.reconcile(LB)
    assert outcome.ok and outcome.requeue_after is not None  # come back for the delete
    assert w.verbs() == ["check", "swap"]
    assert w.haproxy.lbs[w.paths].runtime_log == ["set server pool-a:listener-80/member-1 state maint", delete]
    assert w.reports.done == [(LB, 2, True, None)]  # no traffic goes there any more: applied
    del w.haproxy.responses[delete]  # the connections ended
    assert w.rec.reconcile(LB) == Outcome(ok=True)
    assert w.haproxy.lbs[w.paths].runtime_log[-1] == delete
    assert w.verbs() == ["check", "swap"]  # nothing more


def test_config_refused_after_a_live_change_reloads_the_old_config(live: World) -> None:
    w = live
    good = w.paths.cfg.read_text()
    w.haproxy.reject = lambda text: "[ALERT] no" if "member-2" in text else None
    w.set(spec(2, members=3))
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == ["check", "reload"]  # the live change is undone by reloading what the file says
    assert w.paths.cfg.read_text() == good
    [(_, gen, ok, message)] = w.reports.done
    assert (gen, ok) == (2, False) and message is not None and "[ALERT] no" in message
    w.reset_calls()
    assert w.rec.reconcile(LB).ok  # refused once: not applied, checked or reported again
    assert w.verbs() == [] and w.reports.done == []


def test_non_member_change_still_plumbs_checks_and_reloads(live: World) -> None:
    w = live
    w.set(spec(2).model_copy(update={"listeners": tuple(
        li.model_copy(update={"timeout_client_data": 1234}) for li in spec(2).listeners)}))
    assert w.rec.reconcile(LB).ok
    assert w.verbs() == ["check", "swap", "reload"]
    assert w.haproxy.lbs[w.paths].runtime_log == ["show servers state"]


# ------------------------------------------------------------------------------------- bridge race


class KernelLikeBridges(FakePlumber):
    """As in the kernel, deleting a bridge releases its ports; and "unused? then delete" is two steps,
    with a pause between them that the test controls."""

    def __init__(self) -> None:
        super().__init__()
        self.enslaved: dict[str, str] = {}  # port id → bridge
        self.checked = threading.Event()  # the teardown found the bridge unused
        self.go = threading.Event()  # ... and may delete it now

    def ensure_port(self, ns: str, port: Any) -> str:
        vif = super().ensure_port(ns, port)
        self.enslaved[port.port_id] = self.naming.bridge_name(port.network.network_id)
        return vif

    def remove_bridge_if_unused(self, network: Any) -> bool:
        name = self.naming.bridge_name(network.network_id)
        if any(self.naming.bridge_name(fp.port.network.network_id) == name for fp in self.ports.values()):
            return False
        self.checked.set()
        self.go.wait(timeout=0.5)
        self.bridges.pop(name, None)
        self.enslaved = {p: b for p, b in self.enslaved.items() if b != name}
        return True


def test_a_teardown_never_releases_the_bridge_under_a_port_being_plugged(tmp_path: Path) -> None:
    """The last LB of a network goes while a new one on that network is plugged: the new LB must end
    up on a bridge (seen while building the issue-4 concurrency test: without the per-network lock it
    reported ACTIVE with its veth on no bridge, until a resync re-plugged it)."""
    plumber, source, reports = KernelLikeBridges(), Source(), Reports()
    rec = make_reconciler(tmp_path, source, reports, plumber, FakeHaproxyProcess())
    old = spec(1)
    new_vip = old.vip.model_copy(
        update={"port_id": "port-new", "address": "203.0.113.77", "mac_address": "fa:16:3e:00:00:77"}
    )
    new = old.model_copy(update={"id": "lb-0002", "vip": new_vip})
    source.specs[old.id] = old
    assert rec.reconcile(old.id).ok
    del source.specs[old.id]  # deleted: its teardown will find the bridge unused
    source.specs[new.id] = new

    def plug_new_once_teardown_checked() -> None:
        plumber.checked.wait(timeout=5)
        rec.reconcile(new.id)
        plumber.go.set()

    t = threading.Thread(target=plug_new_once_teardown_checked)
    t.start()
    assert rec.reconcile(old.id).ok
    t.join(timeout=10)
    bridge = plumber.naming.bridge_name(new.vip.network_id)
    assert bridge in plumber.bridges
    assert plumber.enslaved.get("port-new") == bridge
    assert rec.reconcile(new.id).ok and plumber.enslaved.get("port-new") == bridge
