"""One scheduling pass as a pure function: rows in, moves out. The controller applies the moves.

    unbound LB                     → place it (a new LB, or one failed over / drained on request)
    bound to a DEAD agent          → re-bind it elsewhere, unless the circuit breaker is open
    bound to an unknown agent      → treated as unbound
    bound to a live or SUSPECT one → left alone (suspect agents get the benefit of the doubt)

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


@dataclass
class Plan:
    moves: list[Move] = field(default_factory=list)
    unplaceable: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # on dead agents, kept there by the open breaker
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
    return out
