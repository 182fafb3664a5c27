"""Request dependencies: the database, the service environment, and who is asking.

They are ``async def`` on purpose: they only read the request and app state, and FastAPI runs a plain
``def`` dependency in the thread pool, one thread hop (and a GIL hand-over) per dependency per request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from lbaas.db.listing import ListQuery
from lbaas.db.session import Database
from lbaas.services import policy
from lbaas.services.context import RequestContext
from lbaas.services.env import ServiceEnv


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_env(request: Request) -> ServiceEnv:
    env: ServiceEnv = request.app.state.env
    return env


async def get_context(request: Request) -> RequestContext:
    """noauth: the project comes from X-Project-Id (or X-Tenant-Id), else the configured default.

    A request with no identity headers at all is the operator (``noauth_admin``): an administrator, as
    Octavia's noauth makes every caller. A request naming a project but no roles acts as a member of
    that project; X-Roles names the roles. What each caller may do is decided by the policy
    (``lbaas.services.policy``), from the roles and the project.
    """
    env: ServiceEnv = request.app.state.env
    header = request.headers.get("x-project-id") or request.headers.get("x-tenant-id")
    if env.settings.noauth_admin and not any(h in request.headers for h in IDENTITY_HEADERS):
        return RequestContext(project_id=env.settings.default_project, is_admin=True, roles=frozenset({"admin"}))
    roles = {r.strip().lower() for r in request.headers.get("x-roles", "").split(",") if r.strip()} or {"member"}
    return RequestContext(
        project_id=header or env.settings.default_project,
        is_admin="admin" in roles,
        project_from_header=bool(header),
        roles=frozenset(roles),
    )


IDENTITY_HEADERS = ("x-roles", "x-project-id", "x-tenant-id")


Db = Annotated[Database, Depends(get_db)]
Env = Annotated[ServiceEnv, Depends(get_env)]
Ctx = Annotated[RequestContext, Depends(get_context)]


async def get_extension_admin_context(ctx: Ctx) -> RequestContext:
    """Our operator extensions under /v2/octavia/ (agents, failover breaker): admin only, by the policy."""
    policy.authorize(ctx, policy.EXTENSION_ADMIN, ctx.project_id)
    return ctx


ExtensionAdminCtx = Annotated[RequestContext, Depends(get_extension_admin_context)]

# Names other branches may still use: an admin-only endpoint (by the policy's admin rule), and the
# context of endpoints where the policy decides what an admin sees more of.
get_admin_context = get_extension_admin_context
get_operator_context = get_context
AdminCtx = ExtensionAdminCtx
OperatorCtx = Ctx


def scope(model: Any, ctx: RequestContext, prefix: str | None = None, q: ListQuery | None = None) -> list[Any]:
    """The WHERE clauses that keep a list inside the projects the policy lets the caller list
    (Octavia's ``get_all`` / ``get_all-global`` of rule ``prefix``); 403 for a project it may not list.
    Without a rule prefix (objects Octavia has no rule for): the caller's project, every one for an admin."""
    if prefix is None:
        return [] if policy.is_admin(ctx) else [model.project_id == ctx.project_id]
    projects = policy.list_scope(ctx, prefix, q.filters.get("project_id", []) if q is not None else [])
    return [] if projects is None else [model.project_id.in_(projects)]
