"""One scheduling pass as a pure function: rows in, moves out. The controller applies the moves.

    unbound LB                     → place it (a new LB, or one failed over / drained on request)
    bound to a DEAD agent          → re-bind it elsewhere, unless the circuit breaker is open
    bound to an unknown agent      → treated as unbound
    bound to a live or SUSPECT one → left alone (suspect agents get the benefit of the doubt)

ACTIVE_STANDBY LBs are placed per instance (``InstanceView``, see ``plan_pairs``):

    both instances unbound         → place both on two different agents (anti-affinity), or neither
    one unbound (the other placed) → place it on an agent other than its peer's
    one on a DEAD agent            → a new record elsewhere (not the peer's agent); the survivor is left
                                     alone and keeps the VIP; the circuit breaker applies. Not while
                                     the survivor is measured BACKUP: it still hears the other's VRRP
                                     adverts over the data plane, so that instance runs and holds the
                                     VIP (its agent is only cut from the API); a rebuild would make a
                                     second VIP owner. The survivor turns MASTER when the other really
                                     stops, and then the rebuild goes ahead.
    marked for replacement         → (LB or amphora failover, drain) one instance of a pair at a time,
                                     only while every other instance of the pair runs

Loads are updated as the pass places LBs, so one pass spreads a dead agent's LBs over the
survivors instead of putting them all on the least-loaded one. An LB with no candidate (no live
agent in its zone) stays where it is and is reported as ``unplaceable``; the next pass tries again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from lbaas.domain.agents import AgentView, Breaker, Liveness, Timing, breaker, liveness
from lbaas.scheduler.placement import LbView, PlacementPolicy, candidates, least_loaded


@dataclass(frozen=True)
class Move:
    lb_id: str
    from_agent_id: str | None
    from_epoch: int
    to_agent_id: str
    failover: bool  # moved off a dead agent (a new instance must be built: generation bump)


@dataclass(frozen=True)
class InstanceView:
    """What scheduling needs to know about one instance (amphora row) of an ACTIVE_STANDBY LB."""

    id: str
    lb_id: str
    role: str
    agent_id: str | None = None
    binding_epoch: int = 0
    zone: str | None = None  # compute_zone of the LB's availability zone profile; None: anywhere
    replace: bool = False  # marked for replacement on request (failover, drain)
    running: bool = False  # has applied a generation (ALLOCATED, or marked but still serving)
    vrrp_state: str | None = None  # measured: a replacement starts with the instance that is not MASTER


@dataclass(frozen=True)
class InstanceMove:
    amphora_id: str
    lb_id: str
    from_agent_id: str | None
    from_epoch: int
    to_agent_id: str
    failover: bool  # off a dead agent (counted as a failover; the breaker applies)
    new_record: bool  # replace the record (dead agent or on request) rather than bind an unbound one
    peer_agent_ids: tuple[str, ...] = ()  # to nudge: their spec changes (a new peer, a new generation)


@dataclass
class Plan:
    moves: list[Move] = field(default_factory=list)
    instance_moves: list[InstanceMove] = field(default_factory=list)
    unplaceable: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # on dead agents, kept there by the open breaker
    witnessed: list[str] = field(default_factory=list)  # pairs whose "dead" instance the survivor still hears
    breaker: Breaker | None = None


def plan(
    lbs: Sequence[LbView],
    agents: Sequence[AgentView],
    now: dt.datetime,
    timing: Timing,
    *,
    max_dead_share: float,
    policy: PlacementPolicy = least_loaded,
    hold_open: bool = False,
    instances: Sequence[InstanceView] = (),
) -> Plan:
    """``hold_open``: treat the breaker as open even if the rows say closed (recovery hysteresis)."""
    by_id = {a.id: a for a in agents}
    state = {a.id: liveness(a.last_heartbeat, now, timing) for a in agents}
    out = Plan(breaker=breaker(agents, now, timing, max_share=max_dead_share))
    for lb in sorted(lbs, key=lambda x: x.id):
        bound = by_id.get(lb.agent_id) if lb.agent_id else None
        if bound is not None and state[bound.id] is not Liveness.DEAD:
            continue
        failover = bound is not None
        if failover and (hold_open or (out.breaker is not None and out.breaker.tripped)):
            out.held.append(lb.id)
            continue
        choice = policy(lb, candidates(lb, list(by_id.values()), now, timing))
        if choice is None:
            out.unplaceable.append(lb.id)
            continue
        out.moves.append(Move(lb.id, lb.agent_id, lb.binding_epoch, choice.id, failover))
        by_id[choice.id] = dataclasses.replace(choice, load=choice.load + 1)
        if bound is not None:
            by_id[bound.id] = dataclasses.replace(by_id[bound.id], load=max(by_id[bound.id].load - 1, 0))
    plan_pairs(out, instances, by_id, state, now, timing, policy=policy, hold_open=hold_open)
    return out


def _pick(
    lb_id: str,
    zone: str | None,
    by_id: dict[str, AgentView],
    now: dt.datetime,
    timing: Timing,
    policy: PlacementPolicy,
    *,
    exclude: set[str],
    avoid: set[str],
) -> AgentView | None:
    """A live, enabled agent in ``zone``, never one of ``exclude`` (anti-affinity), preferably not one of
    ``avoid`` (where the instance ran)."""
    ok = [
        a
        for a in by_id.values()
        if a.id not in exclude
        and a.admin_state_up
        and liveness(a.last_heartbeat, now, timing) is Liveness.ALIVE
        and (zone is None or a.availability_zone == zone)
    ]
    preferred = [a for a in ok if a.id not in avoid]
    return policy(LbView(id=lb_id, zone=zone), preferred or ok)


def plan_pairs(
    out: Plan,
    instances: Sequence[InstanceView],
    by_id: dict[str, AgentView],
    state: dict[str, Liveness],
    now: dt.datetime,
    timing: Timing,
    *,
    policy: PlacementPolicy,
    hold_open: bool,
) -> None:
    """The ACTIVE_STANDBY part of a pass (see the module docstring); appends to ``out``."""
    pairs: dict[str, list[InstanceView]] = {}
    for inst in instances:
        pairs.setdefault(inst.lb_id, []).append(inst)
    tripped = hold_open or (out.breaker is not None and out.breaker.tripped)

    def take(agent: AgentView) -> None:
        by_id[agent.id] = dataclasses.replace(by_id[agent.id], load=by_id[agent.id].load + 1)

    def rebuild(pair: list[InstanceView], inst: InstanceView, *, failover: bool, exclude: set[str],
                avoid: set[str]) -> AgentView | None:  # fmt: skip
        """A new record for ``inst`` on the agent ``_pick`` chooses, its peers the pair's other agents; None
        (the LB unplaceable) when there is none."""
        choice = _pick(inst.lb_id, pair[0].zone, by_id, now, timing, policy, exclude=exclude, avoid=avoid)
        if choice is None:
            out.unplaceable.append(inst.lb_id)
            return None
        others = tuple(str(i.agent_id) for i in pair if i.id != inst.id)
        out.instance_moves.append(
            InstanceMove(inst.id, inst.lb_id, inst.agent_id, inst.binding_epoch, choice.id, failover=failover,
                         new_record=True, peer_agent_ids=others)
        )  # fmt: skip
        take(choice)
        return choice

    for lb_id in sorted(pairs):
        pair = sorted(pairs[lb_id], key=lambda i: (i.role != "MASTER", i.id))
        zone = pair[0].zone

        def bound(i: InstanceView) -> bool:
            return i.agent_id is not None

        unbound = [i for i in pair if not bound(i)]
        # an agent row that is gone counts as dead
        dead = [i for i in pair if bound(i) and state.get(str(i.agent_id), Liveness.DEAD) is Liveness.DEAD]
        if unbound:  # first placement: all of them, on distinct agents, or none
            taken = {str(i.agent_id) for i in pair if bound(i)}
            picks: list[tuple[InstanceView, AgentView]] = []
            for inst in unbound:
                choice = _pick(lb_id, zone, by_id, now, timing, policy, exclude=taken, avoid=set())
                if choice is None:
                    break
                picks.append((inst, choice))
                taken.add(choice.id)
            if len(picks) < len(unbound):
                out.unplaceable.append(lb_id)
                continue
            peers = tuple(str(i.agent_id) for i in pair if bound(i))
            for inst, choice in picks:
                out.instance_moves.append(
                    InstanceMove(inst.id, lb_id, inst.agent_id, inst.binding_epoch, choice.id, failover=False,
                                 new_record=False, peer_agent_ids=peers)
                )  # fmt: skip
                take(choice)
            continue
        if dead:
            alive_peers = [i for i in pair if i not in dead and bound(i)]
            if any(i.vrrp_state == "BACKUP" for i in alive_peers):
                out.witnessed.append(lb_id)
                continue
            if tripped:
                out.held.append(lb_id)
                continue
            taken = {str(i.agent_id) for i in pair}
            for inst in dead:
                choice = rebuild(pair, inst, failover=True, exclude=taken, avoid=set())
                if choice is not None:
                    taken.add(choice.id)
            continue
        marked = [i for i in pair if i.replace]
        if not marked:
            continue
        inst = sorted(marked, key=lambda i: (i.vrrp_state == "MASTER", i.role == "MASTER", i.id))[0]
        if not all(i.running for i in pair if i.id != inst.id):
            continue  # one at a time: only while the other instance runs
        others = {str(i.agent_id) for i in pair if i.id != inst.id}
        rebuild(pair, inst, failover=False, exclude=others, avoid={str(inst.agent_id)})
