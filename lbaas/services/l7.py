"""L7 policies and rules: action inference, contiguous positions, Octavia's rule validation."""

from __future__ import annotations

import re
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

MAX_RULES = 50
POLICY_FIELDS = ("name", "description", "admin_state_up")
RULE_FIELDS = ("type", "compare_type", "key", "value", "invert", "admin_state_up")
REDIRECT_FIELDS = {"redirect_pool_id": "REDIRECT_TO_POOL", "redirect_url": "REDIRECT_TO_URL", "redirect_prefix": "REDIRECT_PREFIX"}  # noqa: E501

HTTP_TOKEN = re.compile(r"^[a-zA-Z0-9!#$%&'*+.^_`|~-]+$")
HEADER_VALUE = re.compile(r'^(?:[\x21-\x7e]+|"(?:[\x20-\x7e]|\\")*")$')
COOKIE_VALUE = re.compile(r"^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$")
DN_FIELD = re.compile(r"^[a-zA-Z][A-Za-z0-9-]*$")
NO_SPACE = re.compile(r"^\S+$")


# --------------------------------------------------------------------------- policies


def sanitize_policy(policy: m.L7Policy, data: dict[str, Any]) -> None:
    """Infer the action from the redirect field given, refuse mixtures, clear what the action does not use."""
    given = [f for f in REDIRECT_FIELDS if data.get(f) is not None]
    if len(given) > 1:
        raise errors.ValidationError("Only one of redirect_pool_id, redirect_url, redirect_prefix may be given.")
    action = data.get("action")
    if action is None and given:
        action = REDIRECT_FIELDS[given[0]]
    if action is not None:
        policy.action = str(action)
    if policy.action is None:
        raise errors.ValidationError("An action is required for an L7 policy.")
    for f in REDIRECT_FIELDS:
        if f in data:
            setattr(policy, f, data[f])
    needed = {v: k for k, v in REDIRECT_FIELDS.items()}.get(policy.action)
    for f in REDIRECT_FIELDS:
        if f != needed:
            if data.get(f) is not None and action is not None and REDIRECT_FIELDS[f] != policy.action:
                raise errors.ValidationError(f"{f} is not valid for action {policy.action}.")
            setattr(policy, f, None)
    if needed and not getattr(policy, needed):
        raise errors.ValidationError(f"{needed} is required for action {policy.action}.")
    if policy.action in ("REDIRECT_TO_URL", "REDIRECT_PREFIX"):
        if data.get("redirect_http_code") is not None:
            policy.redirect_http_code = int(data["redirect_http_code"])
        policy.redirect_http_code = policy.redirect_http_code or 302
    else:
        policy.redirect_http_code = None


def _check_redirect_pool(listener: m.Listener, pool: m.Pool | None) -> None:
    if pool is None:
        return
    if pool.loadbalancer_id != listener.loadbalancer_id:
        raise errors.ValidationError(f"Pool {pool.id} is not on the load balancer of listener {listener.id}.")
    if pool.protocol not in LISTENER_POOL_PROTOCOLS[listener.protocol]:
        raise errors.ValidationError(
            f"The pool protocol '{pool.protocol}' is invalid while the listener protocol is '{listener.protocol}'."
        )


def _check_listener(listener: m.Listener) -> None:
    if listener.protocol not in ("HTTP", "TERMINATED_HTTPS"):
        raise errors.NotImplementedFeature(
            f"Provider does not support requested option: L7 policies on {listener.protocol} listeners "
            "(only HTTP and TERMINATED_HTTPS)."
        )


def _place(listener: m.Listener, policy: m.L7Policy, position: int | None) -> None:
    others = [p for p in listener.l7policies if p is not policy]
    index = len(others) if position is None else max(0, min(position - 1, len(others)))
    others.insert(index, policy)
    for i, p in enumerate(others, start=1):
        p.position = i
    listener.l7policies[:] = others


def build_policy(s: Session, listener: m.Listener, data: dict[str, Any], *, redirect_pool: m.Pool | None = None) -> m.L7Policy:
    _check_listener(listener)
    policy = m.L7Policy(
        id=m.new_id(),
        project_id=listener.project_id,
        listener_id=listener.id,
        provisioning_status="PENDING_CREATE",
        operating_status="OFFLINE",
        admin_state_up=True,
        position=0,
    )
    apply_fields(policy, {k: v for k, v in data.items() if v is not None}, POLICY_FIELDS)
    fields = dict(data)
    if redirect_pool is not None:
        fields["redirect_pool_id"] = redirect_pool.id
    sanitize_policy(policy, fields)
    if redirect_pool is not None and policy.action == "REDIRECT_TO_POOL":
        _check_redirect_pool(listener, redirect_pool)
    _place(listener, policy, data.get("position"))  # puts the policy in the session, via the listener
    if redirect_pool is not None and policy.action == "REDIRECT_TO_POOL":
        policy.redirect_pool = redirect_pool
    for rd in data.get("rules") or []:
        build_rule(policy, rd)
    set_tags(policy, data.get("tags"))
    return policy


def _lock_listener(s: Session, listener: m.Listener) -> None:
    lifecycle.cas_lock_lb(s, listener.loadbalancer_id)
    lifecycle.mark(listener, "PENDING_UPDATE")


def create_policy(s: Session, ctx: RequestContext, env: ServiceEnv, data: dict[str, Any]) -> m.L7Policy:
    listener = load(s, m.Listener, data["listener_id"], ctx, "Listener", rbac.L7POLICY + rbac.POST)
    check_quota(s, listener.project_id, "l7policy", 1, env.settings.quota_defaults)
    check_quota(s, listener.project_id, "l7rule", len(data.get("rules") or []), env.settings.quota_defaults)
    pool = load(s, m.Pool, data["redirect_pool_id"], ctx, "Pool", rbac.L7POLICY + rbac.POST) if data.get("redirect_pool_id") else None
    _lock_listener(s, listener)
    policy = build_policy(s, listener, data, redirect_pool=pool)
    s.flush()
    nudge_after_commit(s, listener.loadbalancer_id)
    return policy


def update_policy(s: Session, ctx: RequestContext, env: ServiceEnv, policy_id: str, data: dict[str, Any]) -> m.L7Policy:
    policy = load(s, m.L7Policy, policy_id, ctx, "L7 Policy", rbac.L7POLICY + rbac.PUT)
    listener = policy.listener
    pool = load(s, m.Pool, data["redirect_pool_id"], ctx, "Pool", rbac.L7POLICY + rbac.PUT) if data.get("redirect_pool_id") else None
    _lock_listener(s, listener)
    apply_fields(policy, data, POLICY_FIELDS)
    sanitize_policy(policy, data)
    if policy.action == "REDIRECT_TO_POOL":
        _check_redirect_pool(listener, pool or policy.redirect_pool)
    if "position" in data and data["position"] is not None:
        _place(listener, policy, data["position"])
    set_tags(policy, data.get("tags"))
    lifecycle.mark(policy, "PENDING_UPDATE")
    nudge_after_commit(s, listener.loadbalancer_id)
    return policy


def delete_policy(s: Session, ctx: RequestContext, policy_id: str) -> None:
    policy = load(s, m.L7Policy, policy_id, ctx, "L7 Policy", rbac.L7POLICY + rbac.DELETE)
    _lock_listener(s, policy.listener)
    lifecycle.mark(policy, "PENDING_DELETE")
    for rule in policy.rules:
        lifecycle.mark(rule, "PENDING_DELETE")
    nudge_after_commit(s, policy.listener.loadbalancer_id)


# --------------------------------------------------------------------------- rules


def validate_rule(rule: m.L7Rule) -> None:
    t, c, key, value = rule.type, rule.compare_type, rule.key, rule.value
    if t == "FILE_TYPE" and c not in ("REGEX", "EQUAL_TO"):
        raise errors.ValidationError("L7 rule type FILE_TYPE supports only REGEX and EQUAL_TO compare types.")
    if t in ("SSL_CONN_HAS_CERT", "SSL_VERIFY_RESULT") and c != "EQUAL_TO":
        raise errors.ValidationError(f"L7 rule type {t} supports only the EQUAL_TO compare type.")
    if t in ("HEADER", "COOKIE", "SSL_DN_FIELD"):
        if not key:
            raise errors.ValidationError(f"L7 rule type {t} needs a key.")
        if t == "SSL_DN_FIELD" and not DN_FIELD.match(key):
            raise errors.ValidationError(f"Invalid SSL DN field name {key!r}.")
        if t in ("HEADER", "COOKIE") and not HTTP_TOKEN.match(key):
            raise errors.ValidationError(f"Invalid {t.lower()} name {key!r}.")
    elif t in ("SSL_CONN_HAS_CERT", "SSL_VERIFY_RESULT") and key:
        raise errors.ValidationError(f"L7 rule type {t} does not use a key.")
    if c == "REGEX":
        try:
            re.compile(value)
        except re.error as exc:
            raise errors.ValidationError(f"Invalid regex {value!r}: {exc}") from None
        return
    if t == "SSL_CONN_HAS_CERT" and value.lower() != "true":
        raise errors.ValidationError("L7 rule type SSL_CONN_HAS_CERT only accepts the value true.")
    if t == "SSL_VERIFY_RESULT" and not value.isdigit():
        raise errors.ValidationError("L7 rule type SSL_VERIFY_RESULT needs a non-negative integer value.")
    if t == "HEADER" and not HEADER_VALUE.match(value):
        raise errors.ValidationError(f"Invalid header value {value!r}.")
    if t == "COOKIE" and not COOKIE_VALUE.match(value):
        raise errors.ValidationError(f"Invalid cookie value {value!r}.")
    if t in ("HOST_NAME", "PATH", "FILE_TYPE") and not NO_SPACE.match(value):
        raise errors.ValidationError(f"Invalid {t} value {value!r}: white space is not allowed.")


def build_rule(policy: m.L7Policy, data: dict[str, Any]) -> m.L7Rule:
    alive = [r for r in policy.rules if r.provisioning_status != "PENDING_DELETE"]
    if len(alive) >= MAX_RULES:
        raise errors.Conflict(f"Too many rules on L7 policy {policy.id}")
    rule = m.L7Rule(
        id=m.new_id(),
        project_id=policy.project_id,
        l7policy_id=policy.id,
        type=str(data["type"]),
        compare_type=str(data["compare_type"]),
        key=data.get("key"),
        value=data["value"],
        invert=bool(data.get("invert", False)),
        admin_state_up=data.get("admin_state_up", True) if data.get("admin_state_up") is not None else True,
        provisioning_status="PENDING_CREATE",
        operating_status="OFFLINE",
    )
    validate_rule(rule)
    policy.rules.append(rule)
    set_tags(rule, data.get("tags"))
    return rule


def _lock_policy(s: Session, policy: m.L7Policy) -> None:
    lifecycle.cas_lock_lb(s, policy.listener.loadbalancer_id)
    lifecycle.ensure_parent_active(policy, "L7 Policy")
    lifecycle.mark(policy, "PENDING_UPDATE")
    lifecycle.mark(policy.listener, "PENDING_UPDATE")


def get_rule(s: Session, ctx: RequestContext, policy_id: str, rule_id: str, action: str = rbac.GET_ONE) -> m.L7Rule:
    load(s, m.L7Policy, policy_id, ctx, "L7 Policy", rbac.L7RULE + action)
    rule = load(s, m.L7Rule, rule_id, ctx, "L7 Rule", rbac.L7RULE + action)
    if rule.l7policy_id != policy_id:
        raise errors.NotFound("L7 Rule", rule_id)
    return rule


def create_rule(s: Session, ctx: RequestContext, env: ServiceEnv, policy_id: str, data: dict[str, Any]) -> m.L7Rule:
    policy = load(s, m.L7Policy, policy_id, ctx, "L7 Policy", rbac.L7RULE + rbac.POST)
    check_quota(s, policy.project_id, "l7rule", 1, env.settings.quota_defaults)
    _lock_policy(s, policy)
    rule = build_rule(policy, data)
    s.flush()
    nudge_after_commit(s, policy.listener.loadbalancer_id)
    return rule


def update_rule(
    s: Session, ctx: RequestContext, env: ServiceEnv, policy_id: str, rule_id: str, data: dict[str, Any]
) -> m.L7Rule:
    rule = get_rule(s, ctx, policy_id, rule_id, rbac.PUT)
    _lock_policy(s, rule.l7policy)
    for k in ("type", "compare_type"):
        if data.get(k) is not None:
            data[k] = str(data[k])
    apply_fields(rule, {k: v for k, v in data.items() if v is not None or k == "key"}, RULE_FIELDS)
    validate_rule(rule)
    set_tags(rule, data.get("tags"))
    lifecycle.mark(rule, "PENDING_UPDATE")
    nudge_after_commit(s, rule.l7policy.listener.loadbalancer_id)
    return rule


def delete_rule(s: Session, ctx: RequestContext, policy_id: str, rule_id: str) -> None:
    rule = get_rule(s, ctx, policy_id, rule_id, rbac.DELETE)
    _lock_policy(s, rule.l7policy)
    lifecycle.mark(rule, "PENDING_DELETE")
    nudge_after_commit(s, rule.l7policy.listener.loadbalancer_id)
