"""Measure what runs: operating status and stats from each HAProxy's socket, once a second.

Status is measured, never assumed: ``show stat`` rows go through ``domain.status`` and only changes
are reported. Counters are absolute per HAProxy *worker* and restart at zero in the new worker of every
reload, so the observer reports deltas and the store accumulates them; active_connections is a gauge and
is reported as is.

A reload is recognised by the worker's identity (``show info`` → ``Pid``), not by a counter going
down: the new worker may count past the old one's last sample before the next tick, and a "went down"
test would then drop the old worker's share. With a new worker, its whole value is the delta.

The baseline (worker, counters last reported) is also kept in the LB's state directory, so an agent
that restarts and adopts a running HAProxy carries on from it instead of reporting every counter the
worker ever counted a second time.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

from lbaas.agent.haproxy.process import HaproxyProcess
from lbaas.agent.haproxy.stats import (
    parse_show_info,
    parse_show_stat,
    split_info_stat,
    stat_signature,
    worker_identity,
)
from lbaas.agent.keepalived.state import InstanceProbe
from lbaas.agent.paths import LbPaths
from lbaas.agent.reporter import GAUGES, StatusReporter
from lbaas.domain.spec import LoadBalancerSpec
from lbaas.domain.status import ListenerCounters, compute_statuses, listener_counters, member_counters

log = logging.getLogger(__name__)

BASELINE_FILE = "counters.json"
STATUSES_FILE = "statuses.json"  # the operating statuses last reported, for the generation they were measured on

Baseline = tuple[str | None, dict[str, ListenerCounters]]


def counter_deltas(
    previous: Baseline | None, worker: str | None, current: dict[str, ListenerCounters]
) -> dict[str, dict[str, int]]:
    """listener id → what to add to the stored totals (gauges: their current value when it changed).

    ``previous`` is the last baseline reported (None: nothing known). Same worker: the difference; a
    counter lower than before (``clear counters``) counts from zero. Another worker: everything it counted.
    """
    same_worker = previous is not None and worker is not None and previous[0] == worker
    before = previous[1] if previous is not None and same_worker else {}
    deltas: dict[str, dict[str, int]] = {}
    for listener_id, now in current.items():
        known = previous is not None and listener_id in previous[1]
        was = asdict(before.get(listener_id, ListenerCounters()))
        d: dict[str, int] = {}
        for name, value in asdict(now).items():
            if name in GAUGES:
                old = previous[1][listener_id] if previous is not None and known else None
                if old is None or value != getattr(old, name):
                    d[name] = value
            else:
                delta = value - was[name] if value >= was[name] else value
                if delta:
                    d[name] = delta
        if d:
            deltas[listener_id] = d
    return deltas


def load_baseline(path: Path) -> Baseline | None:
    try:
        data = json.loads(path.read_text())
        counters = {lid: ListenerCounters(**c) for lid, c in data["counters"].items()}
        return (data.get("worker"), counters)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable counter baseline %s: %s", path, exc)
        return None


def save_baseline(path: Path, baseline: Baseline) -> None:
    if not path.parent.is_dir():
        return  # the LB is being torn down
    tmp = path.with_suffix(".tmp")
    worker, counters = baseline
    tmp.write_text(json.dumps({"worker": worker, "counters": {k: asdict(v) for k, v in counters.items()}}))
    tmp.replace(path)


def load_statuses(path: Path, generation: int, epoch: int) -> dict[str, str]:
    """The statuses recorded for exactly this generation and binding epoch (any change of the LB
    makes the next observation report everything again); {} when unknown."""
    try:
        data = json.loads(path.read_text())
        if data.get("generation") == generation and data.get("epoch") == epoch:
            return {str(k): str(v) for k, v in data["statuses"].items()}
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring unreadable statuses %s: %s", path, exc)
    return {}


def save_statuses(path: Path, generation: int, epoch: int, statuses: dict[str, str]) -> None:
    if not path.parent.is_dir():
        return  # the LB is being torn down
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"generation": generation, "epoch": epoch, "statuses": statuses}))
    tmp.replace(path)


class AppliedState(Protocol):
    """What the observer needs from the reconciler (``Reconciler`` is one): what runs, where, through what."""

    @property
    def haproxy(self) -> HaproxyProcess: ...

    def applied_spec(self, lb_id: str) -> LoadBalancerSpec | None: ...

    def paths(self, lb_id: str) -> LbPaths: ...


class Observer:
    def __init__(self, reconciler: AppliedState, reporter: StatusReporter, *, instances: InstanceProbe | None = None,
                 instance_refresh: float = 30.0) -> None:  # fmt: skip
        """``instances``: measures this agent's instance of each ACTIVE_STANDBY LB (reported on change, and
        again every ``instance_refresh`` seconds: the resync interval)."""
        self._reconciler = reconciler
        self._reporter = reporter
        self._instances = instances
        self._instance_refresh = instance_refresh
        # lb_id → ((amphora id, epoch, vrrp state, healthy), when reported)
        self._instance: dict[str, tuple[tuple[str, int, str, bool], float]] = {}
        self._statuses: dict[str, dict[str, str]] = {}
        self._counters: dict[str, Baseline] = {}
        # lb_id → (generation, worker, stat signature) last processed: an idle LB is one socket round
        # trip and a string compare per tick, no parsing (what keeps thousands of LBs cheap).
        self._seen: dict[str, tuple[int, str | None, str]] = {}

    def observe(self, lb_id: str) -> bool:
        """Report what changed; False when this LB's HAProxy (or, ACTIVE_STANDBY, keepalived) should be
        running and is not."""
        spec = self._reconciler.applied_spec(lb_id)
        if spec is None:
            self._statuses.pop(lb_id, None)
            self._counters.pop(lb_id, None)
            self._seen.pop(lb_id, None)
            self._instance.pop(lb_id, None)
            return True  # nothing applied here (yet): the reconciler owns this case
        paths = self._reconciler.paths(lb_id)
        if spec.vrrp is not None and self._instances is not None and not self._report_instance(spec, paths):
            return False  # keepalived died: reconcile (it is started again)
        haproxy = self._reconciler.haproxy
        if haproxy.is_running(paths) is None:
            return False
        info, stat = split_info_stat(haproxy.runtime(paths, "show info;show stat"))
        worker = worker_identity(parse_show_info(info))
        seen = (spec.generation, worker, stat_signature(stat))
        if self._seen.get(lb_id) == seen:
            return True
        rows = parse_show_stat(stat)
        statuses = {k: str(v) for k, v in compute_statuses(spec, rows).by_id(lb_id).items()}
        if lb_id not in self._statuses:  # a restarted agent: what the previous one reported for this generation
            self._statuses[lb_id] = load_statuses(paths.directory / STATUSES_FILE, spec.generation, spec.binding_epoch)
        before = self._statuses[lb_id]
        changed = {k: v for k, v in statuses.items() if before.get(k) != v}
        if changed:
            self._reporter.operating(lb_id, changed)
            self._statuses[lb_id] = statuses
            save_statuses(paths.directory / STATUSES_FILE, spec.generation, spec.binding_epoch, statuses)
        counters = {**listener_counters(spec, rows), **member_counters(spec, rows)}  # members keyed member:<id>
        self._report_counters(lb_id, paths.directory / BASELINE_FILE, worker, counters)
        self._seen[lb_id] = seen  # only once everything was reported: a failed report is retried next tick
        return True

    def _report_instance(self, spec: LoadBalancerSpec, paths: LbPaths) -> bool:
        """Report this instance's measured state if it changed (or is due again); False when its keepalived
        does not run."""
        assert spec.vrrp is not None and self._instances is not None
        state = self._instances.measure(spec, paths)
        key = (spec.vrrp.amphora_id, spec.binding_epoch, state.vrrp_state, state.healthy)
        last = self._instance.get(spec.id)
        now = time.monotonic()
        if last is None or last[0] != key or now - last[1] >= self._instance_refresh:
            self._reporter.instance(spec.id, spec.vrrp.amphora_id, epoch=spec.binding_epoch,
                                    vrrp_state=state.vrrp_state, healthy=state.healthy)  # fmt: skip
            self._instance[spec.id] = (key, now)  # only once reported: a failed report is retried next tick
        return state.keepalived

    def _report_counters(
        self, lb_id: str, baseline_path: Path, worker: str | None, current: dict[str, ListenerCounters]
    ) -> None:
        if lb_id not in self._counters:
            loaded = load_baseline(baseline_path)
            if loaded is not None:
                self._counters[lb_id] = loaded
        deltas = counter_deltas(self._counters.get(lb_id), worker, current)
        if deltas:
            self._reporter.stats(lb_id, deltas)  # if this raises, the next round reports these deltas too
            save_baseline(baseline_path, (worker, current))
        self._counters[lb_id] = (worker, current)
