"""The policy's rule defaults are Octavia's (names and check strings, transcribed from Octavia's
``octavia/policies/*.py`` at commit 0e6ea11c2), the deprecated advanced-RBAC forms are kept, and a
policy file is read from where the operator says and from nowhere else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lbaas.services import policy as rbac
from lbaas.services.context import RequestContext

READ, READ_GLOBAL, WRITE = "rule:load-balancer:read", "rule:load-balancer:read-global", "rule:load-balancer:write"
ADMIN = "rule:load-balancer:admin"
QREAD, QREAD_GLOBAL, QWRITE = (
    "rule:load-balancer:read-quota", "rule:load-balancer:read-quota-global", "rule:load-balancer:write-quota",
)  # fmt: skip


def _crud(noun: str, read: str, write: str, *, global_: bool = True) -> dict[str, str]:
    out = {f"{noun}:get_all": read, f"{noun}:post": write, f"{noun}:get_one": read, f"{noun}:put": write,
           f"{noun}:delete": write}  # fmt: skip
    if global_:
        out[f"{noun}:get_all-global"] = READ_GLOBAL
    return out


# Octavia's API rules, written out by hand from its source (not generated from ours).
OCTAVIA_API = {
    **_crud("loadbalancer", READ, WRITE),
    "loadbalancer:post:vip_sg_ids": WRITE, "loadbalancer:put:vip_sg_ids": WRITE,
    "loadbalancer:get_stats": READ, "loadbalancer:get_status": READ, "loadbalancer:put_failover": ADMIN,
    **_crud("listener", READ, WRITE), "listener:get_stats": READ,
    **_crud("pool", READ, WRITE),
    **_crud("member", READ, WRITE, global_=False), "member:get_all": f"{READ} or rule:service",
    **_crud("healthmonitor", READ, WRITE),
    **_crud("l7policy", READ, WRITE),
    **_crud("l7rule", READ, WRITE, global_=False),
    "quota:get_all": QREAD, "quota:get_all-global": QREAD_GLOBAL, "quota:get_one": QREAD, "quota:put": QWRITE,
    "quota:delete": QWRITE, "quota:get_defaults": QREAD,
    "amphora:get_all": ADMIN, "amphora:get_one": ADMIN, "amphora:delete": ADMIN, "amphora:put_config": ADMIN,
    "amphora:put_failover": ADMIN, "amphora:get_stats": ADMIN,
    "provider:get_all": READ, "provider-flavor:get_all": ADMIN, "provider-availability-zone:get_all": ADMIN,
    **_crud("flavor", READ, ADMIN, global_=False),
    **_crud("flavor-profile", ADMIN, ADMIN, global_=False),
    **_crud("availability-zone", READ, ADMIN, global_=False),
    **_crud("availability-zone-profile", ADMIN, ADMIN, global_=False),
}  # fmt: skip

# (check string, deprecated check string or None) of Octavia's base rules.
OCTAVIA_BASE = {
    "load-balancer:read": ("rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer or "
                           "rule:load-balancer:member_and_owner or rule:load-balancer:admin", None),
    "load-balancer:read-global": ("rule:load-balancer:global_observer or rule:load-balancer:admin", None),
    "load-balancer:write": ("rule:load-balancer:member_and_owner or rule:load-balancer:admin", None),
    "load-balancer:read-quota": ("rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer or "
                                 "rule:load-balancer:member_and_owner or rule:load-balancer:quota-admin or "
                                 "rule:load-balancer:admin", None),
    "load-balancer:read-quota-global": ("rule:load-balancer:global_observer or rule:load-balancer:quota-admin or "
                                        "rule:load-balancer:admin", None),
    "load-balancer:write-quota": ("rule:load-balancer:quota-admin or rule:load-balancer:admin", None),
    "project-member": ("role:member and project_id:%(project_id)s", None),
    "project-reader": ("role:reader and project_id:%(project_id)s", None),
    "context_is_admin": ("role:admin", "role:admin or role:load-balancer_admin"),
    "load-balancer:admin": ("is_admin:True or role:admin", "is_admin:True or role:admin or role:load-balancer_admin"),
    "service": ("role:service", None),
    "load-balancer:global_observer": ("role:admin", "role:load-balancer_global_observer"),
    "load-balancer:member_and_owner": ("rule:project-member",
                                       "role:load-balancer_member and rule:load-balancer:owner"),
    "load-balancer:observer_and_owner": ("rule:project-reader",
                                         "role:load-balancer_observer and rule:load-balancer:owner"),
    "load-balancer:quota-admin": ("role:admin", "role:load-balancer_quota_admin"),
    "load-balancer:owner": ("project_id:%(project_id)s", None),
}  # fmt: skip


def test_api_rules_are_octavias() -> None:
    ours = {r.name.removeprefix("os_load-balancer_api:"): r.check_str for r in rbac.API_RULES}
    assert ours == OCTAVIA_API
    assert all(r.name.startswith("os_load-balancer_api:") for r in rbac.API_RULES)
    assert all(r.operations and r.description for r in rbac.API_RULES)


def test_base_rules_and_deprecations_are_octavias() -> None:
    ours = {
        r.name: (r.check_str, r.deprecated_rule.check_str if r.deprecated_rule is not None else None)
        for r in rbac.BASE_RULES
    }
    assert ours == OCTAVIA_BASE


def ctx(*roles: str, project: str = "p1", is_admin: bool = False) -> RequestContext:
    return RequestContext(project_id=project, is_admin=is_admin, roles=frozenset(roles))


LB_GET = rbac.LOADBALANCER + rbac.GET_ONE
LB_POST = rbac.LOADBALANCER + rbac.POST


@pytest.mark.parametrize(
    ("who", "rule", "target", "allowed"),
    [
        (ctx("load-balancer_observer"), LB_GET, "p1", True),
        (ctx("load-balancer_observer"), LB_POST, "p1", False),
        (ctx("load-balancer_member"), LB_POST, "p1", True),
        (ctx("load-balancer_member"), LB_GET, "p2", False),
        (ctx("reader"), LB_GET, "p1", True),
        (ctx("member"), LB_POST, "p1", True),
        (ctx("member"), LB_POST, "p2", False),
        (ctx("load-balancer_global_observer"), LB_GET, "p2", True),
        (ctx("load-balancer_global_observer"), LB_POST, "p1", False),
        (ctx("load-balancer_quota_admin"), rbac.QUOTA + rbac.PUT, "p2", True),
        (ctx("load-balancer_quota_admin"), LB_GET, "p1", False),
        (ctx("load-balancer_admin"), rbac.AMPHORA + rbac.GET_ALL, "p1", True),
        (ctx("admin"), LB_GET, "p2", True),
        (ctx(), LB_GET, "p1", False),
        (ctx(is_admin=True), rbac.LOADBALANCER + rbac.PUT_FAILOVER, "p2", True),  # is_admin:True (noauth)
        (ctx("load-balancer_member"), rbac.EXTENSION_ADMIN, "p1", False),
    ],
)
def test_defaults_accept_octavias_roles_and_keystones(
    who: RequestContext, rule: str, target: str, allowed: bool
) -> None:
    assert rbac.Policy().allowed(who, rule, target) is allowed


def test_new_defaults_only_drop_the_advanced_rbac_roles() -> None:
    strict = rbac.Policy(enforce_new_defaults=True)
    assert not strict.allowed(ctx("load-balancer_member"), LB_POST, "p1")
    assert strict.allowed(ctx("member"), LB_POST, "p1")


def test_an_octavia_policy_file_overrides_the_defaults(tmp_path: Path) -> None:
    f = tmp_path / "policy.yaml"
    f.write_text('"os_load-balancer_api:loadbalancer:post": "role:lb-creator"\n"load-balancer:read": "!"\n')
    pol = rbac.Policy(f)
    assert pol.allowed(ctx("lb-creator"), LB_POST, "p2")
    assert not pol.allowed(ctx("load-balancer_member"), LB_POST, "p1")
    assert not pol.allowed(ctx("admin"), LB_GET, "p1")  # read is "!" now: nobody
    assert pol.allowed(ctx("admin"), rbac.AMPHORA + rbac.GET_ALL, "p1")  # untouched rules keep their defaults


def test_missing_or_broken_policy_file_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        rbac.Policy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("{not: [yaml")
    with pytest.raises(Exception):  # noqa: B017 - oslo.policy's parse error, whatever its class
        rbac.Policy(bad)


def test_no_policy_file_is_read_from_home_or_etc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """oslo.config would search ~/.lbaas, ~ and /etc/lbaas for policy.yaml and policy.d: ours does not."""
    deny = '"load-balancer:read": "!"\n'
    for d in (tmp_path / ".lbaas", tmp_path, tmp_path / ".lbaas" / "policy.d", tmp_path / "policy.d"):
        d.mkdir(parents=True, exist_ok=True)
        (d / "policy.yaml").write_text(deny)
        (d / "policy.json").write_text('{"load-balancer:read": "!"}')
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert rbac.Policy().allowed(ctx("admin"), LB_GET, "p1")


def test_a_changed_policy_file_takes_effect_without_restart(tmp_path: Path) -> None:
    f = tmp_path / "policy.yaml"
    f.write_text('"os_load-balancer_api:loadbalancer:post": "role:lb-creator"\n')
    pol = rbac.Policy(f)
    assert pol.allowed(ctx("lb-creator"), LB_POST, "p1")
    assert pol.allowed(ctx("lb-creator"), LB_POST, "p1")  # (memoized)
    f.write_text('"os_load-balancer_api:loadbalancer:post": "role:someone-else"\n')
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert not pol.allowed(ctx("lb-creator"), LB_POST, "p1")
    assert pol.allowed(ctx("someone-else"), LB_POST, "p1")


def test_an_admin_or_owner_style_file_works_unchanged(tmp_path: Path) -> None:
    """Octavia's legacy "admin or owner" override (its etc/policy/admin_or_owner-policy.yaml): any user of
    a project manages that project's load balancers, admins everything; the rules it defines itself
    (``admin_or_owner``) and Octavia's own ``is_admin`` check kind resolve."""
    f = tmp_path / "policy.yaml"
    f.write_text(
        '"context_is_admin": "role:admin or role:load-balancer_admin"\n'
        '"admin_or_owner": "is_admin:True or project_id:%(project_id)s"\n'
        '"load-balancer:read": "rule:admin_or_owner"\n'
        '"load-balancer:read-global": "is_admin:True"\n'
        '"load-balancer:write": "rule:admin_or_owner"\n'
        '"load-balancer:write-quota": "is_admin:True"\n'
    )
    pol = rbac.Policy(f)
    anyone = ctx()  # no role at all
    assert pol.allowed(anyone, LB_POST, "p1") and pol.allowed(anyone, LB_GET, "p1")
    assert not pol.allowed(anyone, LB_GET, "p2")
    assert not pol.allowed(anyone, rbac.LOADBALANCER + rbac.GET_ALL_GLOBAL, None)
    assert pol.allowed(ctx("load-balancer_admin"), rbac.LOADBALANCER + rbac.GET_ALL_GLOBAL, None)
    assert pol.allowed(ctx("load-balancer_admin"), rbac.QUOTA + rbac.PUT, "p2")
    assert not pol.allowed(ctx("load-balancer_quota_admin"), rbac.QUOTA + rbac.PUT, "p2")
