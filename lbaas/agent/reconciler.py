"""Reconcile one load balancer, from its id alone: read desired, observe actual, plan, execute. The file to read first.

    desired = source.get(lb_id)                            (None or deleting: tear down)
    record  = observe_host(...)        lbaas/agent/actual.py   what the host holds, in one frozen record
    plan    = plan_ensure(...)         lbaas/agent/plan.py     pure: the steps, from desired, record, memory
    Executor.run(plan)                 lbaas/agent/execute.py  runs them (units run their own)

The data plane is made of units (``lbaas.agent.units``): HAProxy (``lbaas.agent.haproxy.unit``) for every LB, and
keepalived (``lbaas.agent.keepalived.unit``, given in ``units``) for an instance of an ACTIVE_STANDBY pair.
What this process remembers per LB is one ``LbMemory`` in one dict (``_forget`` is one pop).

Every step is idempotent, so running this twice, or after a crash half-way, or on an HAProxy adopted
from a previous agent process, converges to the same place. What the running HAProxy loaded is recorded
(``loaded``: a digest written after each confirmed start or reload), so a crash or a failed reload
between swap and reload is repaired by a reload, not mistaken for "applied". A config HAProxy refuses
is a terminal failure for that generation (ERROR, with HAProxy's words in status_message); kernel or
process errors are retried with backoff and reported as ERROR after a few attempts.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from lbaas.agent.actual import observe_host, parse_network
from lbaas.agent.execute import BridgeLock, Executor
from lbaas.agent.haproxy.options import RenderOptions
from lbaas.agent.haproxy.process import ConfigRejected, HaproxyProcess
from lbaas.agent.haproxy.server_state import align_admin_state
from lbaas.agent.haproxy.unit import DELETE_RETRY_S, HaproxyUnit
from lbaas.agent.netns.base import Plumber
from lbaas.agent.paths import LbPaths
from lbaas.agent.plan import LbMemory, network_plug, plan_ensure, plan_teardown, port_plug
from lbaas.agent.reporter import StatusReporter
from lbaas.agent.source import DesiredStateSource, PrefetchingSource
from lbaas.agent.units import Rendered, RunContext, Unit
from lbaas.agent.workqueue import Outcome
from lbaas.domain.spec import LoadBalancerSpec

log = logging.getLogger(__name__)

REPORT_ERROR_AFTER = 3


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
    # How long a converged LB may be confirmed by the cheap path (``lbaas.agent.plan``: converged) before a
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
        units: Iterable[Unit] = (),
    ) -> None:
        self.config = config
        self.source = source
        self.reporter = reporter
        self.plumber = plumber
        self.haproxy = haproxy
        # HAProxy first: every LB runs it; further units follow in the order given
        self.units: tuple[Unit, ...] = (HaproxyUnit(haproxy, self.options, self._save_server_state), *units)
        self.executor = Executor(
            plumber,
            self.units,
            physical_interface_mappings=config.physical_interface_mappings,
            full_check_interval=lambda: self.config.full_check_interval,
        )
        self._memory: dict[str, LbMemory] = {}  # lb_id → everything this process remembers of it

    def paths(self, lb_id: str) -> LbPaths:
        return LbPaths(self.config.state_dir, lb_id)

    def ns_name(self, lb_id: str) -> str:
        """The LB's namespace (``qlbaas-<lb_id>`` unless the plumber's naming says otherwise)."""
        return self.plumber.naming.ns_name(lb_id)

    def known_ids(self) -> set[str]:
        """LBs this agent has state for (running, or left behind by a crash)."""
        root = self.config.state_dir / "lb"
        return {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()

    def options(self, paths: LbPaths) -> RenderOptions:
        # TLS material goes to the LB's certs/ (the HAProxy unit writes it there: ``lbaas.agent.haproxy.unit``)
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

    # ------------------------------------------------------------------ what others may ask

    def memory(self, lb_id: str) -> LbMemory | None:
        """What this process remembers of an LB (None: nothing)."""
        return self._memory.get(lb_id)

    def applied_spec(self, lb_id: str) -> LoadBalancerSpec | None:
        """The desired state now running here for ``lb_id`` (what the observer measures against)."""
        mem = self._memory.get(lb_id)
        return mem.applied if mem is not None else None

    @property
    def applied(self) -> Mapping[str, LoadBalancerSpec]:
        """lb_id → the desired state now running here (a snapshot)."""
        return {lb_id: m.applied for lb_id, m in list(self._memory.items()) if m.applied is not None}

    @property
    def adopted(self) -> frozenset[str]:
        """LBs whose HAProxy this agent process found running and left untouched (neither started nor
        reloaded it): adopted from a previous agent process (a snapshot)."""
        return frozenset(lb_id for lb_id, m in list(self._memory.items()) if m.adopted)

    def assigned(self) -> Mapping[str, int]:
        """lb_id → generation of every LB this agent should run (from the desired-state source)."""
        return self.source.assigned()

    def prefetch(self, lb_ids: Iterable[str]) -> None:
        """Read these LBs' desired states in one go, if the source can (an optimisation only)."""
        if isinstance(self.source, PrefetchingSource):
            self.source.prefetch(lb_ids)

    def invalidate(self, lb_ids: Iterable[str]) -> None:
        """Forget prefetched desired states of these LBs (they changed)."""
        if isinstance(self.source, PrefetchingSource):
            self.source.invalidate(lb_ids)

    # ------------------------------------------------------------------ entry point

    def reconcile(self, lb_id: str) -> Outcome:
        desired = self.source.get(lb_id)
        if desired is None or desired.deleting:
            self.teardown(lb_id, desired)
            if desired is not None:
                self.reporter.applied(lb_id, desired.generation, ok=True)
            self._forget(lb_id)
            return Outcome(ok=True)
        mem = self._memory.setdefault(lb_id, LbMemory())
        try:
            self.ensure(desired)
        except ConfigRejected as exc:
            # Terminal for this generation: reported once; the last good config (if any) keeps serving,
            # and the next change is a new attempt.
            if mem.rejected != desired.generation:
                log.error("HAProxy refused the config of %s (generation %s): %s", lb_id, desired.generation, exc)
                self.reporter.applied(
                    lb_id, desired.generation, ok=False, message=f"HAProxy refused the config: {exc.output}"
                )
                mem.rejected = desired.generation
            mem.reported = None
            mem.failures = 0
            return Outcome(ok=True)
        except Exception as exc:
            mem.failures += 1
            n = mem.failures
            log.warning("reconcile of %s failed (attempt %d): %s", lb_id, n, exc, exc_info=n == 1)
            if n == REPORT_ERROR_AFTER:
                self.reporter.applied(lb_id, desired.generation, ok=False, message=str(exc))
                mem.reported = None
            return Outcome(ok=False, message=str(exc))
        mem.failures = 0
        # jittered back by up to half an interval, so that LBs confirmed together fall due apart
        mem.confirmed = time.monotonic() - random.uniform(0.0, self.config.confirm_interval / 2)
        if mem.reported != desired.generation:
            self.reporter.applied(lb_id, desired.generation, ok=True)
            mem.reported = desired.generation
        requeue = [r for u in self.units if (r := u.requeue_after(mem.units.get(u.name))) is not None]
        if requeue:
            return Outcome(ok=True, requeue_after=min(requeue))
        return Outcome(ok=True)

    def resync_due(self, lb_id: str, generation: int) -> bool:
        """Should a periodic resync reconcile this LB? Yes unless it runs ``generation`` already and was
        confirmed within ``confirm_interval`` (what keeps an idle agent with thousands of LBs idle)."""
        mem = self._memory.get(lb_id)
        if mem is None or mem.applied is None or mem.applied.generation != generation or mem.failures:
            return True
        last = mem.confirmed
        return last is None or time.monotonic() - last >= self.config.confirm_interval

    # ------------------------------------------------------------------ converge

    def ensure(self, desired: LoadBalancerSpec) -> None:
        """Observe, plan, execute."""
        lb_id = desired.id
        mem = self._memory.setdefault(lb_id, LbMemory())
        paths = self.paths(lb_id)
        paths.ensure()
        ns = self.ns_name(lb_id)
        rendered: dict[str, Rendered] = {}
        for unit in self.units:
            r = unit.render(desired, paths)
            if r is not None:
                rendered[unit.name] = r
        units = [u for u in self.units if u.name in rendered]
        plug = port_plug(desired)
        record = observe_host(paths, ns, plug, units, self.plumber)
        plan = plan_ensure(
            desired, rendered, record, mem, units,
            ns=ns, now=time.monotonic(), full_check_interval=self.config.full_check_interval, plug=plug,
        )  # fmt: skip
        self.executor.run(plan, RunContext(paths, ns, mem))

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

    # ------------------------------------------------------------------ teardown

    def teardown(self, lb_id: str, desired: LoadBalancerSpec | None = None) -> None:
        paths = self.paths(lb_id)
        ns = self.ns_name(lb_id)
        mem = self._memory.get(lb_id) or LbMemory()
        record = observe_host(paths, ns, None, (), self.plumber)
        plan = plan_teardown(desired, record, mem, self.units, ns=ns)
        if desired is None and mem.applied is None and mem.network is None and record.network is None:
            if record.directory:
                log.warning("no usable network record for %s: %s", lb_id, parse_network(record.network_text)[1])
        self.executor.run(plan, RunContext(paths, ns, mem))

    def _forget(self, lb_id: str) -> None:
        self._memory.pop(lb_id, None)


__all__ = ["REPORT_ERROR_AFTER", "AgentConfig", "BridgeLock", "DELETE_RETRY_S", "Reconciler", "network_plug"]
