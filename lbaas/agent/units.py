"""Data-plane units: the processes that serve one LB inside its namespace, each behind one interface.

HAProxy is one unit (``lbaas.agent.haproxy.unit``), keepalived another (``lbaas.agent.keepalived.unit``:
ACTIVE_STANDBY); nftables (UDP, the routed and transparent modes) will be others. A unit contributes, for one LB:

* its **rendered files** and their digest (``render``; pure; None when this LB does not use the unit),
* its **observed part** of the host (``observe``: a frozen record read through ``LbPaths``),
* its **steps** (``plan``: pure, from the desired files, its record and what this process remembers of
  it) and how to run them (``run``), and how to stop it (``stop``: teardown and failover replacement).

The reconciler's plan (``lbaas.agent.plan``) combines the units' plans around the plumbing it owns
(namespace, bridge, VIP port). Adding a unit is adding one object to the reconciler's list: no other
unit, and neither plan nor execute, changes (``tests/unit/agent/test_plan.py`` plugs a fake one in).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from lbaas.agent.paths import LbPaths
from lbaas.domain.spec import LoadBalancerSpec


@dataclass(frozen=True)
class Rendered:
    """What a unit wants on disk for one LB: file name → text, and one digest over them."""

    files: Mapping[str, str]
    digest: str


@dataclass(frozen=True)
class Step:
    """One thing to do. Steps are plain values: a plan is compared as a whole in the table tests."""


@dataclass(frozen=True)
class UnitStep(Step):
    """A step that the unit named ``unit`` runs (``Unit.run``); subclasses set ``unit``."""

    unit: ClassVar[str] = ""


class NotLive(Exception):
    """Raised by a live step when the live change cannot be made: the plan's ``fallback`` runs instead."""


@dataclass(frozen=True)
class UnitPlan:
    """One unit's share of a plan for an LB whose desired state is present.

    ``converged``: by the cheap observation the unit runs exactly what is desired (no step needed).
    ``live``: steps that make the change with no plumbing and no restart (None: not possible).
    ``pre``/``post``: the full path's steps, run before and after the plumbing.
    """

    converged: bool
    live: tuple[Step, ...] | None
    pre: tuple[Step, ...]
    post: tuple[Step, ...]


@dataclass(frozen=True)
class UnitView:
    """What a unit plans from (all of it already read: planning does no I/O)."""

    desired: LoadBalancerSpec
    rendered: Rendered
    record: Any  # the unit's own record (``Unit.observe``)
    memory: Any  # the unit's own memory (``Unit.new_memory``), or None: nothing remembered
    applied: LoadBalancerSpec | None  # what this process last applied for the LB (None: first pass)


@dataclass
class RunContext:
    """What a step runs against: the LB's files, its namespace, what this process remembers of it, and
    the background work started by earlier steps (waited for if a later step fails)."""

    paths: LbPaths
    ns: str
    memory: Any  # LbMemory (lbaas.agent.plan); Any here to keep this module free of the plan
    background: list[concurrent.futures.Future[Any]] = field(default_factory=list)
    scratch: dict[str, Any] = field(default_factory=dict)  # per-run values passed between a unit's steps

    def unit_memory(self, unit: Unit) -> Any:
        units: dict[str, Any] = self.memory.units
        if unit.name not in units:
            units[unit.name] = unit.new_memory()
        return units[unit.name]


class Unit(Protocol):
    """One data-plane process (or kernel object set) per LB. See the module docstring."""

    name: str

    def render(self, desired: LoadBalancerSpec, paths: LbPaths) -> Rendered | None:
        """The files this LB needs from the unit (pure); None when the LB does not use the unit."""
        ...

    def observe(self, paths: LbPaths, ns: str) -> Any:
        """The unit's part of the host, as a frozen record (files through ``paths``, liveness)."""
        ...

    def stopped(self, record: Any) -> Any:
        """``record`` as it reads once the unit was stopped (the plan of a replacement continues from it)."""
        ...

    def new_memory(self) -> Any:
        """A fresh memory for one LB (what the process remembers of this unit between passes)."""
        ...

    def plan(self, view: UnitView) -> UnitPlan:
        """The unit's steps (pure)."""
        ...

    def run(self, step: Any, ctx: RunContext) -> None:
        """Run one of the unit's own steps."""
        ...

    def stop(self, paths: LbPaths) -> None:
        """Stop whatever runs for the LB (idempotent; nothing running is fine)."""
        ...

    def requeue_after(self, memory: Any) -> float | None:
        """Come back this soon even when converged (work left pending), or None."""
        ...


__all__ = ["NotLive", "Rendered", "RunContext", "Step", "Unit", "UnitPlan", "UnitStep", "UnitView"]
