"""Agent liveness and the failover circuit breaker, as pure functions over plain values.

Both the controller (which acts on them) and the API (which shows them to the operator) need the
same answers from the same rows, so the rules live here, below both, with no I/O.

Liveness comes from the last heartbeat alone:

    silent <= suspect_time            ALIVE    (placed on, counted as up)
    suspect_time < silent <= down     SUSPECT  (not placed on; counted as down by the breaker)
    silent > down_time, or never      DEAD     (its load balancers are re-bound, unless the breaker is open)

SUSPECT exists for the breaker. Agents that die together stop heartbeating within one heartbeat
interval of each other, so when the first is declared dead the others are already suspect: counting
them keeps the controller from piling the first one's load balancers onto agents about to be
declared dead themselves (or onto the one survivor).

The breaker is not sticky: it is recomputed on every pass. While more than ``max_share`` of the
fleet is down, no automatic failover happens (bindings stay where they are, fail-static); when
enough agents are back it closes and the remaining dead agents are failed over. The fleet is every
agent that is enabled or still has load balancers bound to it, so a decommissioned agent stops
counting once it is disabled and drained.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Liveness(StrEnum):
    ALIVE = "ALIVE"
    SUSPECT = "SUSPECT"
    DEAD = "DEAD"


@dataclass(frozen=True)
class AgentView:
    """What scheduling needs to know about one agent row."""

    id: str
    host: str
    availability_zone: str | None = None
    admin_state_up: bool = True
    last_heartbeat: dt.datetime | None = None
    load: int = 0  # load balancers bound to it


@dataclass(frozen=True)
class Timing:
    down_time: float = 3.0
    suspect_time: float = 2.0

    @classmethod
    def from_heartbeat(cls, *, down_time: float, heartbeat_interval: float) -> Timing:
        """Suspect after two missed heartbeats, but never later than the down time."""
        return cls(down_time=down_time, suspect_time=min(2 * heartbeat_interval, down_time))


def liveness(last_heartbeat: dt.datetime | None, now: dt.datetime, timing: Timing) -> Liveness:
    if last_heartbeat is None:
        return Liveness.DEAD
    silent = (now - last_heartbeat).total_seconds()
    if silent > timing.down_time:
        return Liveness.DEAD
    if silent > timing.suspect_time:
        return Liveness.SUSPECT
    return Liveness.ALIVE


@dataclass(frozen=True)
class Breaker:
    tripped: bool
    down: int  # agents in the fleet that are SUSPECT or DEAD
    fleet: int
    max_share: float

    @property
    def reason(self) -> str:
        state = "open: automatic failover stopped" if self.tripped else "closed"
        return f"{self.down} of {self.fleet} agents down (limit {self.max_share:.0%}); {state}"


def in_fleet(agent: AgentView) -> bool:
    return agent.admin_state_up or agent.load > 0


def breaker(agents: Iterable[AgentView], now: dt.datetime, timing: Timing, *, max_share: float) -> Breaker:
    fleet = [a for a in agents if in_fleet(a)]
    down = sum(1 for a in fleet if liveness(a.last_heartbeat, now, timing) is not Liveness.ALIVE)
    tripped = bool(fleet) and down / len(fleet) > max_share
    return Breaker(tripped=tripped, down=down, fleet=len(fleet), max_share=max_share)
