"""The internal agent API: how scale-out agents read desired state and report, without DB credentials.

Mounted at ``/internal/agents/{host}/…`` (never under /v2: it is not part of the Octavia API). Every
call needs the shared secret from ``settings.internal_secret`` in ``X-Lbaas-Agent-Secret``, compared
in constant time; with no secret configured every call is refused, so an API started without one
never exposes desired state.

"Not yours, or gone" is an ordinary answer here, ``200 {"loadbalancer": null}``, never a 404: the
agent tears down what it is told is not its own, and a 404 can also come from a misrouted proxy or a
wrong endpoint. Anything that is not a clear answer makes the agent keep what runs (fail-static).
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from lbaas.api.deps import Db, Env
from lbaas.domain import errors
from lbaas.services import agents
from lbaas.services.env import ServiceEnv

SECRET_HEADER = "X-Lbaas-Agent-Secret"


async def require_secret(request: Request) -> None:
    env: ServiceEnv = request.app.state.env
    expected = env.settings.internal_secret
    given = request.headers.get(SECRET_HEADER, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise errors.Unauthorized("The internal agent API needs a valid X-Lbaas-Agent-Secret.")


router = APIRouter(prefix="/internal/agents", dependencies=[Depends(require_secret)], include_in_schema=False)


class HeartbeatBody(BaseModel):
    availability_zone: str | None = None


class AppliedBody(BaseModel):
    generation: int
    ok: bool
    message: str | None = None


class OperatingBody(BaseModel):
    statuses: dict[str, str]


class InstanceBody(BaseModel):
    epoch: int
    vrrp_state: Literal["MASTER", "BACKUP", "FAULT", "UNKNOWN"]
    healthy: bool


class StatsBody(BaseModel):
    deltas: dict[str, dict[str, int]]


@router.put("/{host}")
def heartbeat(host: str, body: HeartbeatBody, db: Db) -> dict[str, Any]:
    with db.write() as s:
        agent = agents.heartbeat(s, host, body.availability_zone)
        return {"agent": {"id": agent.id, "host": agent.host, "admin_state_up": agent.admin_state_up}}


@router.get("/{host}/assigned")
def assigned(host: str, db: Db) -> dict[str, Any]:
    with db.read() as s:
        return {"loadbalancers": agents.assigned(s, host)}


@router.get("/{host}/loadbalancers/{lb_id}")
def spec(host: str, lb_id: str, db: Db, env: Env) -> dict[str, Any]:
    with db.read() as s:
        desired = agents.spec_for(s, host, lb_id, env.secrets())
        return {"loadbalancer": desired.model_dump(mode="json") if desired is not None else None}


@router.post("/{host}/loadbalancers/{lb_id}/applied")
def applied(host: str, lb_id: str, body: AppliedBody, db: Db) -> dict[str, bool]:
    with db.write() as s:
        return {"accepted": agents.applied(s, host, lb_id, body.generation, ok=body.ok, message=body.message)}


@router.post("/{host}/loadbalancers/{lb_id}/operating")
def operating(host: str, lb_id: str, body: OperatingBody, db: Db) -> dict[str, bool]:
    with db.write() as s:
        return {"accepted": agents.operating(s, host, lb_id, body.statuses)}


@router.post("/{host}/loadbalancers/{lb_id}/stats")
def stats(host: str, lb_id: str, body: StatsBody, db: Db) -> dict[str, bool]:
    with db.write() as s:
        return {"accepted": agents.stats(s, host, lb_id, body.deltas)}


@router.post("/{host}/loadbalancers/{lb_id}/instances/{amphora_id}")
def instance(host: str, lb_id: str, amphora_id: str, body: InstanceBody, db: Db) -> dict[str, bool]:
    """ACTIVE_STANDBY: ``host``'s instance as measured (VRRP state, HAProxy serving); fenced by its epoch."""
    with db.write() as s:
        accepted = agents.instance(s, host, lb_id, amphora_id, epoch=body.epoch, vrrp_state=body.vrrp_state,
                                   healthy=body.healthy)  # fmt: skip
        return {"accepted": accepted}
