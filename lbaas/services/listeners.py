"""Listener use-cases and Octavia's listener validation rules."""

from __future__ import annotations

import ipaddress
import ssl
from typing import Any

from sqlalchemy.orm import Session

from lbaas.db import lifecycle
from lbaas.db import models as m
from lbaas.domain import errors
from lbaas.domain.enums import INSERT_HEADERS, LISTENER_POOL_PROTOCOLS, SSL_INSERT_HEADERS, l4_family
from lbaas.services import policy as rbac
from lbaas.services.common import apply_fields, check_quota, load, nudge_after_commit, set_tags
from lbaas.services.context import RequestContext
from lbaas.services.env import ServiceEnv

DEFAULT_TLS_VERSIONS = ["TLSv1.2", "TLSv1.3"]
DEFAULT_ALPN = ["h2", "http/1.1", "http/1.0"]
DEFAULT_CIPHERS = (
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256"
)
TIMEOUT_DEFAULTS = {
    "timeout_client_data": 50000,
    "timeout_member_connect": 5000,
    "timeout_member_data": 50000,
    "timeout_tcp_inspect": 0,
}
FIELDS = (
    "name", "description", "admin_state_up", "connection_limit", "default_tls_container_ref",
    "sni_container_refs", "client_ca_tls_container_ref", "client_authentication", "client_crl_container_ref",
    "insert_headers", "allowed_cidrs", "tls_ciphers", "tls_versions", "alpn_protocols", "hsts_max_age",
    "hsts_include_subdomains", "hsts_preload",
)  # fmt: skip
TLS_REFS = ("default_tls_container_ref", "sni_container_refs", "client_ca_tls_container_ref", "client_crl_container_ref")


def validate(lb: m.LoadBalancer, li: m.Listener) -> None:
    """Cross-field rules, checked on the final state of the row (create and update alike)."""
    proto = li.protocol
    terminated = proto == "TERMINATED_HTTPS"
    if terminated and not (li.default_tls_container_ref or li.sni_container_refs):
        raise errors.ValidationError(
            "An SNI or default certificate container reference must be provided for TERMINATED_HTTPS listeners."
        )
    if not terminated and proto != "PROMETHEUS":
        for ref in TLS_REFS:
            if getattr(li, ref):
                raise errors.ValidationError(
                    f"Certificate container references are only allowed on TERMINATED_HTTPS protocol listeners."
                    f" ({ref})"
                )
    if not terminated:
        if li.tls_ciphers or li.tls_versions or li.alpn_protocols:
            raise errors.ValidationError(
                "TLS cipher, version and ALPN options are only allowed on TERMINATED_HTTPS protocol listeners."
            )
        if li.hsts_max_age is not None or li.hsts_include_subdomains or li.hsts_preload:
            raise errors.ValidationError("HSTS can only be enabled on TERMINATED_HTTPS listeners.")
    if terminated:
        check_tls_options(li.tls_versions, li.tls_ciphers)
    if (li.hsts_include_subdomains or li.hsts_preload) and li.hsts_max_age is None:
        raise errors.ValidationError("hsts_include_subdomains and hsts_preload require hsts_max_age.")
    if li.client_authentication != "NONE" and not li.client_ca_tls_container_ref:
        raise errors.ValidationError("Client authentication setting requires a client CA container reference.")
    if li.client_crl_container_ref and not li.client_ca_tls_container_ref:
        raise errors.ValidationError("A client authentication CA reference is required to specify a CRL.")
    headers = li.insert_headers or {}
    if headers:
        if proto not in ("HTTP", "TERMINATED_HTTPS"):
            raise errors.ValidationError(
                f"The following headers are not valid for {proto} listeners: {', '.join(sorted(headers))}"
            )
        allowed = set(INSERT_HEADERS) | (set(SSL_INSERT_HEADERS) if terminated else set())
        bad = sorted(set(headers) - allowed)
        if bad:
            raise errors.ValidationError(f"Invalid insert_headers: {', '.join(bad)}")
    if li.allowed_cidrs:
        vip_version = ipaddress.ip_address(lb.vip_address).version if lb.vip_address else 4
        for cidr in li.allowed_cidrs:
            if ipaddress.ip_network(cidr, strict=False).version != vip_version:
                raise errors.ValidationError(
                    f"CIDR {cidr} IP version incompatible with all VIPs {lb.vip_address} IP version."
                )
    if proto == "PROMETHEUS" and (li.default_pool_id or li.l7policies):
        raise errors.ValidationError("Listeners of type PROMETHEUS cannot have pools or L7 policies.")


def check_tls_options(versions: list[str] | None, ciphers: str | None) -> None:
    """What HAProxy's OpenSSL will take: at least one TLS version besides SSLv3 (which OpenSSL 3 lacks),
    and a cipher string that selects at least one cipher (checked with the same library)."""
    if versions is not None and not set(versions) - {"SSLv3"}:
        raise errors.ValidationError("tls_versions must include a TLS version (SSLv3 is not supported).")
    if ciphers:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(ciphers)
        except ssl.SSLError as exc:
            raise errors.ValidationError(f"tls_ciphers {ciphers!r} selects no cipher this data plane supports.") from exc


def check_default_pool(lb: m.LoadBalancer, li: m.Listener, pool: m.Pool | None) -> None:
    """Same LB and a compatible protocol; a pool may be the default of several listeners (shared pools)."""
    if pool is None:
        return
    if pool.loadbalancer_id != lb.id:
        raise errors.ValidationError(f"Pool {pool.id} is not on load balancer {lb.id}.")
    if pool.protocol not in LISTENER_POOL_PROTOCOLS[li.protocol]:
        raise errors.ValidationError(
            f"The pool protocol '{pool.protocol}' is invalid while the listener protocol is '{li.protocol}'."
        )


def check_port_free(lb: m.LoadBalancer, li: m.Listener) -> None:
    for other in lb.listeners:
        if (
            other is not li
            and other.protocol_port == li.protocol_port
            and l4_family(other.protocol) == l4_family(li.protocol)
            and other.provisioning_status != "PENDING_DELETE"
        ):
            raise errors.Conflict(
                f"Another Listener on this Load Balancer is already using protocol {other.protocol} "
                f"and protocol_port {li.protocol_port}"
            )


def apply_defaults(li: m.Listener) -> None:
    for name, default in TIMEOUT_DEFAULTS.items():
        if getattr(li, name) is None:
            setattr(li, name, default)
    if li.protocol == "TERMINATED_HTTPS":
        li.tls_versions = li.tls_versions or list(DEFAULT_TLS_VERSIONS)
        li.alpn_protocols = li.alpn_protocols or list(DEFAULT_ALPN)
        li.tls_ciphers = li.tls_ciphers or DEFAULT_CIPHERS
    li.insert_headers = li.insert_headers or {}
    li.sni_container_refs = li.sni_container_refs or []


def build(s: Session, lb: m.LoadBalancer, data: dict[str, Any]) -> m.Listener:
    """A new listener row under ``lb`` (no locking, no default pool): shared by create and graph create."""
    li = m.Listener(
        id=m.new_id(),
        project_id=lb.project_id,
        loadbalancer_id=lb.id,
        protocol=str(data["protocol"]),
        protocol_port=data["protocol_port"],
        provisioning_status="PENDING_CREATE",
        operating_status="OFFLINE",
    )
    apply_fields(li, {k: v for k, v in data.items() if v is not None or k in ("name", "description")}, FIELDS)
    for name in TIMEOUT_DEFAULTS:
        setattr(li, name, data.get(name))
    if li.client_authentication is None:
        li.client_authentication = "NONE"
    apply_defaults(li)
    lb.listeners.append(li)
    check_port_free(lb, li)
    set_tags(li, data.get("tags"))
    return li


POST, PUT = rbac.LISTENER + rbac.POST, rbac.LISTENER + rbac.PUT


def create(s: Session, ctx: RequestContext, env: ServiceEnv, data: dict[str, Any]) -> m.Listener:
    lb = load(s, m.LoadBalancer, data["loadbalancer_id"], ctx, "Load Balancer", POST)
    check_quota(s, lb.project_id, "listener", 1, env.settings.quota_defaults)
    lifecycle.cas_lock_lb(s, lb.id)
    li = build(s, lb, data)
    if data.get("default_pool_id"):
        pool = load(s, m.Pool, data["default_pool_id"], ctx, "Pool", POST)
        check_default_pool(lb, li, pool)
        li.default_pool = pool
    validate(lb, li)
    s.flush()
    nudge_after_commit(s, lb.id)
    return li


def update(s: Session, ctx: RequestContext, env: ServiceEnv, listener_id: str, data: dict[str, Any]) -> m.Listener:
    li = load(s, m.Listener, listener_id, ctx, "Listener", PUT)
    lb = li.load_balancer
    lifecycle.cas_lock_lb(s, lb.id)
    for name in TIMEOUT_DEFAULTS:
        if name in data and data[name] is None:
            data[name] = TIMEOUT_DEFAULTS[name]
    apply_fields(li, data, FIELDS + tuple(TIMEOUT_DEFAULTS))
    if "default_pool_id" in data:
        pool = load(s, m.Pool, data["default_pool_id"], ctx, "Pool", PUT) if data["default_pool_id"] else None
        check_default_pool(lb, li, pool)
        li.default_pool = pool
    apply_defaults(li)
    validate(lb, li)
    set_tags(li, data.get("tags"))
    lifecycle.mark(li, "PENDING_UPDATE")
    s.flush()  # default_pool_id follows the default_pool relationship only on flush
    nudge_after_commit(s, lb.id)
    return li


def delete(s: Session, ctx: RequestContext, listener_id: str) -> None:
    li = load(s, m.Listener, listener_id, ctx, "Listener", rbac.LISTENER + rbac.DELETE)
    lifecycle.cas_lock_lb(s, li.loadbalancer_id)
    lifecycle.mark(li, "PENDING_DELETE")
    for policy in li.l7policies:
        lifecycle.mark(policy, "PENDING_DELETE")
        for rule in policy.rules:
            lifecycle.mark(rule, "PENDING_DELETE")
    nudge_after_commit(s, li.loadbalancer_id)
