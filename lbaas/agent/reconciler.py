"""Reconcile one load balancer, from its id alone: read desired, observe actual, converge. The file to read first.

    desired is None or deleting  →  stop HAProxy, remove the namespace and files; report the delete
    desired present              →  render; a members-only change to an LB this process runs is
                                    applied live over the runtime API, then checked and swapped in
                                    (no reload); otherwise ensure bridge, namespace, VIP port (fixed
                                    MAC, GARP); if the text differs from what runs: check (haproxy -c),
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

import concurrent.futures
import hashlib
import json
import logging
import os
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from lbaas.agent.haproxy.options import RenderOptions
from lbaas.agent.haproxy.process import ConfigRejected, HaproxyError, HaproxyProcess
from lbaas.agent.haproxy.render import render_haproxy
from lbaas.agent.haproxy.runtime_plan import plan_runtime
from lbaas.agent.haproxy.server_state import align_admin_state
from lbaas.agent.haproxy.viewmodel import tls_files
from lbaas.agent.netns.base import NetworkPlug, Plumber, PortPlug, ns_name
from lbaas.agent.paths import LbPaths
from lbaas.agent.reporter import StatusReporter
from lbaas.agent.source import DesiredStateSource
from lbaas.agent.workqueue import Outcome
from lbaas.domain.spec import LoadBalancerSpec, VipSpec

log = logging.getLogger(__name__)

REPORT_ERROR_AFTER = 3
DELETE_RETRY_S = 2.0


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _plug_digest(ns: str, plug: PortPlug) -> str:
    return _digest(f"{ns}\n{plug!r}")


def network_plug(vip: VipSpec) -> NetworkPlug:
    return PortPlug.from_vip(vip).network


class BridgeLock:
    """Per network: "ensure the bridge, then enslave our veth to it" (ensure) and "is the bridge unused?
    then delete it" (teardown) are two steps each. Interleaved, the bridge was deleted under a freshly
    plugged veth, and that LB reported ACTIVE on no bridge. Plugs share the lock (LBs on one network
    still plug in parallel); releasing the bridge waits for them and excludes them."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._plugging = 0
        self._releasing = False
        self._waiting = 0  # releases waiting: new plugs wait behind them (no starvation)

    @contextmanager
    def plugging(self) -> Iterator[None]:
        with self._cv:
            self._cv.wait_for(lambda: not self._releasing and not self._waiting)
            self._plugging += 1
        try:
            yield
        finally:
            with self._cv:
                self._plugging -= 1
                self._cv.notify_all()

    @contextmanager
    def releasing(self) -> Iterator[None]:
        with self._cv:
            self._waiting += 1
            self._cv.wait_for(lambda: not self._releasing and self._plugging == 0)
            self._waiting -= 1
            self._releasing = True
        try:
            yield
        finally:
            with self._cv:
                self._releasing = False
                self._cv.notify_all()


def _write_pem_files(directory: Path, files: dict[str, str]) -> None:
    """Certificates, keys, CA bundles and CRLs for HAProxy: 0700 directory, 0600 files, written whole."""
    directory.mkdir(mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    for name, content in files.items():
        target = directory / name
        if target.exists():
            continue  # named by the digest of its content: present means right
        tmp = directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, content.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)


def _prune_pem_files(directory: Path, keep: dict[str, str]) -> None:
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        if path.name not in keep:
            path.unlink(missing_ok=True)


@dataclass
class AgentConfig:
    state_dir: Path
    physical_interface_mappings: dict[str, str] = field(default_factory=dict)
    haproxy_user: str = "haproxy"
    haproxy_group: str = "haproxy"
    nbthread: int | None = None  # None: HAProxy's default (one thread per CPU)
    default_listener_maxconn: int | None = None  # None: RenderOptions' default
    maxconn_cap: int | None = None
    render_options: Callable[[LbPaths], RenderOptions] | None = None
    # Adds the access-log target and format to each LB's options (lbaas.agent.accesslog); None: no logs.
    access_log: Callable[[LbPaths, RenderOptions], RenderOptions] | None = None
    # How long a converged LB may be confirmed by the cheap path (``Reconciler._converged``) before a
    # full pass (every ``ensure_*`` inside its namespace) runs again; 0 = always the full pass.
    full_check_interval: float = 1800.0
    # A periodic resync skips an LB whose generation it already runs and which was confirmed less than
    # this long ago (a changed generation, a dead HAProxy or a nudge are handled at once regardless).
    confirm_interval: float = 300.0


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
        self._checker: concurrent.futures.ThreadPoolExecutor | None = None
        self._failures: dict[str, int] = {}
        self._reported: dict[str, int] = {}  # lb_id → generation last reported ok (skip idle re-reports)
        self._epochs: dict[str, int] = {}
        self._rejected_gen: dict[str, int] = {}  # lb_id → generation whose refusal was reported
        self._refused: dict[str, tuple[str, str]] = {}  # lb_id → (config text, HAProxy's words) refused
        self._networks: dict[str, NetworkPlug] = {}  # lb_id → the VIP network recorded on disk
        # lb_id → "del server" commands HAProxy refused (connections still open); retried while pending
        self._pending_deletes: dict[str, set[str]] = {}
        self._bridge_locks: dict[str, BridgeLock] = {}  # network id → plugs share it, releasing the bridge excludes
        # lb_id → the desired state now running here (what the observer measures against).
        self.applied: dict[str, LoadBalancerSpec] = {}
        # LBs whose HAProxy this agent process found running and left untouched (neither started nor
        # reloaded it): adopted from a previous agent process.
        self.adopted: set[str] = set()
        self._verified: dict[str, float] = {}  # lb_id → monotonic time of its last full pass (or its due share)
        self._confirmed: dict[str, float] = {}  # lb_id → when a reconcile last confirmed it (jittered)

    def paths(self, lb_id: str) -> LbPaths:
        return LbPaths(self.config.state_dir, lb_id)

    def known_ids(self) -> set[str]:
        """LBs this agent has state for (running, or left behind by a crash)."""
        root = self.config.state_dir / "lb"
        return {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()

    def options(self, paths: LbPaths) -> RenderOptions:
        if self.config.render_options is not None:
            opts = self.config.render_options(paths)
            return opts if opts.cert_dir else replace(opts, cert_dir=str(paths.certs))
        opts = RenderOptions(
            stats_socket_path=str(paths.stats_sock),
            server_state_file=str(paths.server_state),
            user=self.config.haproxy_user,
            group=self.config.haproxy_group,
            nbthread=self.config.nbthread,
            cert_dir=str(paths.certs),
        )
        if self.config.default_listener_maxconn is not None:
            opts = replace(opts, default_listener_maxconn=self.config.default_listener_maxconn)
        if self.config.maxconn_cap is not None:
            opts = replace(opts, maxconn_cap=self.config.maxconn_cap)
        if self.config.access_log is not None:
            opts = self.config.access_log(paths, opts)
        return opts

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
        # jittered back by up to half an interval, so that LBs confirmed together fall due apart
        self._confirmed[lb_id] = time.monotonic() - random.uniform(0.0, self.config.confirm_interval / 2)
        if self._reported.get(lb_id) != desired.generation:
            self.reporter.applied(lb_id, desired.generation, ok=True)
            self._reported[lb_id] = desired.generation
        if lb_id in self._pending_deletes:
            return Outcome(ok=True, requeue_after=DELETE_RETRY_S)
        return Outcome(ok=True)

    def resync_due(self, lb_id: str, generation: int) -> bool:
        """Should a periodic resync reconcile this LB? Yes unless it runs ``generation`` already and was
        confirmed within ``confirm_interval`` (what keeps an idle agent with thousands of LBs idle)."""
        spec = self.applied.get(lb_id)
        if spec is None or spec.generation != generation or lb_id in self._failures:
            return True
        last = self._confirmed.get(lb_id)
        return last is None or time.monotonic() - last >= self.config.confirm_interval

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
            paths.plumbed.unlink(missing_ok=True)
            self.adopted.discard(lb_id)
        network = network_plug(desired.vip)
        self._remember_network(lb_id, network, paths)
        plug = PortPlug.from_vip(desired.vip)
        text = render_haproxy(desired, self.options(paths))
        pem_files = tls_files(desired)
        if pem_files or paths.certs.exists():
            _write_pem_files(paths.certs, pem_files)
        # (a server still waiting for its runtime delete takes the full path, which retries it)
        if lb_id not in self._pending_deletes and self._converged(lb_id, paths, ns, plug, text):
            if lb_id not in self.applied:
                self.adopted.add(lb_id)  # a previous agent process started it; we only watch it
            self._store_epoch(desired, paths)
            self.applied[lb_id] = desired
            _prune_pem_files(paths.certs, pem_files)
            return
        current = paths.cfg.read_text() if paths.cfg.exists() else None
        running = self.haproxy.is_running(paths) is not None
        if running and current is not None and text != current and self._apply_live(desired, paths, text, current):
            self._store_epoch(desired, paths)
            self.applied[lb_id] = desired
            return
        # ``haproxy -c`` is a process of its own: it runs while this thread plumbs (both take ~50 ms)
        first_start = current is None and not running
        checking = self._check_in_background(text, paths) if text != current and not first_start else None
        try:
            self.plumber.ensure_namespace(ns)
            with self._bridge_lock(network).plugging():  # no teardown may release the bridge in between
                self.plumber.ensure_bridge(network, self.config.physical_interface_mappings)
                self.plumber.ensure_port(ns, plug)
            self._mark_plumbed(paths, ns, plug)
        except BaseException:
            if checking is not None:
                concurrent.futures.wait([checking])  # never leave a check writing haproxy.cfg.new behind
            raise
        first_pass = lb_id not in self.applied
        # haproxy.cfg is what was checked and swapped in; ``loaded`` is what the running HAProxy confirmed
        # it runs. They differ after a reload failed, or the agent died between swap and reload: then the
        # file is right and the process is not, and only a reload fixes it.
        loaded = running and self._loaded(paths) == _digest(text)
        if text == current and (loaded or not running):
            if running and lb_id in self._pending_deletes:
                self._retry_deletes(paths)
            if not running:
                self._align_saved_state(paths, text)
                self.haproxy.ensure_running(paths, ns)
                self._pending_deletes.pop(lb_id, None)
                self._mark_loaded(paths, text)
                self.adopted.discard(lb_id)
            elif first_pass:
                self.adopted.add(lb_id)  # a previous agent process started it; we only watch it
        elif first_start:
            self._first_start(text, paths, ns)
            self._mark_loaded(paths, text)
            self.adopted.discard(lb_id)
        else:
            if text != current:
                self._check(text, paths, ns, running=running, has_config=current is not None, checking=checking)
                self.haproxy.swap(paths)
            if running:
                self._save_server_state(paths, text)
                self.haproxy.reload(paths)
            else:
                self._align_saved_state(paths, text)
                self.haproxy.ensure_running(paths, ns)
            self._pending_deletes.pop(lb_id, None)  # a new process has exactly the config's servers
            self._mark_loaded(paths, text)
            self.adopted.discard(lb_id)
        self._store_epoch(desired, paths)
        self.applied[lb_id] = desired
        self._verified[lb_id] = time.monotonic()
        _prune_pem_files(paths.certs, pem_files)  # the running HAProxy loaded what it needs

    def _converged(self, lb_id: str, paths: LbPaths, ns: str, plug: PortPlug, text: str) -> bool:
        """The cheap confirmation of a converged LB, what a resync of thousands costs: file reads and
        a few stat()s, no netlink, no namespace entered, no ``haproxy -c``, no reload.

        True when the running HAProxy loaded exactly ``text`` and serves in ``ns`` (liveness), the VIP
        veth is up in its bridge (``Plumber.port_alive``), and the last full pass plumbed this very port
        (``plumbed``). Anything else, or a full pass older than ``full_check_interval``, takes the full
        path. An agent that starts trusts what its predecessor verified, and spreads the full passes
        those LBs are due over one interval (not all at its next resync)."""
        interval = self.config.full_check_interval
        if interval <= 0:
            return False
        now = time.monotonic()
        last = self._verified.get(lb_id)
        if last is not None and now - last >= interval:
            return False
        if self._read(paths.plumbed) != _plug_digest(ns, plug) or self._loaded(paths) != _digest(text):
            return False
        if self._read(paths.cfg, strip=False) != text:
            return False
        if self.haproxy.running_in(paths, ns) is None or not self.plumber.port_alive(ns, plug):
            return False
        if last is None:
            self._verified[lb_id] = now - random.uniform(0.0, interval)
        return True

    @staticmethod
    def _read(path: Path, *, strip: bool = True) -> str | None:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        return text.strip() if strip else text

    def _mark_plumbed(self, paths: LbPaths, ns: str, plug: PortPlug) -> None:
        digest = _plug_digest(ns, plug)
        if self._read(paths.plumbed) != digest:
            tmp = paths.plumbed.with_suffix(".tmp")
            tmp.write_text(digest)
            tmp.replace(paths.plumbed)

    # ------------------------------------------------------------------ live member changes

    def _apply_live(self, desired: LoadBalancerSpec, paths: LbPaths, text: str, current: str) -> bool:
        """Apply a members-only change through the runtime API, then check and swap the file so that a
        later reload (or a new agent) converges to the same state. False when the change is not purely
        member-level, or this process does not know it runs ``current``, or a runtime command failed:
        then the caller checks and reloads as usual (which also undoes a partial runtime change).

        The plumbing is not re-verified here: only an LB this agent process already converged, with the
        same VIP, gets here, and the periodic resync still runs the full path."""
        lb_id = desired.id
        last = self.applied.get(lb_id)
        if last is None or last.vip != desired.vip or self._loaded(paths) != _digest(current):
            return False
        plan = plan_runtime(current, text)
        if not plan:
            return False
        refused = self._refused.get(lb_id)
        if refused is not None and refused[0] == text:
            raise ConfigRejected(refused[1])  # refused already: neither applied live nor checked again
        pending: set[str] = set()
        for cmd in plan:
            try:
                answer = self.haproxy.runtime(paths, cmd.text).strip()
            except Exception as exc:
                answer = f"<{exc}>"
            if answer == cmd.expect:
                continue
            if cmd.best_effort:
                pending.add(cmd.text)
                continue
            log.warning("runtime change of %s failed at %r (%s); reloading instead", lb_id, cmd.text, answer)
            return False
        ns = ns_name(lb_id)
        try:
            self._check(text, paths, ns, running=True, has_config=True)
        except ConfigRejected:
            # cannot happen for a text that differs from a checked one by server lines HAProxy just took;
            # if it does, put the process back on the file that still is the live config
            self._save_server_state(paths, current)
            self.haproxy.reload(paths)
            self._pending_deletes.pop(lb_id, None)
            raise
        self.haproxy.swap(paths)
        self._mark_loaded(paths, text)
        if pending:
            self._pending_deletes.setdefault(lb_id, set()).update(pending)
        return True

    def _retry_deletes(self, paths: LbPaths) -> None:
        """``del server`` for servers removed live that still had connections: retried on later passes
        until HAProxy takes it (they sit in maintenance meanwhile; a reload drops them too)."""
        pending = self._pending_deletes.get(paths.lb_id, set())
        for command in sorted(pending):
            try:
                answer = self.haproxy.runtime(paths, command).strip()
            except Exception as exc:
                log.debug("retry %r for %s: %s", command, paths.lb_id, exc)
                continue
            if answer in ("Server deleted.", "No such server."):
                pending.discard(command)
        if not pending:
            self._pending_deletes.pop(paths.lb_id, None)

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

    def _first_start(self, text: str, paths: LbPaths, ns: str) -> None:
        """A new LB: no config yet, nothing running. HAProxy parses the file when it starts and exits
        non-zero on a bad one, so the separate ``haproxy -c`` (≈ 40 ms of CPU, the longest step of a
        provisioning on a busy host) runs only when the start failed, to tell a refused config
        (ConfigRejected, terminal; no live config is left) from a transient failure (retried)."""
        refused = self._refused.get(paths.lb_id)
        if refused is not None and refused[0] == text:
            raise ConfigRejected(refused[1])
        self.haproxy.stage(text, paths)
        self.haproxy.swap(paths)
        self._align_saved_state(paths, text)
        try:
            self.haproxy.ensure_running(paths, ns)
        except HaproxyError:
            paths.cfg.unlink(missing_ok=True)  # unchecked: it is not a live config until HAProxy ran it
            self._check(text, paths, ns, running=False, has_config=False)  # raises ConfigRejected if refused
            self.haproxy.swap(paths)  # checked after all: the failure was elsewhere; retried from here
            raise
        self._pending_deletes.pop(paths.lb_id, None)

    def _check_in_background(self, text: str, paths: LbPaths) -> concurrent.futures.Future[None] | None:
        refused = self._refused.get(paths.lb_id)
        if refused is not None and refused[0] == text:
            return None  # refused already: _check says so without running HAProxy
        with self._lock:
            if self._checker is None:
                self._checker = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="haproxy-check")
            return self._checker.submit(self.haproxy.check, text, paths)

    def _check(self, text: str, paths: LbPaths, ns: str, *, running: bool, has_config: bool,
               checking: concurrent.futures.Future[None] | None = None) -> None:
        """``haproxy -c`` the new text, once per distinct text: a refused text is remembered and refused
        again without running HAProxy (resyncs come every 30 s). When refused, the last good config
        keeps serving, and is started again if its HAProxy died meanwhile."""
        lb_id = paths.lb_id
        refused = self._refused.get(lb_id)
        try:
            if refused is not None and refused[0] == text:
                raise ConfigRejected(refused[1])
            if checking is not None:
                checking.result()  # the check started in the background on this same text
            else:
                self.haproxy.check(text, paths)
        except ConfigRejected as exc:
            self._refused[lb_id] = (text, exc.output)
            if not running and has_config:
                self._align_saved_state(paths, paths.cfg.read_text())
                self.haproxy.ensure_running(paths, ns)
                self._mark_loaded(paths, paths.cfg.read_text())
            raise
        self._refused.pop(lb_id, None)

    def _save_server_state(self, paths: LbPaths, text: str) -> None:
        """Dump the running servers' state for the process that will load ``text``, with each
        server's admin state set from ``text`` (the saved state never overrides the config's)."""
        try:
            state = align_admin_state(self.haproxy.runtime(paths, "show servers state"), text)
        except Exception as exc:  # health state is a nicety; never block a change on it
            log.debug("could not save server state for %s: %s", paths.lb_id, exc)
            paths.server_state.unlink(missing_ok=True)  # an older dump must not be loaded instead
            return
        tmp = paths.server_state.with_suffix(".tmp")
        tmp.write_text(state)
        tmp.replace(paths.server_state)

    @staticmethod
    def _align_saved_state(paths: LbPaths, text: str) -> None:
        """Before HAProxy starts (not reloads) on ``text``: a dump left by an earlier reload is loaded
        too, so its admin state is set from ``text`` first (or it is dropped if unreadable)."""
        try:
            saved = paths.server_state.read_text()
        except FileNotFoundError:
            return
        aligned = align_admin_state(saved, text)
        if aligned != saved:
            tmp = paths.server_state.with_suffix(".tmp")
            tmp.write_text(aligned)
            tmp.replace(paths.server_state)

    def _epoch_changed(self, desired: LoadBalancerSpec, paths: LbPaths) -> bool:
        epoch_file = paths.directory / "epoch"
        known = self._epochs.get(desired.id)
        if known is None and epoch_file.exists():
            known = int(epoch_file.read_text() or 0)
            self._epochs[desired.id] = known  # what the file holds: _store_epoch rewrites it only on change
        return known is not None and known != desired.binding_epoch

    def _store_epoch(self, desired: LoadBalancerSpec, paths: LbPaths) -> None:
        if self._epochs.get(desired.id) != desired.binding_epoch:
            (paths.directory / "epoch").write_text(str(desired.binding_epoch))
            self._epochs[desired.id] = desired.binding_epoch

    # ------------------------------------------------------------------ teardown

    def _bridge_lock(self, network: NetworkPlug) -> BridgeLock:
        with self._lock:
            return self._bridge_locks.setdefault(network.network_id, BridgeLock())

    def _remember_network(self, lb_id: str, network: NetworkPlug, paths: LbPaths) -> None:
        """Record the VIP network on disk, so that a teardown by a later agent process (which never saw
        this LB's spec, and may get None from the source) still knows which bridge to release."""
        if self._networks.get(lb_id) == network:
            return
        data = json.dumps(asdict(network))
        if self._read(paths.network, strip=False) != data:  # a new agent process: usually already there
            tmp = paths.network.with_suffix(".tmp")
            tmp.write_text(data)
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
            with self._bridge_lock(network).releasing():
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
        self._pending_deletes.pop(lb_id, None)
        self._verified.pop(lb_id, None)
        self._confirmed.pop(lb_id, None)
        self.applied.pop(lb_id, None)
        self.adopted.discard(lb_id)
