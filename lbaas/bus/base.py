"""The bus boundary: ``Nudger`` (publish side) and ``NudgeHandler`` (what a consumer calls back).

Routing is by agent host: every agent consumes its own routing key (its host name) and a fanout
"resync-all". Which hosts to nudge for an LB is decided above the bus (``bus.router``), from rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class Nudger(Protocol):
    def publish(self, host: str, lb_ids: Iterable[str]) -> None:
        """Ask the agent on ``host`` to reconcile these LBs soon. Never raises: a lost nudge is latency."""

    def resync_all(self) -> None:
        """Ask every agent for a full resync."""


class NudgeHandler(Protocol):
    def nudge(self, lb_ids: Iterable[str]) -> None: ...

    def resync(self) -> None: ...
