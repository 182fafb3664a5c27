"""Per-project quota records: read the effective limits, set some, reset to the defaults.

A record stores only what an operator set; a null column means "the configured default", so
changing a default in the settings reaches every project that never overrode it. Enforcement is
``common.check_quota``; this module only manages the limits.

Octavia still accepts the misspelled ``load_balancer`` and ``health_monitor`` keys; when a body has
both spellings the current one wins.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas.db import models as m
from lbaas.domain import errors
from lbaas.services import policy as rbac
from lbaas.services.context import RequestContext

KEYS = ("loadbalancer", "listener", "member", "pool", "healthmonitor", "l7policy", "l7rule")
ALIASES = {"load_balancer": "loadbalancer", "health_monitor": "healthmonitor"}


def defaults(settings_defaults: dict[str, int]) -> dict[str, int]:
    return {k: int(settings_defaults.get(k, -1)) for k in KEYS}


def effective(row: m.Quota | None, settings_defaults: dict[str, int]) -> dict[str, int]:
    base = defaults(settings_defaults)
    if row is None:
        return base
    return {k: v if (v := getattr(row, k)) is not None else base[k] for k in KEYS}


def check_project(ctx: RequestContext, project_id: str, action: str = rbac.GET_ONE) -> None:
    """Octavia's quota rules: read-quota for one's own project, quota admins and global observers for any."""
    rbac.authorize(ctx, rbac.QUOTA + action, project_id)


def get(s: Session, ctx: RequestContext, project_id: str, settings_defaults: dict[str, int]) -> dict[str, int]:
    """A project's effective quotas, if the policy lets the caller read them."""
    check_project(ctx, project_id)
    return effective(s.get(m.Quota, project_id), settings_defaults)


def list_records(
    s: Session, ctx: RequestContext, project_ids: list[str], settings_defaults: dict[str, int]
) -> list[tuple[str, dict[str, int]]]:
    """Projects that have a quota record, within what the policy lets the caller list (Octavia's
    quota ``get_all`` / ``get_all-global``)."""
    stmt = select(m.Quota).order_by(m.Quota.project_id)
    projects = rbac.list_scope(ctx, rbac.QUOTA, project_ids)
    if projects is not None:
        stmt = stmt.where(m.Quota.project_id.in_(projects))
    return [(row.project_id, effective(row, settings_defaults)) for row in s.scalars(stmt)]


def normalise(data: dict[str, Any]) -> dict[str, int | None]:
    """Fold the deprecated spellings into the current keys (the current spelling wins)."""
    out: dict[str, int | None] = {}
    for old, new in ALIASES.items():
        if old in data:
            out[new] = data[old]
    for k in KEYS:
        if k in data:
            out[k] = data[k]
    return out


def update(
    s: Session, project_id: str, data: dict[str, Any], settings_defaults: dict[str, int]
) -> dict[str, int]:
    """Set the given limits (null: back to the default); limits not mentioned stay as they are."""
    if not project_id or len(project_id) > 255:
        raise errors.ValidationError("A valid project_id is required.")
    row = s.get(m.Quota, project_id)
    if row is None:
        row = m.Quota(project_id=project_id)
        s.add(row)
    for k, v in normalise(data).items():
        setattr(row, k, v)
    s.flush()
    return effective(row, settings_defaults)


def reset(s: Session, project_id: str) -> None:
    """Forget every override: the project is back on the defaults (a no-op when it had none)."""
    row = s.get(m.Quota, project_id)
    if row is not None:
        s.delete(row)
