"""The in-process bus: a fake with the same routing as AMQP (per-host and fanout), delivered inline.

Used by unit tests of everything that publishes, and usable to run several agents in one process.
``published`` records every message so a test can assert what went where.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from lbaas.bus.base import NudgeHandler


@dataclass
class InProcessBus:
    handlers: dict[str, list[NudgeHandler]] = field(default_factory=dict)
    published: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (host or "*", ids)
    connected: bool = True  # False drops every message, like a broker outage

    def subscribe(self, host: str, handler: NudgeHandler) -> None:
        self.handlers.setdefault(host, []).append(handler)

    def publish(self, host: str, lb_ids: Iterable[str]) -> None:
        ids = tuple(sorted(set(lb_ids)))
        if not ids or not self.connected:
            return
        self.published.append((host, ids))
        for handler in self.handlers.get(host, []):
            handler.nudge(ids)

    def resync_all(self) -> None:
        if not self.connected:
            return
        self.published.append(("*", ()))
        for handlers in self.handlers.values():
            for handler in handlers:
                handler.resync()
