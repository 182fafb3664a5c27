"""keepalived as a data-plane unit (``lbaas.agent.units.Unit``), for LBs whose instance is one of an
ACTIVE_STANDBY pair. Its file is ``keepalived.conf`` (``render_keepalived``); its record is that file and
whether its keepalived runs in the LB's namespace. No memory: nothing to remember between passes.

Which LBs use it, and with which VRRP parameters (peers, virtual router id, priority), is the ``vrrp``
function's answer: ``None`` for a SINGLE LB (the unit renders nothing and is left out of the plan). The
reconciler does not carry this unit yet: the ACTIVE_STANDBY control plane (amphorae with roles and
peer addresses) supplies ``vrrp`` and adds it to ``Reconciler(units=...)``. The track file
(``LbPaths.track``) starts at 1 (FAULT) and is for the agent to write once it vouches for HAProxy.

The plan (pure):

    converged      keepalived.conf is the text and keepalived runs in the namespace
    text changed   after the plumbing (the check needs the VIP interface): check (``keepalived -t`` in
                   the namespace), swap, then reload (SIGHUP) if it runs there, else start
    not running    start
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from lbaas.agent.keepalived.process import KeepalivedProcess
from lbaas.agent.keepalived.render import KeepalivedSpec, render_keepalived
from lbaas.agent.paths import LbPaths, read_file
from lbaas.agent.plan import digest
from lbaas.agent.units import Rendered, RunContext, Step, UnitPlan, UnitStep, UnitView
from lbaas.domain.spec import LoadBalancerSpec

CFG = "keepalived.conf"

Vrrp = Callable[[LoadBalancerSpec, LbPaths], KeepalivedSpec | None]


def no_vrrp(desired: LoadBalancerSpec, paths: LbPaths) -> KeepalivedSpec | None:
    """Until the control plane places pairs: no LB uses keepalived."""
    return None


@dataclass(frozen=True)
class KeepalivedRecord:
    cfg: str | None  # keepalived.conf as on disk
    pid: int | None  # running (anywhere)
    in_ns: bool  # ... in the LB's namespace


@dataclass(frozen=True)
class KeepalivedStep(UnitStep):
    unit: ClassVar[str] = "keepalived"


@dataclass(frozen=True)
class CheckConfig(KeepalivedStep):
    text: str


@dataclass(frozen=True)
class SwapConfig(KeepalivedStep):
    pass


@dataclass(frozen=True)
class ReloadKeepalived(KeepalivedStep):
    pass


@dataclass(frozen=True)
class StartKeepalived(KeepalivedStep):
    pass


class KeepalivedUnit:
    name = "keepalived"

    def __init__(self, process: KeepalivedProcess, vrrp: Vrrp = no_vrrp) -> None:
        self.process = process
        self._vrrp = vrrp

    def render(self, desired: LoadBalancerSpec, paths: LbPaths) -> Rendered | None:
        spec = self._vrrp(desired, paths)
        if spec is None:
            return None
        text = render_keepalived(spec)
        return Rendered({CFG: text}, digest(text))

    def observe(self, paths: LbPaths, ns: str) -> KeepalivedRecord:
        pid = self.process.running_in(paths, ns)
        in_ns = pid is not None
        if pid is None:
            pid = self.process.is_running(paths)
        return KeepalivedRecord(read_file(paths.keepalived_cfg), pid, in_ns)

    def stopped(self, record: KeepalivedRecord) -> KeepalivedRecord:
        return KeepalivedRecord(record.cfg, None, False)

    def new_memory(self) -> None:
        return None

    def requeue_after(self, memory: Any) -> float | None:
        return None

    def stop(self, paths: LbPaths) -> None:
        self.process.stop(paths)

    def plan(self, view: UnitView) -> UnitPlan:
        text = view.rendered.files[CFG]
        rec: KeepalivedRecord = view.record
        if rec.cfg == text and rec.in_ns:
            return UnitPlan(True, None, (), ())
        post: list[Step] = []
        if rec.cfg != text:
            post += [CheckConfig(text), SwapConfig()]
            post.append(ReloadKeepalived() if rec.in_ns else StartKeepalived())
        else:
            post.append(StartKeepalived())
        return UnitPlan(False, None, (), tuple(post))

    def run(self, step: Any, ctx: RunContext) -> None:
        match step:
            case CheckConfig(text=text):
                self.process.check(text, ctx.paths, ctx.ns)
            case SwapConfig():
                self.process.swap(ctx.paths)
            case ReloadKeepalived():
                self.process.reload(ctx.paths)
            case StartKeepalived():
                self.process.ensure_running(ctx.paths, ctx.ns)
            case _:
                raise TypeError(f"not a step of the keepalived unit: {step!r}")


__all__ = ["CheckConfig", "KeepalivedRecord", "KeepalivedUnit", "ReloadKeepalived", "StartKeepalived",
           "SwapConfig", "Vrrp", "no_vrrp"]  # fmt: skip
