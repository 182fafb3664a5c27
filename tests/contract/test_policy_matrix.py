"""The policy matrix, generated from the policy defaults: every rule's operation (method and path, as the
rule documents it) × every persona, against the real app, asserting allow or Octavia's refusal.

What each persona may do is NOT read back from the enforcer: ``ADMITS`` states, for each of Octavia's
base rules, which personas Octavia's documentation says it admits (Octavia's policy.rst "Default Octavia
Policies - API Effective Rules", its advanced-RBAC roles, plus Keystone's default roles through the new
defaults). The matrix pairs that with each rule's default check string.

One world per persona: project A (the personas' project) and project B each own a full tree (LB,
listener, pool, member, health monitor, L7 policy and rule, quota), plus a shared subnet, a flavor, an
availability zone, their profiles and an amphora. Operations run reads first, then updates, creates,
failovers and deletes (children first), so an allowed call never removes what a later one needs; an
allowed call must not be answered 401/403 (nor 5xx), a refused one gets 403 with Octavia's fault body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lbaas.db import models as m
from lbaas.services import amphorae
from lbaas.services import policy as rbac
from tests.contract.helpers import Cloud, assert_fault, make_subnet
from tests.contract.personas import PERSONAS, PROJECT_A, PROJECT_B, persona_headers

FORBIDDEN = "Policy does not allow this request to be performed."
SG = "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e"

READ = {"observer", "reader", "global_observer", "member", "keystone_member", "lb_admin", "admin"}
ADMITS: dict[str, set[str]] = {
    rbac.RULE_API_READ: READ,
    rbac.RULE_MEMBER_API_READ: READ,
    rbac.RULE_API_READ_GLOBAL: {"global_observer", "lb_admin", "admin"},
    rbac.RULE_API_WRITE: {"member", "keystone_member", "lb_admin", "admin"},
    rbac.RULE_API_READ_QUOTA: READ | {"quota_admin"},
    rbac.RULE_API_READ_QUOTA_GLOBAL: {"global_observer", "quota_admin", "lb_admin", "admin"},
    rbac.RULE_API_WRITE_QUOTA: {"quota_admin", "lb_admin", "admin"},
    rbac.RULE_API_ADMIN: {"lb_admin", "admin"},
}
# Rules whose target is the caller's own project: lists of a project's objects, a new load balancer, and
# objects that belong to no project (flavors, zones, profiles, amphorae, providers).
GLOBAL_OBJECTS = (rbac.FLAVOR, rbac.FLAVOR_PROFILE, rbac.AVAILABILITY_ZONE, rbac.AVAILABILITY_ZONE_PROFILE,
                  rbac.AMPHORA, rbac.PROVIDER, rbac.PROVIDER_FLAVOR, rbac.PROVIDER_AVAILABILITY_ZONE,
                  rbac.EXTENSION_ADMIN)  # fmt: skip

ORDER = {"GET": 0, "PUT": 1, "POST": 2}
DELETE_ORDER = ["l7rule", "l7policy", "member", "healthmonitor", "listener", "pool", "loadbalancer", "quota",
                "amphora", "flavor:", "flavor-profile", "availability-zone:", "availability-zone-profile"]  # fmt: skip


@dataclass(frozen=True)
class Op:
    rule: str
    check: str
    method: str
    path: str


def _ops() -> list[Op]:
    """Every documented operation of every rule (get_all-global shares get_all's request: see below)."""
    out = []
    for rule in [*rbac.API_RULES, *rbac.EXTENSION_RULES]:
        if rule.name.endswith(rbac.GET_ALL_GLOBAL):
            continue
        for op in rule.operations:
            out.append(Op(rule.name, rule.check_str, op["method"], op["path"]))

    def key(op: Op) -> tuple[int, int, str]:
        if op.method == "DELETE":
            where = next(i for i, k in enumerate(DELETE_ORDER) if f":{k}" in op.rule)
            return (4, where, op.rule)
        if op.rule.endswith(rbac.PUT_FAILOVER) or op.rule.endswith(rbac.PUT_CONFIG):
            return (3, 0, op.rule)
        return (ORDER[op.method], 0, op.rule)

    return sorted(out, key=key)


OPS = _ops()


def _tree(cloud: Cloud, project: str, subnet: str) -> dict[str, str]:
    """A full tree of ``project``, built by the operator (noauth: no identity headers)."""
    c = cloud.client

    def post(path: str, key: str, body: dict[str, Any]) -> str:
        r = c.post(path, json={key: body})
        assert r.status_code == 201, r.text
        cloud.settle()
        return str(r.json()[key]["id"])

    ids: dict[str, str] = {}
    ids["loadbalancer_id"] = post(
        "/v2/lbaas/loadbalancers", "loadbalancer", {"vip_subnet_id": subnet, "project_id": project}
    )
    ids["listener_id"] = post("/v2/lbaas/listeners", "listener",
                              {"loadbalancer_id": ids["loadbalancer_id"], "protocol": "HTTP", "protocol_port": 80})  # fmt: skip
    ids["pool_id"] = post("/v2/lbaas/pools", "pool",
                          {"listener_id": ids["listener_id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"})  # fmt: skip
    ids["member_id"] = post(
        f"/v2/lbaas/pools/{ids['pool_id']}/members", "member", {"address": "10.9.0.10", "protocol_port": 80}
    )
    ids["healthmonitor_id"] = post("/v2/lbaas/healthmonitors", "healthmonitor",
                                   {"pool_id": ids["pool_id"], "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1})  # fmt: skip
    ids["l7policy_id"] = post(
        "/v2/lbaas/l7policies", "l7policy", {"listener_id": ids["listener_id"], "action": "REJECT"}
    )
    ids["l7rule_id"] = post(f"/v2/lbaas/l7policies/{ids['l7policy_id']}/rules", "rule",
                            {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/"})  # fmt: skip
    assert c.put(f"/v2/lbaas/quotas/{project}", json={"quota": {"pool": 50}}).status_code == 202
    ids["project_id"] = project
    return ids


@pytest.fixture
def world(cloud: Cloud, personas: None) -> dict[str, dict[str, str]]:
    a = _tree(cloud, PROJECT_A, make_subnet(cloud.db, cidr="10.9.0.0/24", project_id=PROJECT_A))
    b = _tree(cloud, PROJECT_B, make_subnet(cloud.db, cidr="10.9.0.0/24", project_id=PROJECT_B))
    with cloud.db.write() as s:
        net = m.Network(id=m.new_id(), project_id="operator", name="public", shared=True)
        s.add(net)
    shared = make_subnet(cloud.db, cidr="10.8.0.0/24", project_id="operator", network_id=net.id)
    c = cloud.client
    fp = c.post(
        "/v2/lbaas/flavorprofiles",
        json={"flavorprofile": {"name": "fp", "provider_name": "amphora", "flavor_data": "{}"}},
    )
    fl = c.post(
        "/v2/lbaas/flavors", json={"flavor": {"name": "fl", "flavor_profile_id": fp.json()["flavorprofile"]["id"]}}
    )
    azp = c.post("/v2/lbaas/availabilityzoneprofiles", json={"availability_zone_profile": {
        "name": "azp", "provider_name": "amphora", "availability_zone_data": '{"compute_zone": "z1"}'}})  # fmt: skip
    az = c.post("/v2/lbaas/availabilityzones", json={"availability_zone": {
        "name": "az1", "availability_zone_profile_id": azp.json()["availability_zone_profile"]["id"]}})  # fmt: skip
    assert {r.status_code for r in (fp, fl, azp, az)} == {201}, [r.text for r in (fp, fl, azp, az)]
    with cloud.db.write() as s:
        lb = s.get(m.LoadBalancer, a["loadbalancer_id"])
        assert lb is not None
        amp = amphorae.ensure_amphora(s, lb, "host-a")
        s.flush()
        amp_id = amp.id
    common = {
        "flavor_profile_id": fp.json()["flavorprofile"]["id"],
        "flavor_id": fl.json()["flavor"]["id"],
        "availability_zone_profile_id": azp.json()["availability_zone_profile"]["id"],
        "availability_zone_id": "az1",
        "amphora_id": amp_id,
        "provider": "amphora",
        "shared_subnet": shared,
    }
    return {"a": {**a, **common}, "b": b}


def _body(op: Op, ids: dict[str, str]) -> dict[str, Any] | None:
    noun = op.rule.split(":")[1]
    action = op.rule.split(":", 2)[2]
    if op.method == "POST":
        return {
            "loadbalancer": {"loadbalancer": {"vip_subnet_id": ids["shared_subnet"],
                                              **({"vip_sg_ids": [SG]} if action.endswith("vip_sg_ids") else {})}},
            "listener": {"listener": {"loadbalancer_id": ids["loadbalancer_id"], "protocol": "TCP", "protocol_port": 81}},
            "pool": {"pool": {"loadbalancer_id": ids["loadbalancer_id"], "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}},
            "member": {"member": {"address": "10.9.0.11", "protocol_port": 80}},
            "healthmonitor": {"healthmonitor": {"pool_id": ids["pool_id"], "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1}},
            "l7policy": {"l7policy": {"listener_id": ids["listener_id"], "action": "REJECT"}},
            "l7rule": {"rule": {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/x"}},
            "flavor": {"flavor": {"name": "fl2", "flavor_profile_id": ids["flavor_profile_id"]}},
            "flavor-profile": {"flavorprofile": {"name": "fp2", "provider_name": "amphora", "flavor_data": "{}"}},
            "availability-zone": {"availability_zone": {"name": "az2", "availability_zone_profile_id": ids["availability_zone_profile_id"]}},
            "availability-zone-profile": {"availability_zone_profile": {"name": "azp2", "provider_name": "amphora", "availability_zone_data": "{}"}},
        }[noun]  # fmt: skip
    if op.method == "PUT" and action in (rbac.PUT, f"{rbac.PUT}:vip_sg_ids"):
        key = {"l7rule": "rule", "flavor-profile": "flavorprofile", "availability-zone": "availability_zone",
               "availability-zone-profile": "availability_zone_profile"}.get(noun, noun)  # fmt: skip
        if noun == "quota":
            return {"quota": {"pool": 40}}
        if action.endswith("vip_sg_ids"):
            return {key: {"vip_sg_ids": [SG]}}
        change = {"member": {"name": "changed"}, "healthmonitor": {"name": "changed"}, "l7rule": {"value": "/y"},
                  "flavor-profile": {"name": "changed"}, "availability-zone-profile": {"name": "changed"}}  # fmt: skip
        return {key: change.get(noun, {"description": "changed"})}
    return None


def _path(op: Op, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda mt: ids[mt.group(1)], op.path)


def _own_project_target(op: Op) -> bool:
    if op.rule.startswith(GLOBAL_OBJECTS):
        return True
    if op.rule.endswith(rbac.GET_ALL) and "{" not in op.path:  # a project's list (members, rules: the parent's)
        return True
    return op.rule.startswith(rbac.LOADBALANCER + rbac.POST)


def _admitted(persona: str, op: Op) -> bool:
    p = PERSONAS[persona]
    as_if = "member" if (p.project_id != PROJECT_A and _own_project_target(op)) else persona
    return as_if in ADMITS[op.check]


def test_rules_and_operations_cover_every_octavia_rule() -> None:
    """The matrix below is complete: every API rule is exercised (get_all-global through the lists)."""
    tested = {op.rule for op in OPS}
    for rule in rbac.API_RULES:
        base = rule.name.replace(rbac.GET_ALL_GLOBAL, rbac.GET_ALL)
        assert base in tested, rule.name
        assert rule.check_str in ADMITS, rule.name
    assert len(OPS) == sum(len(r.operations) for r in [*rbac.API_RULES, *rbac.EXTENSION_RULES]) - 6  # 6 -global


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_policy_matrix(cloud: Cloud, world: dict[str, dict[str, str]], persona: str) -> None:
    c: TestClient = cloud.client
    ids = world["a"]
    who = persona_headers(persona)
    _check_lists(c, world, persona)
    seen: list[str] = []
    for op in OPS:
        r = c.request(op.method, _path(op, ids), json=_body(op, ids), headers=who)
        label = f"{persona} {op.method} {op.path} ({op.rule}): {r.status_code} {r.text[:200]}"
        if _admitted(persona, op):
            assert r.status_code not in (401, 403) and r.status_code < 500 or r.status_code == 501, label
            if op.rule.endswith("vip_sg_ids"):
                assert r.status_code == 501, label  # allowed, and then refused as not implemented
            seen.append(op.rule)
            if op.method != "GET":
                cloud.settle()
        else:
            assert r.status_code == 403, label
            assert_fault(r, 403, FORBIDDEN)
    assert seen or persona == "no_role"


def _check_lists(c: TestClient, world: dict[str, dict[str, str]], persona: str) -> None:
    """``get_all-global``: a list shows another project's objects only to whom read-global admits."""
    p = PERSONAS[persona]
    mine, theirs = (world["a"], world["b"]) if p.project_id == PROJECT_A else (world["b"], world["a"])
    as_if = "member" if p.project_id != PROJECT_A else persona
    for rule in rbac.API_RULES:
        if not rule.name.endswith(rbac.GET_ALL_GLOBAL):
            continue
        noun = rule.name.split(":")[1]
        path = rule.operations[0]["path"]
        plural = path.rsplit("/", 1)[1]
        key_id = "project_id" if noun == "quota" else f"{noun}_id"
        local = next(r for r in rbac.API_RULES if r.name == rule.name.replace(rbac.GET_ALL_GLOBAL, rbac.GET_ALL))
        r = c.get(path, headers=persona_headers(persona))
        if as_if not in ADMITS[local.check_str] and as_if not in ADMITS[rule.check_str]:
            assert_fault(r, 403, FORBIDDEN)
            continue
        assert r.status_code == 200, r.text
        field = "project_id" if noun == "quota" else "id"
        listed = {item[field] for item in r.json()[plural]}
        sees_all = as_if in ADMITS[rule.check_str]
        assert (theirs[key_id] in listed) == sees_all, (persona, path, listed)
        assert mine[key_id] in listed, (persona, path, listed)
