"""Request dependencies: the database, the service environment, and who is asking.

They are ``async def`` on purpose: they only read the request and app state, and FastAPI runs a plain
``def`` dependency in the thread pool, one thread hop (and a GIL hand-over) per dependency per request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from lbaas.api.auth import SCOPE_KEY, UNAUTHORIZED_MESSAGE
from lbaas.db.listing import ListQuery
from lbaas.db.session import Database
from lbaas.domain import errors
from lbaas.services import policy
from lbaas.services.context import ADMIN_ROLES, RequestContext
from lbaas.services.env import ServiceEnv
from lbaas.services.tokens import Identity


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_env(request: Request) -> ServiceEnv:
    env: ServiceEnv = request.app.state.env
    return env


async def get_context(request: Request) -> RequestContext:
    """Who is asking, per the auth strategy (see ``lbaas.api.auth``).

    token / keystone: the identity the auth middleware validated (a request without one never gets here).
    noauth (Octavia's semantics): every caller is an administrator; the project is X-Project-Id (or
    X-Tenant-Id), else the configured default; a new object's project is the body's ``project_id`` first.
    """
    env: ServiceEnv = request.app.state.env
    strategy = env.settings.auth_strategy
    ident: Identity | None = request.scope.get(SCOPE_KEY)
    if ident is not None:
        return RequestContext(
            project_id=ident.project_id,
            is_admin=bool(ident.roles & ADMIN_ROLES),
            user_id=ident.user_id,
            roles=ident.roles,
            auth_strategy=strategy,
        )
    if strategy != "noauth":  # a route outside the middleware's reach must not fall back to noauth
        raise errors.Unauthorized(UNAUTHORIZED_MESSAGE)
    header = request.headers.get("x-project-id") or request.headers.get("x-tenant-id")
    return RequestContext(
        project_id=header or env.settings.default_project,
        is_admin=True,
        project_from_header=bool(header),
        user_id=request.headers.get("x-user-id") or None,
        roles=NOAUTH_ROLES,
        auth_strategy="noauth",
    )


NOAUTH_ROLES = frozenset({"admin"})
POLICY_FORBIDDEN = "Policy does not allow this request to be performed."


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
