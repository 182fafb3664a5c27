"""Cheap aggregate reads for the service metrics: one GROUP BY per scrape, no per-row work."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from lbaas.db import models as m


def lb_status_counts(s: Session) -> dict[tuple[str, str], int]:
    """(provisioning_status, operating_status) → number of load balancers."""
    rows = s.execute(
        select(m.LoadBalancer.provisioning_status, m.LoadBalancer.operating_status, func.count()).group_by(
            m.LoadBalancer.provisioning_status, m.LoadBalancer.operating_status
        )
    )
    return {(str(p), str(o)): int(n) for p, o, n in rows}


def ping(s: Session) -> None:
    """The database answers (the healthcheck's no-op query)."""
    s.execute(text("SELECT 1"))
