"""``GET /v2/octavia/loadbalancers/{lb_id}/member_stats``: per-member counters (an lbaas extension).

Octavia has stats per listener and per load balancer only; the dashboard draws a rate per member, so
the agent's per-server counters are kept too (``member_stats`` table) and answered here, under the
same visibility as the load balancer itself. Shape: ``{"members": [{"id", "pool_id", "bytes_in",
"bytes_out", "active_connections", "total_connections", "request_errors"}]}``; ``total_connections``
counts HAProxy's sessions on that server, one per request in HTTP mode.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from lbaas.api.deps import Ctx, Db
from lbaas.services import member_stats as member_stats_s

router = APIRouter()


@router.get("/octavia/loadbalancers/{lb_id}/member_stats")
def member_stats(lb_id: str, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        return {"members": member_stats_s.member_stats(s, ctx, lb_id)}
