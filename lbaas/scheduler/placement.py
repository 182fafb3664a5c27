"""Placement: which live agent should run a load balancer. A policy is one small, pure function.

Candidates are filtered first (alive, enabled, in the load balancer's zone when it names one) and
only then handed to the policy, so a policy cannot place on a dead or disabled agent by mistake.
The default policy is least-loaded with the host name as tie-break (deterministic, testable).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lbaas.domain.agents import AgentView, Liveness, Timing, liveness


@dataclass(frozen=True)
class LbView:
    """What scheduling needs to know about one load balancer row."""

    id: str
    agent_id: str | None = None
    binding_epoch: int = 0
    zone: str | None = None  # compute_zone of its availability zone's profile; None: anywhere
    previous_agent_id: str | None = None  # where it last ran (amphora record): avoided on a move


PlacementPolicy = Callable[[LbView, Sequence[AgentView]], AgentView | None]


def least_loaded(lb: LbView, candidates: Sequence[AgentView]) -> AgentView | None:
    return min(candidates, key=lambda a: (a.load, a.host), default=None)


POLICIES: dict[str, PlacementPolicy] = {"least_loaded": least_loaded}


def policy(name: str) -> PlacementPolicy:
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown placement policy {name!r} (have: {', '.join(POLICIES)})") from None


def candidates(lb: LbView, agents: Sequence[AgentView], now: dt.datetime, timing: Timing) -> list[AgentView]:
    """Alive, enabled agents in the LB's zone; its previous agent only when there is no other."""
    ok = [
        a
        for a in agents
        if a.admin_state_up
        and liveness(a.last_heartbeat, now, timing) is Liveness.ALIVE
        and (lb.zone is None or a.availability_zone == lb.zone)
    ]
    others = [a for a in ok if a.id not in (lb.previous_agent_id, lb.agent_id)]
    return others or [a for a in ok if a.id != lb.agent_id]
