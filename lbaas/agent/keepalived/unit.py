"""keepalived as a data-plane unit (``lbaas.agent.units.Unit``), for LBs whose instance is one of an
ACTIVE_STANDBY pair. Its file is ``keepalived.conf`` (``render_keepalived``); its record is that file,
whether its keepalived runs in the LB's namespace, the track file's value, and which HAProxy master the
tracker vouches for against the one running there. No memory: the tracker is the unit's state.

Which LBs use it, and with which VRRP parameters, is the ``vrrp`` function's answer: ``spec_vrrp`` derives
it from ``LoadBalancerSpec.vrrp`` (this agent's instance: its address, peers, virtual router id,
priority, advert interval) and ``LbPaths`` (the track file); ``None`` for a SINGLE LB (the unit renders
nothing and is left out of the plan).

The track file (``LbPaths.track``; keepalived creates it with 1 = FAULT) says whether HAProxy serves:
the unit's last step of a pass (``Vouch``, after HAProxy's own steps) writes 0 once HAProxy runs in the
namespace, and the tracker (``lbaas.agent.keepalived.track``) writes 1 the moment that master exits.

The plan (pure):

    converged      keepalived.conf is the text, keepalived runs in the namespace, and the HAProxy running
                   there is the one vouched for (track file 0)
    only unvouched live: vouch (the full path, with HAProxy's steps first, as the fallback)
    text changed   after the plumbing (the check needs the VIP interface): check (``keepalived -t`` in
                   the namespace), swap, then reload (SIGHUP) if it runs there, else start; vouch
    not running    start; vouch
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from lbaas.agent.haproxy.process import HaproxyProcess
from lbaas.agent.keepalived.process import KeepalivedError, KeepalivedProcess
from lbaas.agent.keepalived.render import KeepalivedSpec, render_keepalived
from lbaas.agent.keepalived.track import HEALTHY, Tracker
from lbaas.agent.netns.base import Naming
from lbaas.agent.paths import LbPaths, read_file
from lbaas.agent.plan import digest
from lbaas.agent.units import Rendered, RunContext, Step, UnitPlan, UnitStep, UnitView
from lbaas.domain.spec import LoadBalancerSpec

CFG = "keepalived.conf"

Vrrp = Callable[[LoadBalancerSpec, LbPaths], KeepalivedSpec | None]


def no_vrrp(desired: LoadBalancerSpec, paths: LbPaths) -> KeepalivedSpec | None:
    """No LB uses keepalived."""
    return None


def spec_vrrp(naming: Naming) -> Vrrp:
    """The keepalived spec of this agent's instance of an ACTIVE_STANDBY LB (None: SINGLE). ``naming``:
    the plumber's, which names the instance's interface in the namespace (``lbv-<vrrp port11>``)."""

    def vrrp(desired: LoadBalancerSpec, paths: LbPaths) -> KeepalivedSpec | None:
        v = desired.vrrp
        if v is None:
            return None
        return KeepalivedSpec(
            name=desired.id,
            interface=naming.vip_ifname(v.port_id),
            vips=((desired.vip.address, desired.vip.prefixlen),),
            virtual_router_id=v.virtual_router_id,
            priority=v.priority,
            unicast_src_ip=v.address,
            unicast_peers=tuple(p.address for p in v.peers),
            track_file=str(paths.track),
            advert_int_ms=v.advert_int_ms,
        )

    return vrrp


@dataclass(frozen=True)
class KeepalivedRecord:
    cfg: str | None  # keepalived.conf as on disk
    pid: int | None  # running (anywhere)
    in_ns: bool  # ... in the LB's namespace
    track: str | None = None  # the track file's value (0: HAProxy vouched for)
    vouched: int | None = None  # the HAProxy master the tracker watches (None: none)
    haproxy: int | None = None  # the HAProxy master running in the namespace

    @property
    def vouched_for(self) -> bool:
        return self.track == HEALTHY and self.vouched is not None and self.vouched == self.haproxy


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


@dataclass(frozen=True)
class Vouch(KeepalivedStep):
    """After HAProxy's steps: HAProxy runs in the namespace (with what this pass applied), so the track file
    says 0 and the tracker watches that master; none there: 1, and the pass fails (retried)."""


class KeepalivedUnit:
    name = "keepalived"

    def __init__(self, process: KeepalivedProcess, vrrp: Vrrp = no_vrrp, *, haproxy: HaproxyProcess | None = None,
                 tracker: Tracker | None = None) -> None:  # fmt: skip
        """``haproxy`` and ``tracker``: whose health the track file follows (both or neither; neither:
        the track file is left to keepalived's initial FAULT, which is for tests of the unit alone)."""
        if (haproxy is None) != (tracker is None):
            raise ValueError("haproxy and tracker go together")
        self.process = process
        self._vrrp = vrrp
        self._haproxy = haproxy
        self.tracker = tracker

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
        cfg = read_file(paths.keepalived_cfg)
        if self.tracker is None or self._haproxy is None:
            return KeepalivedRecord(cfg, pid, in_ns)
        track = read_file(paths.track)
        return KeepalivedRecord(cfg, pid, in_ns, track.strip() if track is not None else None,
                                self.tracker.watching(paths.lb_id), self._haproxy.running_in(paths, ns))  # fmt: skip

    def stopped(self, record: KeepalivedRecord) -> KeepalivedRecord:
        return KeepalivedRecord(record.cfg, None, False, record.track, None, None)

    def new_memory(self) -> None:
        return None

    def requeue_after(self, memory: Any) -> float | None:
        return None

    def stop(self, paths: LbPaths) -> None:
        if self.tracker is not None:
            self.tracker.forget(paths.lb_id)
        self.process.stop(paths)

    def plan(self, view: UnitView) -> UnitPlan:
        text = view.rendered.files[CFG]
        rec: KeepalivedRecord = view.record
        tracked = self.tracker is not None
        vouch: tuple[Step, ...] = (Vouch(),) if tracked else ()
        if rec.cfg == text and rec.in_ns:
            if not tracked or rec.vouched_for:
                return UnitPlan(True, None, (), ())
            return UnitPlan(False, vouch, (), vouch)
        post: list[Step] = []
        if rec.cfg != text:
            post += [CheckConfig(text), SwapConfig()]
            post.append(ReloadKeepalived() if rec.in_ns else StartKeepalived())
        else:
            post.append(StartKeepalived())
        return UnitPlan(False, None, (), (*post, *vouch))

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
            case Vouch():
                self._vouch(ctx.paths, ctx.ns)
            case _:
                raise TypeError(f"not a step of the keepalived unit: {step!r}")


    def _vouch(self, paths: LbPaths, ns: str) -> None:
        assert self._haproxy is not None and self.tracker is not None
        pid = self._haproxy.running_in(paths, ns)
        if pid is not None:
            try:
                self.tracker.vouch(paths.lb_id, paths.track, pid)
                return
            except ProcessLookupError:
                pass
        self.tracker.fault(paths.lb_id, paths.track)
        raise KeepalivedError(f"no HAProxy in {ns} to vouch for: VRRP stays in FAULT")


__all__ = ["CheckConfig", "KeepalivedRecord", "KeepalivedUnit", "ReloadKeepalived", "StartKeepalived",
           "SwapConfig", "Vouch", "Vrrp", "no_vrrp", "spec_vrrp"]  # fmt: skip
