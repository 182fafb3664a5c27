"""Helpers every use-case shares: visible-or-404 loads, quota checks, after-commit nudges, tags."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lbaas.db import models as m
from lbaas.db.lifecycle import lock_project_quota
from lbaas.db.session import nudge_after_commit
from lbaas.domain import errors
from lbaas.services import policy
from lbaas.services.context import RequestContext

T = TypeVar("T")

__all__ = ["apply_fields", "check_quota", "load", "nudge_after_commit", "set_tags"]

RBAC_PREFIX: dict[type[Any], str] = {
    m.LoadBalancer: policy.LOADBALANCER,
    m.Listener: policy.LISTENER,
    m.Pool: policy.POOL,
    m.Member: policy.MEMBER,
    m.HealthMonitor: policy.HEALTHMONITOR,
    m.L7Policy: policy.L7POLICY,
    m.L7Rule: policy.L7RULE,
}


def load(s: Session, model: type[T], ident: str, ctx: RequestContext, resource: str, rule: str | None = None) -> T:
    """The row, if it exists and is not deleted (else 404), and the policy lets the caller act on it
    (else 403, as Octavia: the object's project is the target). ``rule`` is the Octavia rule of the
    request (``…:listener:post`` when a listener is created on this load balancer); by default
    ``get_one`` of the row's own type. A row of a type without Octavia rules is its project's (or an
    admin's) only."""
    obj = s.get(model, ident)
    if obj is None or getattr(obj, "provisioning_status", None) == "DELETED":
        raise errors.NotFound(resource, ident)
    project_id = getattr(obj, "project_id", None)
    if rule is None and model not in RBAC_PREFIX:  # no Octavia rule for it: its project's, or an admin's
        if not (policy.is_admin(ctx) or project_id == ctx.project_id):
            raise errors.Forbidden(policy.FORBIDDEN)
        return obj
    policy.authorize(ctx, rule or f"{RBAC_PREFIX[model]}{policy.GET_ONE}", project_id)
    return obj


def set_tags(obj: Any, tags: list[str] | None) -> None:
    if tags is not None:
        obj.tags = list(dict.fromkeys(tags))


def apply_fields(obj: Any, data: dict[str, Any], fields: tuple[str, ...]) -> None:
    for name in fields:
        if name in data:
            setattr(obj, name, data[name])


QUOTA_MODELS: dict[str, Any] = {
    "loadbalancer": m.LoadBalancer,
    "listener": m.Listener,
    "pool": m.Pool,
    "member": m.Member,
    "healthmonitor": m.HealthMonitor,
    "l7policy": m.L7Policy,
    "l7rule": m.L7Rule,
}


def check_quota(s: Session, project_id: str, resource: str, adding: int, defaults: dict[str, int]) -> None:
    """403 when adding ``adding`` objects of ``resource`` would exceed the project's quota (-1: unlimited)."""
    if adding <= 0:
        return
    row = s.get(m.Quota, project_id)
    limit = getattr(row, resource, None) if row is not None else None
    if limit is None:
        limit = defaults.get(resource, -1)
    if limit < 0:
        return
    lock_project_quota(s, project_id)  # held until commit: no concurrent create passes the same count
    model = QUOTA_MODELS[resource]
    used = s.scalar(
        select(func.count())
        .select_from(model)
        .where(model.project_id == project_id, model.provisioning_status != "DELETED")
    )
    if (used or 0) + adding > limit:
        raise errors.QuotaExceeded(resource)
