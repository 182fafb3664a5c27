"""Authorization with Octavia's policy, enforced by oslo.policy.

The rules below carry Octavia's names and default check strings (``octavia/policies/*.py`` and the
``RULE_*`` strings of ``octavia/common/constants.py``, Octavia commit 0e6ea11c2), so an operator's
Octavia ``policy.yaml`` works unchanged. Octavia's advanced-RBAC roles (``load-balancer_observer`` …)
are the deprecated forms of the keystone-default-role rules; with ``enforce_new_defaults`` off (our
default, as Octavia documents for its own defaults) oslo.policy accepts either: a rule passes when the
new check *or* the deprecated one does.

Every request is judged by :func:`authorize` with an Octavia rule name and the project of the object
(``{"project_id": ...}``), as Octavia's ``_auth_validate_action`` does. A refusal is
:class:`~lbaas.domain.errors.Forbidden` with Octavia's fault string.

oslo.policy needs an oslo.config ``ConfigOpts``: each :class:`Policy` has its own private instance
that reads no config file and searches no directory (no ``/etc`` lookups); the only file read is the
policy file the operator names.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

from oslo_config import cfg
from oslo_policy import policy as oslo_policy

from lbaas.domain import errors
from lbaas.services.context import RequestContext

FORBIDDEN = "Policy does not allow this request to be performed."

API = "os_load-balancer_api"
LOADBALANCER = f"{API}:loadbalancer:"
LISTENER = f"{API}:listener:"
POOL = f"{API}:pool:"
MEMBER = f"{API}:member:"
HEALTHMONITOR = f"{API}:healthmonitor:"
L7POLICY = f"{API}:l7policy:"
L7RULE = f"{API}:l7rule:"
QUOTA = f"{API}:quota:"
AMPHORA = f"{API}:amphora:"
PROVIDER = f"{API}:provider:"
PROVIDER_FLAVOR = f"{API}:provider-flavor:"
PROVIDER_AVAILABILITY_ZONE = f"{API}:provider-availability-zone:"
FLAVOR = f"{API}:flavor:"
FLAVOR_PROFILE = f"{API}:flavor-profile:"
AVAILABILITY_ZONE = f"{API}:availability-zone:"
AVAILABILITY_ZONE_PROFILE = f"{API}:availability-zone-profile:"

POST, PUT, DELETE = "post", "put", "delete"
PUT_CONFIG, PUT_FAILOVER = "put_config", "put_failover"
GET_ONE, GET_ALL, GET_ALL_GLOBAL = "get_one", "get_all", "get_all-global"
GET_DEFAULTS, GET_STATS, GET_STATUS = "get_defaults", "get_stats", "get_status"

RULE_API_ADMIN = "rule:load-balancer:admin"
RULE_API_READ = "rule:load-balancer:read"
RULE_API_READ_GLOBAL = "rule:load-balancer:read-global"
RULE_API_WRITE = "rule:load-balancer:write"
RULE_API_READ_QUOTA = "rule:load-balancer:read-quota"
RULE_API_READ_QUOTA_GLOBAL = "rule:load-balancer:read-quota-global"
RULE_API_WRITE_QUOTA = "rule:load-balancer:write-quota"
RULE_MEMBER_API_READ = f"{RULE_API_READ} or rule:service"

SCOPE = ["project"]
_REASON = (
    "The Octavia API now requires the OpenStack default roles and scoped tokens. "
    "See https://docs.openstack.org/octavia/latest/configuration/policy.html "
    "and https://docs.openstack.org/keystone/latest/contributor/services.html#reusable-default-roles "
    "for more information."
)
_SINCE = "W"  # Wallaby, as Octavia's versionutils.deprecated.WALLABY


def _deprecated(name: str, check_str: str) -> oslo_policy.DeprecatedRule:
    return oslo_policy.DeprecatedRule(
        name=name, check_str=check_str, deprecated_reason=_REASON, deprecated_since=_SINCE
    )


def _base(name: str, check_str: str, deprecated: oslo_policy.DeprecatedRule | None = None) -> oslo_policy.RuleDefault:
    return oslo_policy.RuleDefault(name=name, check_str=check_str, deprecated_rule=deprecated, scope_types=SCOPE)


# octavia/policies/base.py, keystone_default_roles.py, advanced_rbac.py
BASE_RULES: list[oslo_policy.RuleDefault] = [
    _base(
        "load-balancer:read",
        "rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer or "
        "rule:load-balancer:member_and_owner or rule:load-balancer:admin",
    ),
    _base("load-balancer:read-global", "rule:load-balancer:global_observer or rule:load-balancer:admin"),
    _base("load-balancer:write", "rule:load-balancer:member_and_owner or rule:load-balancer:admin"),
    _base(
        "load-balancer:read-quota",
        "rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer or "
        "rule:load-balancer:member_and_owner or rule:load-balancer:quota-admin or rule:load-balancer:admin",
    ),
    _base(
        "load-balancer:read-quota-global",
        "rule:load-balancer:global_observer or rule:load-balancer:quota-admin or rule:load-balancer:admin",
    ),
    _base("load-balancer:write-quota", "rule:load-balancer:quota-admin or rule:load-balancer:admin"),
    _base("project-member", "role:member and project_id:%(project_id)s"),
    _base("project-reader", "role:reader and project_id:%(project_id)s"),
    _base("context_is_admin", "role:admin", _deprecated("context_is_admin", "role:admin or role:load-balancer_admin")),
    _base(
        "load-balancer:admin",
        "is_admin:True or role:admin",
        _deprecated("load-balancer:admin", "is_admin:True or role:admin or role:load-balancer_admin"),
    ),
    _base("service", "role:service"),
    _base(
        "load-balancer:global_observer",
        "role:admin",
        _deprecated("load-balancer:global_observer", "role:load-balancer_global_observer"),
    ),
    _base(
        "load-balancer:member_and_owner",
        "rule:project-member",
        _deprecated("load-balancer:member_and_owner", "role:load-balancer_member and rule:load-balancer:owner"),
    ),
    _base(
        "load-balancer:observer_and_owner",
        "rule:project-reader",
        _deprecated("load-balancer:observer_and_owner", "role:load-balancer_observer and rule:load-balancer:owner"),
    ),
    _base(
        "load-balancer:quota-admin",
        "role:admin",
        _deprecated("load-balancer:quota-admin", "role:load-balancer_quota_admin"),
    ),
    _base("load-balancer:owner", "project_id:%(project_id)s"),
]

# (rule name, check string, description, [(method, path)]) for every API rule, in Octavia's order.
_API: list[tuple[str, str, str, list[tuple[str, str]]]] = []


def _add(prefix: str, action: str, check: str, description: str, method: str, path: str) -> None:
    _API.append((f"{prefix}{action}", check, description, [(method, path)]))


def _crud(
    prefix: str, noun: str, plural: str, path: str, one: str, *, read: str, write: str, global_: bool,
    list_read: str | None = None,
) -> None:
    _add(prefix, GET_ALL, list_read or read, f"List {plural}", "GET", path)
    if global_:
        _add(prefix, GET_ALL_GLOBAL, RULE_API_READ_GLOBAL, f"List {plural} including resources owned by others", "GET", path)
    _add(prefix, POST, write, f"Create a {noun}", "POST", path)
    _add(prefix, GET_ONE, read, f"Show {noun} details", "GET", f"{path}/{{{one}}}")
    _add(prefix, PUT, write, f"Update a {noun}", "PUT", f"{path}/{{{one}}}")
    _add(prefix, DELETE, write, f"Remove a {noun}", "DELETE", f"{path}/{{{one}}}")


_LB = "/v2/lbaas/loadbalancers"
_crud(LOADBALANCER, "Load Balancer", "Load Balancers", _LB, "loadbalancer_id", read=RULE_API_READ, write=RULE_API_WRITE, global_=True)
_add(LOADBALANCER, f"{POST}:vip_sg_ids", RULE_API_WRITE, "Create a Load Balancer with VIP Security Groups", "POST", _LB)
_add(LOADBALANCER, f"{PUT}:vip_sg_ids", RULE_API_WRITE, "Update the VIP Security Groups of a Load Balancer", "PUT", f"{_LB}/{{loadbalancer_id}}")
_add(LOADBALANCER, GET_STATS, RULE_API_READ, "Show Load Balancer statistics", "GET", f"{_LB}/{{loadbalancer_id}}/stats")
_add(LOADBALANCER, GET_STATUS, RULE_API_READ, "Show Load Balancer status", "GET", f"{_LB}/{{loadbalancer_id}}/status")
_add(LOADBALANCER, PUT_FAILOVER, RULE_API_ADMIN, "Failover a Load Balancer", "PUT", f"{_LB}/{{loadbalancer_id}}/failover")
_crud(LISTENER, "Listener", "Listeners", "/v2/lbaas/listeners", "listener_id", read=RULE_API_READ, write=RULE_API_WRITE, global_=True)
_add(LISTENER, GET_STATS, RULE_API_READ, "Show Listener statistics", "GET", "/v2/lbaas/listeners/{listener_id}/stats")
_crud(POOL, "Pool", "Pools", "/v2/lbaas/pools", "pool_id", read=RULE_API_READ, write=RULE_API_WRITE, global_=True)
_crud(MEMBER, "Member", "Members of a Pool", "/v2/lbaas/pools/{pool_id}/members", "member_id", read=RULE_API_READ, write=RULE_API_WRITE, global_=False,
      list_read=RULE_MEMBER_API_READ)  # member lists: Aodh's service user too
_crud(HEALTHMONITOR, "Health Monitor", "Health Monitors", "/v2/lbaas/healthmonitors", "healthmonitor_id", read=RULE_API_READ, write=RULE_API_WRITE, global_=True)
_crud(L7POLICY, "L7 Policy", "L7 Policys", "/v2/lbaas/l7policies", "l7policy_id", read=RULE_API_READ, write=RULE_API_WRITE, global_=True)
_crud(L7RULE, "L7 Rule", "L7 Rules", "/v2/lbaas/l7policies/{l7policy_id}/rules", "l7rule_id", read=RULE_API_READ, write=RULE_API_WRITE, global_=False)
_add(QUOTA, GET_ALL, RULE_API_READ_QUOTA, "List Quotas", "GET", "/v2/lbaas/quotas")
_add(QUOTA, GET_ALL_GLOBAL, RULE_API_READ_QUOTA_GLOBAL, "List Quotas including resources owned by others", "GET", "/v2/lbaas/quotas")
_add(QUOTA, GET_ONE, RULE_API_READ_QUOTA, "Show Quota details", "GET", "/v2/lbaas/quotas/{project_id}")
_add(QUOTA, PUT, RULE_API_WRITE_QUOTA, "Update a Quota", "PUT", "/v2/lbaas/quotas/{project_id}")
_add(QUOTA, DELETE, RULE_API_WRITE_QUOTA, "Reset a Quota", "DELETE", "/v2/lbaas/quotas/{project_id}")
_add(QUOTA, GET_DEFAULTS, RULE_API_READ_QUOTA, "Show Default Quota for a Project", "GET", "/v2/lbaas/quotas/{project_id}/default")
_AMP = "/v2/octavia/amphorae"
_add(AMPHORA, GET_ALL, RULE_API_ADMIN, "List Amphorae", "GET", _AMP)
_add(AMPHORA, GET_ONE, RULE_API_ADMIN, "Show Amphora details", "GET", f"{_AMP}/{{amphora_id}}")
_add(AMPHORA, DELETE, RULE_API_ADMIN, "Delete an Amphora", "DELETE", f"{_AMP}/{{amphora_id}}")
_add(AMPHORA, PUT_CONFIG, RULE_API_ADMIN, "Update Amphora Agent Configuration", "PUT", f"{_AMP}/{{amphora_id}}/config")
_add(AMPHORA, PUT_FAILOVER, RULE_API_ADMIN, "Failover Amphora", "PUT", f"{_AMP}/{{amphora_id}}/failover")
_add(AMPHORA, GET_STATS, RULE_API_ADMIN, "Show Amphora statistics", "GET", f"{_AMP}/{{amphora_id}}/stats")
_add(PROVIDER, GET_ALL, RULE_API_READ, "List enabled providers", "GET", "/v2/lbaas/providers")
_add(PROVIDER_FLAVOR, GET_ALL, RULE_API_ADMIN, "List the provider flavor capabilities.", "GET", "/v2/lbaas/providers/{provider}/flavor_capabilities")
_add(PROVIDER_AVAILABILITY_ZONE, GET_ALL, RULE_API_ADMIN, "List the provider availability zone capabilities.", "GET", "/v2/lbaas/providers/{provider}/availability_zone_capabilities")


def _admin_or_read(prefix: str, noun: str, plural: str, path: str, one: str, read: str) -> None:
    _add(prefix, GET_ALL, read, f"List {plural}", "GET", path)
    _add(prefix, POST, RULE_API_ADMIN, f"Create {noun}", "POST", path)
    _add(prefix, PUT, RULE_API_ADMIN, f"Update {noun}", "PUT", f"{path}/{{{one}}}")
    _add(prefix, GET_ONE, read, f"Show {noun[2:] if noun.startswith('a ') else noun[3:]} details", "GET", f"{path}/{{{one}}}")
    _add(prefix, DELETE, RULE_API_ADMIN, f"Remove {noun}", "DELETE", f"{path}/{{{one}}}")


_admin_or_read(FLAVOR, "a Flavor", "Flavors", "/v2.0/lbaas/flavors", "flavor_id", RULE_API_READ)
_admin_or_read(FLAVOR_PROFILE, "a Flavor Profile", "Flavor Profiles", "/v2.0/lbaas/flavorprofiles", "flavor_profile_id", RULE_API_ADMIN)
_admin_or_read(AVAILABILITY_ZONE, "an Availability Zone", "Availability Zones", "/v2.0/lbaas/availabilityzones", "availability_zone_id", RULE_API_READ)
_admin_or_read(AVAILABILITY_ZONE_PROFILE, "an Availability Zone", "Availability Zones", "/v2.0/lbaas/availabilityzoneprofiles", "availability_zone_profile_id", RULE_API_ADMIN)

API_RULES: list[oslo_policy.DocumentedRuleDefault] = [
    oslo_policy.DocumentedRuleDefault(
        name=name, check_str=check, description=description,
        operations=[{"method": method, "path": path} for method, path in ops], scope_types=SCOPE,
    )
    for name, check, description, ops in _API
]  # fmt: skip

# Our own extensions under /v2/octavia/ (agents, failover breaker): not in Octavia, admin only.
EXTENSION_ADMIN = f"{API}:octavia-extension:admin"
EXTENSION_RULES: list[oslo_policy.DocumentedRuleDefault] = [
    oslo_policy.DocumentedRuleDefault(
        name=EXTENSION_ADMIN, check_str=RULE_API_ADMIN,
        description="lbaas operator extensions: agents and the failover circuit breaker",
        operations=[{"method": "GET", "path": "/v2/octavia/agents"}, {"method": "GET", "path": "/v2/octavia/failover_breaker"}],
        scope_types=SCOPE,
    )
]  # fmt: skip


def list_rules() -> list[oslo_policy.RuleDefault]:
    return [*BASE_RULES, *API_RULES, *EXTENSION_RULES]


@oslo_policy.register("is_admin")
class IsAdminCheck(oslo_policy.Check):
    """``is_admin:True``: the caller's context is an administrator's (Octavia's own check kind)."""

    def __init__(self, kind: str, match: str) -> None:
        self.expected = match.lower() == "true"
        super().__init__(kind, str(self.expected))

    def __call__(self, target: Any, creds: MutableMapping[str, Any], enforcer: Any, current_rule: Any = None) -> bool:
        return bool(creds.get("is_admin")) == self.expected


class _Enforcer(oslo_policy.Enforcer):
    """oslo.policy's Enforcer that reads only the policy file it is given, by absolute path: it never
    searches ~/.lbaas, /etc/lbaas or /etc for a ``policy.yaml`` or a ``policy.d``."""

    def __init__(self, conf: cfg.ConfigOpts, policy_file: str | None) -> None:
        super().__init__(conf, policy_file=policy_file or "", use_conf=True)
        self._only_file = policy_file

    def _get_policy_path(self, path: str) -> str:
        if self._only_file and path == self._only_file:
            return self._only_file
        raise cfg.ConfigFilesNotFoundError([path])


MEMO_SIZE = 65536


class Policy:
    """An oslo.policy Enforcer with Octavia's defaults and, optionally, an operator's policy file."""

    def __init__(self, policy_file: str | Path | None = None, *, enforce_new_defaults: bool = False) -> None:
        conf = cfg.ConfigOpts()
        conf(args=[], project="lbaas", default_config_files=[], default_config_dirs=[], use_env=False)
        self.policy_file = str(Path(policy_file).resolve()) if policy_file else None
        if self.policy_file is not None and not Path(self.policy_file).is_file():
            raise ValueError(f"policy file {self.policy_file} does not exist")
        self.enforcer = _Enforcer(conf, self.policy_file)
        conf.set_override("policy_dirs", [], group="oslo_policy")
        conf.set_override("enforce_new_defaults", enforce_new_defaults, group="oslo_policy")
        self.enforcer.suppress_deprecation_warnings = True
        self.enforcer.suppress_default_change_warnings = True
        self.enforcer.register_defaults(list_rules())
        self.enforcer.load_rules()  # a broken policy file fails here, at start, not on the first request
        # Decisions, memoized: oslo.policy spends ~0.3 ms per check it evaluates (it inspects each check's
        # signature every time), a few ms for a member's read, on every request. A decision depends only
        # on the rules and on what goes into the credentials and the target, which is the key; the memo
        # is dropped when the policy file changes (oslo.policy then reloads it on the next check).
        self._memo: dict[tuple[Any, ...], bool] = {}
        self._mtime = self._file_mtime()

    def _file_mtime(self) -> int | None:
        if self.policy_file is None:
            return None
        try:
            return os.stat(self.policy_file).st_mtime_ns
        except OSError:
            return -1

    def credentials(self, ctx: RequestContext) -> dict[str, Any]:
        roles = sorted(ctx.roles)
        creds: dict[str, Any] = {
            "user_id": ctx.user_id,
            "project_id": ctx.project_id,
            "roles": roles,
            "is_admin": ctx.is_admin,
            "system_scope": None,
            "domain_id": None,
            "user_domain_id": None,
            "project_domain_id": None,
            "is_admin_project": True,
            "service_user_id": None,
            "service_roles": [],
        }
        if not ctx.is_admin:  # Octavia: is_admin = context_is_admin passes (or noauth)
            creds["is_admin"] = bool(self.enforcer.enforce("context_is_admin", {}, creds))
        return creds

    def allowed(self, ctx: RequestContext, rule: str, project_id: str | None) -> bool:
        mtime = self._file_mtime()
        if mtime != self._mtime:
            self._memo.clear()
            self._mtime = mtime
        key = (rule, project_id, ctx.project_id, ctx.user_id, ctx.roles, ctx.is_admin)
        decision = self._memo.get(key)
        if decision is None:
            creds = self.credentials(ctx)
            decision = bool(self.enforcer.authorize(rule, {"project_id": project_id}, creds, do_raise=False))
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = decision
        return decision

    def authorize(self, ctx: RequestContext, rule: str, project_id: str | None) -> None:
        if not self.allowed(ctx, rule, project_id):
            raise errors.Forbidden(FORBIDDEN)


_current: Policy | None = None


def install(policy: Policy) -> None:
    """Make ``policy`` the process's policy (the API app does this at start, from its settings)."""
    global _current
    _current = policy


def current() -> Policy:
    global _current
    if _current is None:
        _current = Policy()
    return _current


def authorize(ctx: RequestContext, rule: str, project_id: str | None) -> None:
    """403 (Octavia's fault) unless ``rule`` allows ``ctx`` on an object of ``project_id``."""
    current().authorize(ctx, rule, project_id)


def allowed(ctx: RequestContext, rule: str, project_id: str | None) -> bool:
    return current().allowed(ctx, rule, project_id)


def list_scope(ctx: RequestContext, prefix: str, requested: Iterable[str] = ()) -> list[str] | None:
    """Which projects a list may show (None: every project), as Octavia's ``_auth_get_all``.

    A caller allowed ``<prefix>get_all-global`` sees every project (or those it filters on); anyone else
    sees one project, its own unless it names another, and needs ``<prefix>get_all`` on it.
    """
    wanted = [p for p in requested if p]
    if allowed(ctx, f"{prefix}{GET_ALL_GLOBAL}", wanted[0] if len(wanted) == 1 else None):
        return wanted or None
    projects = wanted or [ctx.project_id]
    for project in projects:
        authorize(ctx, f"{prefix}{GET_ALL}", project)
    return projects


def is_admin(ctx: RequestContext) -> bool:
    """Whether the caller is an administrator (``context_is_admin``, or an admin context)."""
    return bool(current().credentials(ctx)["is_admin"])
