"""``lbaas logs LB [--follow] [--tail N]``: an LB's access log read through the API (so it works from any
machine, under the same visibility as the LB itself)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from lbaas.tools.client import Client

FOLLOW_WINDOW = 1000  # lines fetched per poll while following


def resolve_lb(client: Client, ref: str) -> str:
    """An LB id, or the id of the one LB with that name."""
    found = client.call("GET", f"/v2/lbaas/loadbalancers/{ref}", ok=(404,))
    if found and "loadbalancer" in found:
        return str(found["loadbalancer"]["id"])
    named = client.call("GET", "/v2/lbaas/loadbalancers", None)["loadbalancers"]
    ids = [lb["id"] for lb in named if lb.get("name") == ref]
    if len(ids) != 1:
        raise LookupError(f"no load balancer {ref!r}" if not ids else f"{len(ids)} load balancers are named {ref!r}")
    return str(ids[0])


def fetch(client: Client, lb_id: str, tail: int) -> list[str]:
    return [str(x) for x in client.call("GET", f"/v2/octavia/loadbalancers/{lb_id}/logs?tail={tail}")["lines"]]


def new_lines(previous: list[str], current: list[str]) -> list[str]:
    """The lines of ``current`` after the longest suffix of ``previous`` it starts with (log rotation or
    a window that moved past everything seen: all of ``current``)."""
    if not previous:
        return current
    for k in range(min(len(previous), len(current)), 0, -1):
        if current[:k] == previous[-k:]:
            return current[k:]
    return current


def follow(
    client: Client, lb_id: str, tail: int, *, interval: float = 0.5, sleep: Callable[[float], None] = time.sleep
) -> Iterator[str]:
    seen = fetch(client, lb_id, tail)
    yield from seen
    while True:
        sleep(interval)
        window = fetch(client, lb_id, FOLLOW_WINDOW)
        fresh = new_lines(seen, window)
        yield from fresh
        seen = window
