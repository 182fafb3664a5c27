"""Reconcile one load balancer, from its id alone: read desired, observe actual, converge. The file to read first.

    desired is None or deleting  →  stop HAProxy, remove the namespace and files; report the delete
    desired present              →  ensure bridge, namespace, VIP port (fixed MAC, GARP);
                                    render; if the text differs from what runs: check (haproxy -c),
                                    swap atomically, reload (or start); else make sure it runs;
                                    report the generation applied

Every step is an idempotent ``ensure_*``, so running this twice, or after a crash half-way, or on
an HAProxy adopted from a previous agent process, converges to the same place. What the running
HAProxy loaded is recorded (``loaded``: a digest written after each confirmed start or reload), so a
crash or a failed reload between swap and reload is repaired by a reload, not mistaken for "applied". A config HAProxy
refuses is a terminal failure for that generation (ERROR, with HAProxy's words in status_message);
kernel or process errors are retried with backoff and reported as ERROR after a few attempts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lbaas.agent.haproxy.options import RenderOptions
from lbaas.agent.haproxy.process import ConfigRejected, HaproxyProcess
from lbaas.agent.haproxy.render import render_haproxy
from lbaas.agent.netns.base import NetworkPlug, Plumber, PortPlug, ns_name
from lbaas.agent.paths import LbPaths
from lbaas.agent.reporter import StatusReporter
from lbaas.agent.source import DesiredStateSource
from lbaas.agent.workqueue import Outcome
from lbaas.domain.spec import LoadBalancerSpec, VipSpec

log = logging.getLogger(__name__)

REPORT_ERROR_AFTER = 3


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def network_plug(vip: VipSpec) -> NetworkPlug:
    return PortPlug.from_vip(vip).network


@dataclass
class AgentConfig:
    state_dir: Path
    physical_interface_mappings: dict[str, str] = field(default_factory=dict)
    haproxy_user: str = "haproxy"
    haproxy_group: str = "haproxy"
    render_options: Callable[[LbPaths], RenderOptions] | None = None


class Reconciler:
    def __init__(
        self,
        *,
        config: AgentConfig,
        source: DesiredStateSource,
        reporter: StatusReporter,
        plumber: Plumber,
        haproxy: HaproxyProcess,
    ) -> None:
        self.config = config
        self.source = source
        self.reporter = reporter
        self.plumber = plumber
        self.haproxy = haproxy
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._reported: dict[str, int] = {}  # lb_id → generation last reported ok (skip idle re-reports)
        self._epochs: dict[str, int] = {}
        self._rejected_gen: dict[str, int] = {}  # lb_id → generation whose refusal was reported
        self._refused: dict[str, tuple[str, str]] = {}  # lb_id → (config text, HAProxy's words) refused
        self._networks: dict[str, NetworkPlug] = {}  # lb_id → the VIP network recorded on disk
        # lb_id → the desired state now running here (what the observer measures against).
        self.applied: dict[str, LoadBalancerSpec] = {}
        # LBs whose HAProxy this agent process found running and left untouched (neither started nor
        # reloaded it): adopted from a previous agent process.
        self.adopted: set[str] = set()

    def paths(self, lb_id: str) -> LbPaths:
        return LbPaths(self.config.state_dir, lb_id)

    def known_ids(self) -> set[str]:
        """LBs this agent has state for (running, or left behind by a crash)."""
        root = self.config.state_dir / "lb"
        return {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()

    def options(self, paths: LbPaths) -> RenderOptions:
        if self.config.render_options is not None:
            return self.config.render_options(paths)
        return RenderOptions(
            stats_socket_path=str(paths.stats_sock),
            server_state_file=str(paths.server_state),
            user=self.config.haproxy_user,
            group=self.config.haproxy_group,
        )

    # ------------------------------------------------------------------ entry point

    def reconcile(self, lb_id: str) -> Outcome:
        desired = self.source.get(lb_id)
        if desired is None or desired.deleting:
            self.teardown(lb_id, desired)
            if desired is not None:
                self.reporter.applied(lb_id, desired.generation, ok=True)
            self._forget(lb_id)
            return Outcome(ok=True)
        try:
            self.ensure(desired)
        except ConfigRejected as exc:
            # Terminal for this generation: reported once; the last good config (if any) keeps serving,
            # and the next change is a new attempt.
            if self._rejected_gen.get(lb_id) != desired.generation:
                log.error("HAProxy refused the config of %s (generation %s): %s", lb_id, desired.generation, exc)
                self.reporter.applied(
                    lb_id, desired.generation, ok=False, message=f"HAProxy refused the config: {exc.output}"
                )
                self._rejected_gen[lb_id] = desired.generation
            self._reported.pop(lb_id, None)
            self._failures.pop(lb_id, None)
            return Outcome(ok=True)
        except Exception as exc:
            n = self._failures.get(lb_id, 0) + 1
            self._failures[lb_id] = n
            log.warning("reconcile of %s failed (attempt %d): %s", lb_id, n, exc, exc_info=n == 1)
            if n == REPORT_ERROR_AFTER:
                self.reporter.applied(lb_id, desired.generation, ok=False, message=str(exc))
                self._reported.pop(lb_id, None)
            return Outcome(ok=False, message=str(exc))
        self._failures.pop(lb_id, None)
        if self._reported.get(lb_id) != desired.generation:
            self.reporter.applied(lb_id, desired.generation, ok=True)
            self._reported[lb_id] = desired.generation
        return Outcome(ok=True)

    # ------------------------------------------------------------------ converge

    def ensure(self, desired: LoadBalancerSpec) -> None:
        lb_id = desired.id
        paths = self.paths(lb_id)
        paths.ensure()
        ns = ns_name(lb_id)
        if self._epoch_changed(desired, paths):
            # Failover: replace the instance (fresh namespace and process, GARP on the new plug).
            self.haproxy.stop(paths)
            self.plumber.remove_namespace(ns)
            self.adopted.discard(lb_id)
        network = network_plug(desired.vip)
        self._remember_network(lb_id, network, paths)
        self.plumber.ensure_bridge(network, self.config.physical_interface_mappings)
        self.plumber.ensure_namespace(ns)
        self.plumber.ensure_port(ns, PortPlug.from_vip(desired.vip))
        text = render_haproxy(desired, self.options(paths))
        current = paths.cfg.read_text() if paths.cfg.exists() else None
        running = self.haproxy.is_running(paths) is not None
        first_pass = lb_id not in self.applied
        # haproxy.cfg is what was checked and swapped in; ``loaded`` is what the running HAProxy confirmed
        # it runs. They differ after a reload failed, or the agent died between swap and reload: then the
        # file is right and the process is not, and only a reload fixes it.
        loaded = running and self._loaded(paths) == _digest(text)
        if text == current and (loaded or not running):
            if not running:
                self.haproxy.ensure_running(paths, ns)
                self._mark_loaded(paths, text)
                self.adopted.discard(lb_id)
            elif first_pass:
                self.adopted.add(lb_id)  # a previous agent process started it; we only watch it
        else:
            if text != current:
                self._check(text, paths, ns, running=running, has_config=current is not None)
                self.haproxy.swap(paths)
            if running:
                self._save_server_state(paths)
                self.haproxy.reload(paths)
            else:
                self.haproxy.ensure_running(paths, ns)
            self._mark_loaded(paths, text)
            self.adopted.discard(lb_id)
        self._store_epoch(desired, paths)
        self.applied[lb_id] = desired

    @staticmethod
    def _loaded(paths: LbPaths) -> str | None:
        try:
            return paths.loaded.read_text().strip()
        except FileNotFoundError:
            return None

    @staticmethod
    def _mark_loaded(paths: LbPaths, text: str) -> None:
        tmp = paths.loaded.with_suffix(".tmp")
        tmp.write_text(_digest(text))
        tmp.replace(paths.loaded)

    def _check(self, text: str, paths: LbPaths, ns: str, *, running: bool, has_config: bool) -> None:
        """``haproxy -c`` the new text, once per distinct text: a refused text is remembered and refused
        again without running HAProxy (resyncs come every 30 s). When refused, the last good config
        keeps serving, and is started again if its HAProxy died meanwhile."""
        lb_id = paths.lb_id
        refused = self._refused.get(lb_id)
        try:
            if refused is not None and refused[0] == text:
                raise ConfigRejected(refused[1])
            self.haproxy.check(text, paths)
        except ConfigRejected as exc:
            self._refused[lb_id] = (text, exc.output)
            if not running and has_config:
                self.haproxy.ensure_running(paths, ns)
                self._mark_loaded(paths, paths.cfg.read_text())
            raise
        self._refused.pop(lb_id, None)

    def _save_server_state(self, paths: LbPaths) -> None:
        try:
            state = self.haproxy.runtime(paths, "show servers state")
        except Exception as exc:  # health state is a nicety; never block a change on it
            log.debug("could not save server state for %s: %s", paths.lb_id, exc)
            return
        tmp = paths.server_state.with_suffix(".tmp")
        tmp.write_text(state)
        tmp.replace(paths.server_state)

    def _epoch_changed(self, desired: LoadBalancerSpec, paths: LbPaths) -> bool:
        epoch_file = paths.directory / "epoch"
        known = self._epochs.get(desired.id)
        if known is None and epoch_file.exists():
            known = int(epoch_file.read_text() or 0)
        return known is not None and known != desired.binding_epoch

    def _store_epoch(self, desired: LoadBalancerSpec, paths: LbPaths) -> None:
        if self._epochs.get(desired.id) != desired.binding_epoch:
            (paths.directory / "epoch").write_text(str(desired.binding_epoch))
            self._epochs[desired.id] = desired.binding_epoch

    # ------------------------------------------------------------------ teardown

    def _remember_network(self, lb_id: str, network: NetworkPlug, paths: LbPaths) -> None:
        """Record the VIP network on disk, so that a teardown by a later agent process (which never saw
        this LB's spec, and may get None from the source) still knows which bridge to release."""
        if self._networks.get(lb_id) == network:
            return
        tmp = paths.network.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(network)))
        tmp.replace(paths.network)
        self._networks[lb_id] = network

    def _recorded_network(self, lb_id: str, paths: LbPaths) -> NetworkPlug | None:
        if lb_id in self._networks:
            return self._networks[lb_id]
        try:
            return NetworkPlug(**json.loads(paths.network.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            if paths.directory.exists():
                log.warning("no usable network record for %s: %s", lb_id, exc)
            return None

    def teardown(self, lb_id: str, desired: LoadBalancerSpec | None = None) -> None:
        paths = self.paths(lb_id)
        last = self.applied.get(lb_id)
        if desired is not None:
            network: NetworkPlug | None = network_plug(desired.vip)
        elif last is not None:
            network = network_plug(last.vip)
        else:
            network = self._recorded_network(lb_id, paths)
        self.haproxy.stop(paths)
        self.plumber.remove_namespace(ns_name(lb_id))
        if network is not None:
            if last is not None and desired is None:
                # We served it until now and it is no longer ours (failed over while we were cut off):
                # our traffic taught the switches its MAC is here; make the new owner answer (and so
                # re-teach them) instead of waiting for ARP entries to expire.
                self.plumber.solicit(network, [ip for ip, _ in PortPlug.from_vip(last.vip).addresses])
            self.plumber.remove_bridge_if_unused(network)
        if paths.directory.exists():
            shutil.rmtree(paths.directory, ignore_errors=True)

    def _forget(self, lb_id: str) -> None:
        self._failures.pop(lb_id, None)
        self._reported.pop(lb_id, None)
        self._epochs.pop(lb_id, None)
        self._rejected_gen.pop(lb_id, None)
        self._refused.pop(lb_id, None)
        self._networks.pop(lb_id, None)
        self.applied.pop(lb_id, None)
        self.adopted.discard(lb_id)
