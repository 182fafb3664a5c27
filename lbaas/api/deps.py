"""Request dependencies: the database, the service environment, and who is asking.

They are ``async def`` on purpose: they only read the request and app state, and FastAPI runs a plain
``def`` dependency in the thread pool, one thread hop (and a GIL hand-over) per dependency per request.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import Depends, Request

from lbaas.db.session import Database
from lbaas.domain import errors
from lbaas.services.context import RequestContext
from lbaas.services.env import ServiceEnv


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_env(request: Request) -> ServiceEnv:
    env: ServiceEnv = request.app.state.env
    return env


async def get_context(request: Request) -> RequestContext:
    """noauth: the project comes from X-Project-Id (or X-Tenant-Id), else the configured default."""
    env: ServiceEnv = request.app.state.env
    header = request.headers.get("x-project-id") or request.headers.get("x-tenant-id")
    roles = {r.strip().lower() for r in request.headers.get("x-roles", "").split(",") if r.strip()}
    return RequestContext(
        project_id=header or env.settings.default_project,
        is_admin="admin" in roles,
        project_from_header=bool(header),
    )


IDENTITY_HEADERS = ("x-roles", "x-project-id", "x-tenant-id")
POLICY_FORBIDDEN = "Policy does not allow this request to be performed."


async def get_operator_context(request: Request) -> RequestContext:
    """The context for endpoints where an admin sees more (quota reads): never refuses.

    Admin when X-Roles says so, or, with ``noauth_admin``, when the request carries no identity
    headers at all (the stock CLI with OS_AUTH_TYPE=none).
    """
    ctx = await get_context(request)
    env: ServiceEnv = request.app.state.env
    if not ctx.is_admin and env.settings.noauth_admin and not any(h in request.headers for h in IDENTITY_HEADERS):
        ctx = dataclasses.replace(ctx, is_admin=True)
    return ctx


async def get_admin_context(request: Request) -> RequestContext:
    """The context for admin-only endpoints: 403 unless the caller is admin (see get_operator_context)."""
    ctx = await get_operator_context(request)
    if not ctx.is_admin:
        raise errors.Forbidden(POLICY_FORBIDDEN)
    return ctx


Db = Annotated[Database, Depends(get_db)]
Env = Annotated[ServiceEnv, Depends(get_env)]
Ctx = Annotated[RequestContext, Depends(get_context)]
OperatorCtx = Annotated[RequestContext, Depends(get_operator_context)]
AdminCtx = Annotated[RequestContext, Depends(get_admin_context)]


def scope(model: Any, ctx: RequestContext) -> list[Any]:
    """The WHERE clauses that keep a list inside the caller's project."""
    return [] if ctx.is_admin else [model.project_id == ctx.project_id]
