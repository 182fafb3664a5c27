"""``GET /v2/octavia/loadbalancers/{lb_id}/logs?tail=N`` → ``{"lines": [...]}``: the tail of the load
balancer's access log (oldest first), for whoever may see the load balancer (404 otherwise, as for the
LB itself).

``lbaas serve`` runs the agent in-process and reads the LB's file directly. A scale-out API asks the
agent the LB is bound to (``agent_logs_url``, the agent serving them on ``agent_logs_bind`` with the
internal secret); without ``agent_logs_url`` it answers 501 (the agents still write and offload them).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Query, Request

from lbaas.api.deps import Ctx, Db, Env
from lbaas.db import models as m
from lbaas.domain import errors
from lbaas.services import policy
from lbaas.services.accesslogs import MAX_TAIL, access_log_path, tail
from lbaas.services.common import load

log = logging.getLogger(__name__)
router = APIRouter()
SECRET_HEADER = "X-Lbaas-Agent-Secret"  # the internal API's header (lbaas.agent.logserver checks it)


@router.get("/octavia/loadbalancers/{lb_id}/logs")
def loadbalancer_logs(
    lb_id: str,
    request: Request,
    db: Db,
    env: Env,
    ctx: Ctx,
    tail_lines: Annotated[int, Query(alias="tail", ge=0, le=MAX_TAIL)] = 100,
) -> dict[str, Any]:
    with db.read() as s:
        lb = load(s, m.LoadBalancer, lb_id, ctx, "Load Balancer", policy.LOADBALANCER + policy.GET_STATS)
        lb_id = lb.id
        agent = s.get(m.Agent, lb.agent_id) if lb.agent_id else None
        agent_host = agent.host if agent is not None else None
    state_dir: Path | None = getattr(request.app.state, "local_logs", None)
    if state_dir is not None:
        return {"lines": tail(access_log_path(state_dir, lb_id), tail_lines)}
    settings = env.settings
    if not settings.agent_logs_url or not settings.internal_secret:
        raise errors.NotImplementedFeature(
            "Access logs are kept on the agent hosts in scale-out mode (and offloaded to the syslog targets); "
            "set agent_logs_url (and agent_logs_bind on the agents) to read them through the API."
        )
    if agent_host is None:
        return {"lines": []}  # not placed yet: nothing has run, nothing was logged
    return {"lines": _from_agent(settings.agent_logs_url, agent_host, settings.internal_secret, lb_id, tail_lines)}


def _from_agent(url_template: str, host: str, secret: str, lb_id: str, n: int) -> list[str]:
    base = url_template.replace("{host}", host).rstrip("/")
    try:
        r = httpx.get(f"{base}/logs/{lb_id}", params={"tail": n}, headers={SECRET_HEADER: secret}, timeout=5.0)
    except httpx.HTTPError as exc:
        log.warning("access logs of %s from agent %s: %s", lb_id, host, exc)
        raise errors.ServiceUnavailable(f"The agent {host} holding this load balancer cannot be reached.") from None
    if r.status_code == 404:
        return []  # bound there but not built yet
    if r.status_code != 200:
        log.warning("access logs of %s from agent %s: %d %s", lb_id, host, r.status_code, r.text[:200])
        raise errors.ServiceUnavailable(f"The agent {host} holding this load balancer did not return its logs.")
    return [str(x) for x in r.json().get("lines", [])]
