"""Execute: run a plan's steps for one LB. The steps that belong to a unit are run by that unit; the rest
(plumbing, the LB's own records, what this process remembers) here.

A step that fails raises, and the rest of the plan does not run; background work started by earlier
steps (a ``haproxy -c``) is waited for first, so that none is left writing files behind. A live step
that cannot be made raises ``NotLive``: the plan's fallback runs instead.
"""

from __future__ import annotations

import concurrent.futures
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from lbaas.agent.netns.base import NetworkPlug, Plumber
from lbaas.agent.plan import (
    Adopt,
    ForgetPlumbing,
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
    network_json,
    plug_digest,
)
from lbaas.agent.units import NotLive, RunContext, Step, Unit, UnitStep


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


class Executor:
    def __init__(
        self,
        plumber: Plumber,
        units: Sequence[Unit],
        *,
        physical_interface_mappings: Mapping[str, str],
        full_check_interval: Callable[[], float],
    ) -> None:
        self.plumber = plumber
        self.units = {u.name: u for u in units}
        self._mappings = physical_interface_mappings
        self._full_check_interval = full_check_interval
        self._lock = threading.Lock()
        self._bridge_locks: dict[str, BridgeLock] = {}  # network id → plugs share it, releasing the bridge excludes

    def bridge_lock(self, network: NetworkPlug) -> BridgeLock:
        with self._lock:
            return self._bridge_locks.setdefault(network.network_id, BridgeLock())

    def run(self, plan: Plan, ctx: RunContext) -> None:
        try:
            try:
                self._run_steps(plan.steps, ctx)
            except NotLive:
                self._run_steps(plan.fallback, ctx)
        except BaseException:
            if ctx.background:
                concurrent.futures.wait(ctx.background)  # never leave a check writing haproxy.cfg.new behind
            raise

    def _run_steps(self, steps: Sequence[Step], ctx: RunContext) -> None:
        for step in steps:
            self.step(step, ctx)

    def step(self, step: Step, ctx: RunContext) -> None:
        mem: LbMemory = ctx.memory
        paths = ctx.paths
        match step:
            case UnitStep():
                self.units[type(step).unit].run(step, ctx)
            case StopUnit(unit=name):
                self.units[name].stop(paths)
            case RemoveNamespace(ns=ns):
                self.plumber.remove_namespace(ns)
            case ForgetPlumbing():
                paths.plumbed.unlink(missing_ok=True)
            case Adopt(adopted=adopted):
                mem.adopted = adopted
            case RecordNetwork(network=network, write=write):
                if write:
                    _write(paths.network, network_json(network))
                mem.network = network
            case Plumb(ns=ns, network=network, plug=plug, mark=mark):
                self.plumber.ensure_namespace(ns)
                with self.bridge_lock(network).plugging():  # no teardown may release the bridge in between
                    self.plumber.ensure_bridge(network, self._mappings)
                    self.plumber.ensure_port(ns, plug)
                if mark:
                    _write(paths.plumbed, plug_digest(ns, plug))
            case StoreEpoch(epoch=epoch, write=write):
                if write:
                    paths.epoch.write_text(str(epoch))
                mem.epoch = epoch
            case SetApplied(spec=spec):
                mem.applied = spec
            case MarkVerified(jitter=jitter):
                now = time.monotonic()
                mem.verified = now - random.uniform(0.0, self._full_check_interval()) if jitter else now
            case Solicit(network=network, ips=ips):
                self.plumber.solicit(network, list(ips))
            case ReleaseBridge(network=network):
                with self.bridge_lock(network).releasing():
                    self.plumber.remove_bridge_if_unused(network)
            case RemoveDirectory():
                remove_tree(paths.directory)
            case _:
                raise TypeError(f"unknown step {step!r}")


def remove_tree(directory: Path, attempts: int = 5) -> None:
    """Remove an LB's directory, or raise (the teardown is retried and not reported done before it is gone).
    Another thread may create a file in it while it goes: the access-log receiver storing the lines a
    stopping HAProxy sent last. One ``rmtree`` then fails on the non-empty directory; the next one removes
    the newcomer (whose writer holds it open from then on, so it is not made again)."""
    for _ in range(attempts):
        shutil.rmtree(directory, ignore_errors=True)
        if not directory.exists():
            return
    shutil.rmtree(directory)


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


__all__ = ["BridgeLock", "Executor", "remove_tree"]
