"""Pool use-cases and Octavia's pool validation rules."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from lbaas.db import lifecycle
from lbaas.db import models as m
from lbaas.domain import errors
from lbaas.domain.enums import LISTENER_POOL_PROTOCOLS
from lbaas.services import policy as rbac
from lbaas.services.common import apply_fields, check_quota, load, nudge_after_commit, set_tags
from lbaas.services.context import RequestContext
from lbaas.services.env import ServiceEnv
from lbaas.services.listeners import check_tls_options

FIELDS = (
    "name", "description", "admin_state_up", "lb_algorithm", "session_persistence", "tls_enabled",
    "tls_container_ref", "ca_tls_container_ref", "crl_container_ref", "tls_ciphers", "tls_versions",
    "alpn_protocols",
)  # fmt: skip
DEFAULT_TLS_VERSIONS = ["TLSv1.2", "TLSv1.3"]
DEFAULT_ALPN = ["h2", "http/1.1", "http/1.0"]


def validate(pool: m.Pool) -> None:
    sp = pool.session_persistence
    if sp:
        sp_type = sp.get("type")
        if sp_type == "APP_COOKIE" and not sp.get("cookie_name"):
            raise errors.ValidationError("Field 'cookie_name' is required for session persistence type APP_COOKIE.")
        if sp_type != "APP_COOKIE" and sp.get("cookie_name"):
            raise errors.ValidationError(
                "Field 'cookie_name' can only be specified for session persistence type APP_COOKIE."
            )
        udp = pool.protocol in ("UDP", "SCTP")
        if not udp and (sp.get("persistence_timeout") is not None or sp.get("persistence_granularity")):
            raise errors.ValidationError(
                "persistence_timeout and persistence_granularity is only for UDP and SCTP protocol pools."
            )
        if udp and sp_type != "SOURCE_IP":
            raise errors.ValidationError(f"Session persistence of type {sp_type} is not supported for {pool.protocol}.")
    if pool.tls_enabled:
        check_tls_options(pool.tls_versions, pool.tls_ciphers)
    if pool.crl_container_ref and not pool.ca_tls_container_ref:
        raise errors.ValidationError("A CA reference is required to specify a certificate revocation list.")


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    sp = data.get("session_persistence")
    if isinstance(sp, dict):
        data["session_persistence"] = {
            "type": str(sp["type"]),
            "cookie_name": sp.get("cookie_name"),
            "persistence_timeout": sp.get("persistence_timeout"),
            "persistence_granularity": sp.get("persistence_granularity"),
        }
    if "lb_algorithm" in data and data["lb_algorithm"] is not None:
        data["lb_algorithm"] = str(data["lb_algorithm"])
    return data


def build(s: Session, lb: m.LoadBalancer, data: dict[str, Any]) -> m.Pool:
    data = _normalise(dict(data))
    pool = m.Pool(
        id=m.new_id(),
        project_id=lb.project_id,
        loadbalancer_id=lb.id,
        protocol=str(data["protocol"]),
        lb_algorithm=data["lb_algorithm"],
        provisioning_status="PENDING_CREATE",
        operating_status="OFFLINE",
        tls_enabled=False,
    )
    apply_fields(pool, {k: v for k, v in data.items() if v is not None}, FIELDS)
    if pool.tls_enabled:
        pool.tls_versions = pool.tls_versions or list(DEFAULT_TLS_VERSIONS)
        pool.alpn_protocols = pool.alpn_protocols or list(DEFAULT_ALPN)
    lb.pools.append(pool)
    validate(pool)
    set_tags(pool, data.get("tags"))
    return pool


def attach_to_listener(listener: m.Listener, pool: m.Pool) -> None:
    if listener.protocol == "PROMETHEUS":
        raise errors.ValidationError("Listeners of type PROMETHEUS cannot have pools.")
    if pool.protocol not in LISTENER_POOL_PROTOCOLS[listener.protocol]:
        raise errors.ValidationError(
            f"The pool protocol '{pool.protocol}' is invalid while the listener protocol is '{listener.protocol}'."
        )
    listener.default_pool = pool


def create(s: Session, ctx: RequestContext, env: ServiceEnv, data: dict[str, Any]) -> m.Pool:
    listener = None
    if data.get("listener_id"):
        listener = load(s, m.Listener, data["listener_id"], ctx, "Listener", rbac.POOL + rbac.POST)
    lb_id = data.get("loadbalancer_id") or (listener.loadbalancer_id if listener else None)
    if lb_id is None:
        raise errors.ValidationError("loadbalancer_id or listener_id must be specified.")
    lb = load(s, m.LoadBalancer, lb_id, ctx, "Load Balancer", rbac.POOL + rbac.POST)
    if listener is not None and listener.loadbalancer_id != lb.id:
        raise errors.ValidationError("Listener and pool must be on the same load balancer.")
    check_quota(s, lb.project_id, "pool", 1, env.settings.quota_defaults)
    lifecycle.cas_lock_lb(s, lb.id)
    if listener is not None and listener.default_pool_id:
        raise errors.Conflict(f"Listener {listener.id} is already using default pool {listener.default_pool_id}.")
    pool = build(s, lb, data)
    if listener is not None:
        attach_to_listener(listener, pool)
        lifecycle.mark(listener, "PENDING_UPDATE")
    s.flush()
    nudge_after_commit(s, lb.id)
    return pool


def update(s: Session, ctx: RequestContext, env: ServiceEnv, pool_id: str, data: dict[str, Any]) -> m.Pool:
    pool = load(s, m.Pool, pool_id, ctx, "Pool", rbac.POOL + rbac.PUT)
    lifecycle.cas_lock_lb(s, pool.loadbalancer_id)
    data = _normalise(dict(data))
    if "lb_algorithm" in data and data["lb_algorithm"] is None:
        raise errors.ValidationError("lb_algorithm cannot be null.")
    apply_fields(pool, data, FIELDS)
    validate(pool)
    set_tags(pool, data.get("tags"))
    lifecycle.mark(pool, "PENDING_UPDATE")
    nudge_after_commit(s, pool.loadbalancer_id)
    return pool


def delete(s: Session, ctx: RequestContext, pool_id: str) -> None:
    pool = load(s, m.Pool, pool_id, ctx, "Pool", rbac.POOL + rbac.DELETE)
    for policy in pool.l7policies:
        if policy.action == "REDIRECT_TO_POOL" and policy.provisioning_status != "PENDING_DELETE":
            raise errors.Conflict(f"Pool {pool.id} is in use by L7 policy {policy.id}")
    lifecycle.cas_lock_lb(s, pool.loadbalancer_id)
    lifecycle.mark(pool, "PENDING_DELETE")
    for member in pool.members:
        lifecycle.mark(member, "PENDING_DELETE")
    if pool.healthmonitor is not None:
        lifecycle.mark(pool.healthmonitor, "PENDING_DELETE")
    for listener in pool.listeners:
        lifecycle.mark(listener, "PENDING_UPDATE")
    nudge_after_commit(s, pool.loadbalancer_id)
