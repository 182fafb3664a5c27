"""``GET /v2/octavia/loadbalancers/{lb_id}/logs?tail=N`` → ``{"lines": [...]}``: the tail of the load
balancer's access log (oldest first), for whoever may see the load balancer (404 otherwise, as for the
LB itself).

``lbaas serve`` runs the agent in-process and reads the LB's file directly. The scale-out API has no
agent beside it: it answers 501 (the agents write the files on their hosts and offload to syslog).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from lbaas.api.deps import Ctx, Db
from lbaas.db import models as m
from lbaas.domain import errors
from lbaas.services.accesslogs import MAX_TAIL, access_log_path, tail
from lbaas.services.common import load

router = APIRouter()


@router.get("/octavia/loadbalancers/{lb_id}/logs")
def loadbalancer_logs(
    lb_id: str,
    request: Request,
    db: Db,
    ctx: Ctx,
    tail_lines: Annotated[int, Query(alias="tail", ge=0, le=MAX_TAIL)] = 100,
) -> dict[str, Any]:
    with db.read() as s:
        lb = load(s, m.LoadBalancer, lb_id, ctx, "Load Balancer")
        lb_id = lb.id
    state_dir: Path | None = getattr(request.app.state, "local_logs", None)
    if state_dir is None:
        raise errors.NotImplementedFeature(
            "Access logs are kept on the agent hosts in scale-out mode (and offloaded to the syslog targets); "
            "this API process cannot read them."
        )
    return {"lines": tail(access_log_path(state_dir, lb_id), tail_lines)}
