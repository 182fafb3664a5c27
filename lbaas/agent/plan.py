"""Plan: from (desired state, what the host holds, what this process remembers) to a list of steps. Pure.

    desired None or deleting   →  stop every unit, remove the namespace, solicit the VIP if we served it
                                  until now, release the bridge, remove the LB's directory
    binding epoch changed      →  stop every unit, remove the namespace, forget the plumbing record
                                  (failover: a fresh instance), then plan on as for a new host
    converged (cheap)          →  remember only (no netlink, no check, no reload)
    a unit can change live     →  the units' live steps (no plumbing), with the full path as fallback
    otherwise (full path)      →  units' pre steps (a background check), plumb, units' post steps

Every input is already read (``lbaas.agent.actual.observe_host``), so the same inputs give the same
plan: ``tests/unit/agent/test_plan.py`` is a table of them. ``lbaas.agent.execute`` runs a plan.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from lbaas.agent.netns.base import NetworkPlug, PortPlug
from lbaas.agent.units import Rendered, Step, Unit, UnitPlan, UnitView
from lbaas.domain.spec import LoadBalancerSpec, VipSpec


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def plug_digest(ns: str, plug: PortPlug) -> str:
    if plug.foreign:  # an instance of a pair (its VIP is keepalived's); a SINGLE LB's digest is unchanged
        return digest(f"{ns}\n{plug!r}\nforeign={plug.foreign!r}")
    return digest(f"{ns}\n{plug!r}")


def port_plug(desired: LoadBalancerSpec) -> PortPlug:
    """The port this host plugs for the LB. SINGLE: the VIP port, with the VIP. An instance of an
    ACTIVE_STANDBY pair (``desired.vrrp``): its own vrrp port (MAC) and address, in the VIP's subnet (same
    prefix length, gateway and host routes, so routes work from the instance's address); the VIP is
    ``foreign``: keepalived adds it on the MASTER and removes it, the plumber never touches it."""
    plug = PortPlug.from_vip(desired.vip)
    vrrp = desired.vrrp
    if vrrp is None:
        return plug
    return replace(plug, port_id=vrrp.port_id, mac_address=vrrp.mac_address,
                   addresses=((vrrp.address, desired.vip.prefixlen),), foreign=plug.addresses)  # fmt: skip


def network_plug(vip: VipSpec) -> NetworkPlug:
    return PortPlug.from_vip(vip).network


def network_json(network: NetworkPlug) -> str:
    return json.dumps(asdict(network))


# ---------------------------------------------------------------------------------------------- inputs


@dataclass
class LbMemory:
    """Everything this agent process remembers about one LB (one of these per LB, in one dict)."""

    applied: LoadBalancerSpec | None = None  # the desired state now running here (what the observer measures)
    adopted: bool = False  # found running and left untouched: started by a previous agent process
    epoch: int | None = None  # binding epoch last stored (None: read the file)
    network: NetworkPlug | None = None  # the VIP network recorded on disk
    verified: float | None = None  # monotonic time of the last full pass (or its due share)
    confirmed: float | None = None  # when a reconcile last confirmed it (jittered)
    failures: int = 0  # consecutive failed reconciles
    reported: int | None = None  # generation last reported ok (skip idle re-reports)
    rejected: int | None = None  # generation whose refusal was reported
    units: dict[str, Any] = field(default_factory=dict)  # unit name → the unit's own memory


@dataclass(frozen=True)
class HostRecord:
    """What the host holds for one LB, read in one place (``lbaas.agent.actual.observe_host``)."""

    directory: bool  # the LB's state directory exists
    epoch: int | None  # binding epoch file
    network_text: str | None  # network.json as written
    network: NetworkPlug | None  # ... parsed (None: missing or unusable)
    plumbed: str | None  # digest of the VIP plug last converged by a full pass
    port_alive: bool  # the VIP veth is up in its bridge (sysfs)
    units: Mapping[str, Any] = field(default_factory=dict)  # unit name → its record

    def after_replace(self, units: Sequence[Unit]) -> HostRecord:
        """How the host reads once every unit is stopped, the namespace removed and the plumbing record gone."""
        stopped = {u.name: u.stopped(self.units[u.name]) for u in units if u.name in self.units}
        return HostRecord(self.directory, self.epoch, self.network_text, self.network, None, False, stopped)


# ---------------------------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class StopUnit(Step):
    unit: str


@dataclass(frozen=True)
class RemoveNamespace(Step):
    ns: str


@dataclass(frozen=True)
class ForgetPlumbing(Step):
    """Remove the plumbing record: the next full pass plumbs (and records) again."""


@dataclass(frozen=True)
class Adopt(Step):
    adopted: bool


@dataclass(frozen=True)
class RecordNetwork(Step):
    """Remember the VIP network (on disk too when ``write``), for a teardown by a later agent process."""

    network: NetworkPlug
    write: bool


@dataclass(frozen=True)
class Plumb(Step):
    """Ensure namespace, bridge and VIP port (bridge and port under the network's plug lock); record the
    plug's digest when ``mark``."""

    ns: str
    network: NetworkPlug
    plug: PortPlug
    mark: bool


@dataclass(frozen=True)
class StoreEpoch(Step):
    epoch: int
    write: bool


@dataclass(frozen=True)
class SetApplied(Step):
    spec: LoadBalancerSpec


@dataclass(frozen=True)
class MarkVerified(Step):
    """A full pass ran now; ``jitter``: a cheap pass trusted a predecessor's, due within one interval."""

    jitter: bool = False


@dataclass(frozen=True)
class Solicit(Step):
    network: NetworkPlug
    ips: tuple[str, ...]


@dataclass(frozen=True)
class ReleaseBridge(Step):
    network: NetworkPlug


@dataclass(frozen=True)
class RemoveDirectory(Step):
    pass


@dataclass(frozen=True)
class Plan:
    """Steps to run in order; if one raises ``NotLive`` (a live change that did not take), ``fallback``
    runs instead of the rest."""

    steps: tuple[Step, ...]
    fallback: tuple[Step, ...] = ()


# ---------------------------------------------------------------------------------------------- plans


def plan_ensure(
    desired: LoadBalancerSpec,
    rendered: Mapping[str, Rendered],
    record: HostRecord,
    memory: LbMemory,
    units: Sequence[Unit],
    *,
    ns: str,
    now: float,
    full_check_interval: float,
    plug: PortPlug | None = None,
) -> Plan:
    """The steps that converge the host to ``desired``; ``units`` are those ``rendered`` has files for.
    ``plug``: ``port_plug(desired)`` when the caller has it already (it is not free)."""
    plug = plug if plug is not None else port_plug(desired)
    plugged = plug_digest(ns, plug)
    steps: list[Step] = []
    known_epoch = memory.epoch if memory.epoch is not None else record.epoch
    if known_epoch is not None and known_epoch != desired.binding_epoch:
        # failover: replace the instance (fresh namespace and processes, GARP on the new plug)
        steps += [StopUnit(u.name) for u in units]
        steps += [RemoveNamespace(ns), ForgetPlumbing(), Adopt(False)]
        record = record.after_replace(units)
    network = plug.network
    if memory.network != network:
        steps.append(RecordNetwork(network, write=record.network_text != network_json(network)))
    store_epoch = StoreEpoch(desired.binding_epoch, write=known_epoch != desired.binding_epoch)
    plans: list[UnitPlan] = [
        u.plan(UnitView(desired, rendered[u.name], record.units.get(u.name), memory.units.get(u.name), memory.applied))
        for u in units
    ]

    # converged: confirmed from files and liveness alone (what a resync of thousands costs)
    last = memory.verified
    trusted = full_check_interval > 0 and (last is None or now - last < full_check_interval)
    if trusted and record.plumbed == plugged and record.port_alive and all(p.converged for p in plans):
        if last is None:
            steps.append(MarkVerified(jitter=True))
        if memory.applied is None:
            steps.append(Adopt(True))  # a previous agent process started it; we only watch it
        return Plan((*steps, store_epoch, SetApplied(desired)))

    full: list[Step] = [s for p in plans for s in p.pre]
    full.append(Plumb(ns, network, plug, mark=record.plumbed != plugged))
    full += [s for p in plans for s in p.post]
    full += [store_epoch, SetApplied(desired), MarkVerified()]

    # live: some unit changes without plumbing or restart, every other one is converged already
    if any(p.live for p in plans) and all(p.live or p.converged for p in plans):
        live = [s for p in plans for s in (p.live or ())]
        return Plan((*steps, *live, store_epoch, SetApplied(desired)), fallback=tuple(full))
    return Plan((*steps, *full))


def plan_teardown(
    desired: LoadBalancerSpec | None, record: HostRecord, memory: LbMemory, units: Sequence[Unit], *, ns: str
) -> Plan:
    """Remove everything of an LB that is deleted (``desired.deleting``) or no longer ours (None)."""
    last = memory.applied
    network: NetworkPlug | None
    if desired is not None:
        network = network_plug(desired.vip)
    elif last is not None:
        network = network_plug(last.vip)
    else:
        network = memory.network if memory.network is not None else record.network
    steps: list[Step] = [StopUnit(u.name) for u in units]
    steps.append(RemoveNamespace(ns))
    if network is not None:
        if last is not None and desired is None and last.vrrp is None:
            # We served it until now and it is no longer ours (failed over while we were cut off): our
            # traffic taught the switches its MAC is here; make the new owner answer (and so re-teach
            # them) instead of waiting for ARP entries to expire. Not for an instance of a pair: the VIP
            # is the other instance's (VRRP moved it, with gratuitous ARP), and our port has its own MAC.
            steps.append(Solicit(network, tuple(ip for ip, _ in PortPlug.from_vip(last.vip).addresses)))
        steps.append(ReleaseBridge(network))
    if record.directory:
        steps.append(RemoveDirectory())
    return Plan(tuple(steps))


__all__ = [
    "Adopt", "ForgetPlumbing", "HostRecord", "LbMemory", "MarkVerified", "Plan", "Plumb", "RecordNetwork",
    "ReleaseBridge", "RemoveDirectory", "RemoveNamespace", "SetApplied", "Solicit", "StopUnit", "StoreEpoch",
    "digest", "network_json", "network_plug", "plan_ensure", "plan_teardown", "plug_digest", "port_plug",
]  # fmt: skip
