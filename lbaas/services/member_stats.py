"""Per-member counters of one load balancer (an lbaas extension: Octavia has listener and LB stats only).

Visible exactly as the load balancer is (``load`` applies the same project scope), so a caller who may
not see the LB gets its 404. Members the agent has not counted yet read as zeros.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas.db import models as m
from lbaas.services import policy
from lbaas.services.common import load
from lbaas.services.context import RequestContext
from lbaas.services.load_balancers import STAT_FIELDS


def member_stats(s: Session, ctx: RequestContext, lb_id: str) -> list[dict[str, Any]]:
    lb = load(s, m.LoadBalancer, lb_id, ctx, "Load Balancer", policy.LOADBALANCER + policy.GET_STATS)
    rows = {r.member_id: r for r in s.scalars(select(m.MemberStats).where(m.MemberStats.loadbalancer_id == lb.id))}
    members = s.execute(
        select(m.Member.id, m.Member.pool_id).join(m.Pool).where(m.Pool.loadbalancer_id == lb.id).order_by(m.Member.id)
    ).all()
    out = []
    for member_id, pool_id in members:
        row = rows.get(member_id)
        out.append({"id": member_id, "pool_id": pool_id, **{f: getattr(row, f) if row else 0 for f in STAT_FIELDS}})
    return out
