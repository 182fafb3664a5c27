"""Health monitor use-cases and Octavia's monitor rules (one per pool; HTTP fields only for HTTP types)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from lbaas.db import lifecycle
from lbaas.db import models as m
from lbaas.domain import errors
from lbaas.domain.enums import POOL_HM_TYPES
from lbaas.services import policy as rbac
from lbaas.services.common import apply_fields, check_quota, load, nudge_after_commit, set_tags
from lbaas.services.context import RequestContext
from lbaas.services.env import ServiceEnv

HTTP_FIELDS = ("http_method", "url_path", "expected_codes", "http_version", "domain_name")
FIELDS = ("name", "admin_state_up", "delay", "timeout", "max_retries", "max_retries_down") + HTTP_FIELDS
UDP_CONNECT_MIN_DELAY = 3


def validate(pool: m.Pool, hm: m.HealthMonitor) -> None:
    if hm.type not in POOL_HM_TYPES.get(pool.protocol, frozenset()):
        raise errors.ValidationError(
            f"The associated pool protocol is {pool.protocol}, so only a "
            f"{', '.join(sorted(POOL_HM_TYPES.get(pool.protocol, ())))} health monitor is supported."
        )
    if hm.type in ("HTTP", "HTTPS"):
        hm.http_method = hm.http_method or "GET"
        hm.url_path = hm.url_path or "/"
        hm.expected_codes = hm.expected_codes or "200"
        if hm.domain_name and hm.http_version != 1.1:
            raise errors.ValidationError("http_version 1.1 is required when domain_name is set.")
    else:
        given = [f for f in HTTP_FIELDS if getattr(hm, f) is not None]
        if given:
            raise errors.ValidationError(f"{', '.join(given)} is not valid for {hm.type} health monitors.")
    if hm.type == "UDP-CONNECT" and hm.delay < UDP_CONNECT_MIN_DELAY:
        raise errors.ValidationError(
            f"The request delay value {hm.delay} should be larger than {UDP_CONNECT_MIN_DELAY} for UDP-CONNECT "
            "health monitor type."
        )


def build(s: Session, pool: m.Pool, data: dict[str, Any]) -> m.HealthMonitor:
    if pool.healthmonitor is not None and pool.healthmonitor.provisioning_status != "PENDING_DELETE":
        raise errors.Conflict("This pool already has a health monitor")
    hm = m.HealthMonitor(
        id=m.new_id(),
        project_id=pool.project_id,
        pool_id=pool.id,
        type=str(data["type"]),
        provisioning_status="PENDING_CREATE",
        operating_status="OFFLINE",
        max_retries_down=3,
        admin_state_up=True,
    )
    apply_fields(hm, {k: (str(v) if k == "http_method" and v else v) for k, v in data.items() if v is not None}, FIELDS)
    validate(pool, hm)
    if pool.healthmonitor is not None:  # the old one is PENDING_DELETE; replace it
        s.delete(pool.healthmonitor)
        s.flush()
    pool.healthmonitor = hm
    set_tags(hm, data.get("tags"))
    return hm


def _lock(s: Session, pool: m.Pool) -> None:
    lifecycle.cas_lock_lb(s, pool.loadbalancer_id)
    lifecycle.ensure_parent_active(pool, "Pool")
    lifecycle.mark(pool, "PENDING_UPDATE")
    for listener in pool.listeners:
        lifecycle.mark(listener, "PENDING_UPDATE")


def create(s: Session, ctx: RequestContext, env: ServiceEnv, data: dict[str, Any]) -> m.HealthMonitor:
    pool = load(s, m.Pool, data["pool_id"], ctx, "Pool", rbac.HEALTHMONITOR + rbac.POST)
    check_quota(s, pool.project_id, "healthmonitor", 1, env.settings.quota_defaults)
    if pool.healthmonitor is not None:
        raise errors.Conflict("This pool already has a health monitor")
    _lock(s, pool)
    hm = build(s, pool, data)
    s.flush()
    nudge_after_commit(s, pool.loadbalancer_id)
    return hm


def update(s: Session, ctx: RequestContext, env: ServiceEnv, hm_id: str, data: dict[str, Any]) -> m.HealthMonitor:
    hm = load(s, m.HealthMonitor, hm_id, ctx, "Health Monitor", rbac.HEALTHMONITOR + rbac.PUT)
    _lock(s, hm.pool)
    if data.get("http_method") is not None:
        data["http_method"] = str(data["http_method"])
    apply_fields(hm, data, FIELDS)
    validate(hm.pool, hm)
    set_tags(hm, data.get("tags"))
    lifecycle.mark(hm, "PENDING_UPDATE")
    nudge_after_commit(s, hm.pool.loadbalancer_id)
    return hm


def delete(s: Session, ctx: RequestContext, hm_id: str) -> None:
    hm = load(s, m.HealthMonitor, hm_id, ctx, "Health Monitor", rbac.HEALTHMONITOR + rbac.DELETE)
    _lock(s, hm.pool)
    lifecycle.mark(hm, "PENDING_DELETE")
    nudge_after_commit(s, hm.pool.loadbalancer_id)
