"""Operator routes for scale-out: the agents (list, show, enable/disable, drain) and the failover breaker.

Not part of Octavia's API (it has no agents); they live under ``/v2/octavia/`` beside the amphorae,
admin only. Liveness and the breaker are computed with the same pure rules the controller acts on
(``domain.agents``), from the same rows and settings, so what an operator sees is what the
controller decides.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from lbaas.api.deps import Db, Env, ExtensionAdminCtx
from lbaas.domain.agents import Timing
from lbaas.services import agents
from lbaas.services.env import ServiceEnv

router = APIRouter()


def _timing(env: ServiceEnv) -> Timing:
    return Timing.from_heartbeat(
        down_time=env.settings.agent_down_time, heartbeat_interval=env.settings.heartbeat_interval
    )


class AgentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    admin_state_up: bool


class AgentUpdateRoot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: AgentUpdate


def _one(db: Db, env: ServiceEnv, agent_id: str) -> dict[str, Any]:
    with db.read() as s:
        agent = agents.get(s, agent_id)
        view = next(v for v in agents.views(s) if v.id == agent.id)
    return agents.agent_view(view, agents.precise_utcnow(), _timing(env))


@router.get("/octavia/agents")
def list_agents(db: Db, env: Env, ctx: ExtensionAdminCtx) -> dict[str, Any]:
    with db.read() as s:
        rows = agents.views(s)
    now = agents.precise_utcnow()
    return {"agents": [agents.agent_view(a, now, _timing(env)) for a in rows]}


@router.get("/octavia/agents/{agent_id}")
def show_agent(agent_id: str, db: Db, env: Env, ctx: ExtensionAdminCtx) -> dict[str, Any]:
    return {"agent": _one(db, env, agent_id)}


@router.put("/octavia/agents/{agent_id}")
def update_agent(agent_id: str, body: AgentUpdateRoot, db: Db, env: Env, ctx: ExtensionAdminCtx) -> dict[str, Any]:
    with db.write() as s:
        agent_id = agents.set_admin_state(s, agent_id, body.agent.admin_state_up).id
    return {"agent": _one(db, env, agent_id)}


@router.post("/octavia/agents/{agent_id}/drain", status_code=202)
def drain_agent(agent_id: str, db: Db, ctx: ExtensionAdminCtx) -> dict[str, Any]:
    with db.write() as s:
        moved = agents.drain(s, agent_id)
    return {"loadbalancers": moved}


@router.get("/octavia/failover_breaker")
def failover_breaker(db: Db, env: Env, ctx: ExtensionAdminCtx) -> dict[str, Any]:
    with db.read() as s:
        b = agents.fleet_breaker(s, _timing(env), max_share=env.settings.failover_max_dead_share)
    return {
        "failover_breaker": {
            "tripped": b.tripped,
            "down": b.down,
            "fleet": b.fleet,
            "max_dead_share": b.max_share,
            "reason": b.reason,
        }
    }
