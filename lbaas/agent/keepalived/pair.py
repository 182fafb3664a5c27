"""The ACTIVE_STANDBY parts of an agent, built in one place for the embedded and the scale-out agent: the
keepalived unit (for ``Reconciler(units=...)``), the HAProxy tracker behind its track files, and the
probe that measures each instance for the observer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lbaas.agent.haproxy.process import HaproxyProcess
from lbaas.agent.keepalived.process import FakeKeepalived, KeepalivedDaemon, KeepalivedProcess
from lbaas.agent.keepalived.state import InstanceProbe
from lbaas.agent.keepalived.track import FakeTracker, HaproxyTracker, Tracker
from lbaas.agent.keepalived.unit import KeepalivedUnit, spec_vrrp
from lbaas.agent.netns.base import Plumber


@dataclass
class PairParts:
    unit: KeepalivedUnit
    tracker: Tracker
    probe: InstanceProbe

    def connect(self, nudge: Callable[[Iterable[str]], None]) -> None:
        """A dead HAProxy's LB is reconciled at once (restarted, then vouched for again)."""
        if isinstance(self.tracker, HaproxyTracker):
            self.tracker.on_dead = lambda lb_id: nudge([lb_id])


def pair_parts(plumber: Plumber, haproxy: HaproxyProcess, *, fake: bool = False,
               keepalived_bin: str = "keepalived") -> PairParts:  # fmt: skip
    """``fake``: in-memory keepalived and tracker (an agent on a fake data plane)."""
    keepalived: KeepalivedProcess = FakeKeepalived() if fake else KeepalivedDaemon(keepalived_bin)
    tracker: Tracker = FakeTracker() if fake else HaproxyTracker()
    unit = KeepalivedUnit(keepalived, spec_vrrp(plumber.naming), haproxy=haproxy, tracker=tracker)
    return PairParts(unit, tracker, InstanceProbe(keepalived, haproxy, plumber))


__all__ = ["PairParts", "pair_parts"]
