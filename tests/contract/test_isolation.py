"""Isolation of every id a request names: a network, subnet, port, pool, listener or load balancer of
another project is refused with Octavia's 403 (octavia-tempest-plugin checks 403, parent ids named in
bodies included); an id that does not exist gets what Octavia answers for it (400 "not found" for a
Neutron id, 404 for an Octavia object). Shared networks (and their subnets) are usable by every
project, as in Neutron. Alice is a load-balancer_member of project A, Bob one of project B."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract import neutron
from tests.contract.helpers import HMS, LB, LISTENERS, POLICIES, POOLS, Cloud, assert_fault
from tests.contract.personas import PROJECT_A, PROJECT_B, persona_headers

ALICE = persona_headers("member")
ADMIN = persona_headers("admin")
FORBIDDEN = "Policy does not allow this request to be performed."
MISSING = "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e"


@pytest.fixture
def nets(cloud: Cloud, personas: None) -> dict[str, Any]:
    c = cloud.client
    out: dict[str, Any] = {}
    for who, project, cidr in (("a", PROJECT_A, "10.1.0.0/24"), ("b", PROJECT_B, "10.2.0.0/24")):
        net = neutron.network(c, project=project)
        out[f"{who}_net"] = net["id"]
        out[f"{who}_subnet"] = neutron.subnet(c, net["id"], cidr, project=project)["id"]
        out[f"{who}_port"] = neutron.port(c, net["id"], project=project)["id"]
    shared = neutron.network(c, project="operator", shared=True)
    out["shared_net"] = shared["id"]
    out["shared_subnet"] = neutron.subnet(c, shared["id"], "10.3.0.0/24", project="operator")["id"]
    return out


def _create_lb(cloud: Cloud, vip: dict[str, str], who: dict[str, str] = ALICE) -> Any:
    return cloud.client.post(LB, json={"loadbalancer": vip}, headers=who)


@pytest.mark.parametrize("kind", ["subnet", "net", "port"])
def test_vip_on_another_projects_neutron_object_is_403(cloud: Cloud, nets: dict[str, Any], kind: str) -> None:
    field = {"subnet": "vip_subnet_id", "net": "vip_network_id", "port": "vip_port_id"}[kind]
    r = _create_lb(cloud, {field: nets[f"b_{kind}"]})
    assert_fault(r, 403, FORBIDDEN)
    assert cloud.client.get(LB).json()["loadbalancers"] == []  # nothing was made
    r = _create_lb(cloud, {field: MISSING})
    assert_fault(r, 400, "not found")
    r = _create_lb(cloud, {field: nets[f"a_{kind}"]})  # her own: fine
    assert r.status_code == 201, r.text
    assert r.json()["loadbalancer"]["project_id"] == PROJECT_A


def test_vip_on_a_shared_network_is_allowed(cloud: Cloud, nets: dict[str, Any]) -> None:
    for vip in ({"vip_network_id": nets["shared_net"]}, {"vip_subnet_id": nets["shared_subnet"]}):
        r = _create_lb(cloud, vip)
        assert r.status_code == 201, r.text
        assert r.json()["loadbalancer"]["vip_subnet_id"] == nets["shared_subnet"]
        cloud.settle()


def test_network_and_subnet_must_both_be_usable(cloud: Cloud, nets: dict[str, Any]) -> None:
    r = _create_lb(cloud, {"vip_network_id": nets["b_net"], "vip_subnet_id": nets["a_subnet"]})
    assert_fault(r, 403, FORBIDDEN)


def test_admin_may_use_any_projects_network(cloud: Cloud, nets: dict[str, Any]) -> None:
    r = _create_lb(cloud, {"vip_subnet_id": nets["b_subnet"], "project_id": PROJECT_B}, who=ADMIN)
    assert r.status_code == 201, r.text


@pytest.fixture
def trees(cloud: Cloud, nets: dict[str, Any]) -> dict[str, dict[str, str]]:
    """An LB with a listener, a pool and an L7 policy in each project, made by its owner."""
    out: dict[str, dict[str, str]] = {}
    for who, subnet in (("member", nets["a_subnet"]), ("other_member", nets["b_subnet"])):
        h = persona_headers(who)

        def post(path: str, key: str, body: dict[str, Any], h: dict[str, str] = h) -> str:
            r = cloud.client.post(path, json={key: body}, headers=h)
            assert r.status_code == 201, r.text
            cloud.settle()
            return str(r.json()[key]["id"])

        lb = post(LB, "loadbalancer", {"vip_subnet_id": subnet})
        li = post(LISTENERS, "listener", {"loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 80})
        pool = post(POOLS, "pool", {"loadbalancer_id": lb, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"})
        pol = post(POLICIES, "l7policy", {"listener_id": li, "action": "REJECT"})
        out[who] = {"lb": lb, "listener": li, "pool": pool, "l7policy": pol}
    return out


def test_parent_ids_in_bodies_of_another_project_are_403(cloud: Cloud, trees: dict[str, dict[str, str]]) -> None:
    bob = trees["other_member"]
    attempts = [
        (LISTENERS, "listener", {"loadbalancer_id": bob["lb"], "protocol": "TCP", "protocol_port": 81}),
        (POOLS, "pool", {"loadbalancer_id": bob["lb"], "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}),
        (POOLS, "pool", {"listener_id": bob["listener"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}),
        (HMS, "healthmonitor", {"pool_id": bob["pool"], "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1}),
        (POLICIES, "l7policy", {"listener_id": bob["listener"], "action": "REJECT"}),
        (f"{POOLS}/{bob['pool']}/members", "member", {"address": "10.2.0.50", "protocol_port": 80}),
        (f"{POLICIES}/{bob['l7policy']}/rules", "rule", {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/"}),
    ]
    for path, key, body in attempts:
        assert_fault(cloud.client.post(path, json={key: body}, headers=ALICE), 403, FORBIDDEN)
    for path, key, body in attempts[:2]:
        missing = {k: (MISSING if k.endswith("_id") else v) for k, v in body.items()}
        assert_fault(cloud.client.post(path, json={key: missing}, headers=ALICE), 404)


def test_referenced_pools_of_another_project_are_403(cloud: Cloud, trees: dict[str, dict[str, str]]) -> None:
    alice, bob = trees["member"], trees["other_member"]
    c = cloud.client
    body: dict[str, Any] = {"loadbalancer_id": alice["lb"], "protocol": "HTTP", "protocol_port": 82,
                            "default_pool_id": bob["pool"]}  # fmt: skip
    assert_fault(c.post(LISTENERS, json={"listener": body}, headers=ALICE), 403, FORBIDDEN)
    assert_fault(c.post(LISTENERS, json={"listener": {**body, "default_pool_id": MISSING}}, headers=ALICE), 404)
    r = c.put(f"{LISTENERS}/{alice['listener']}", json={"listener": {"default_pool_id": bob["pool"]}}, headers=ALICE)
    assert_fault(r, 403, FORBIDDEN)
    redirect = {"listener_id": alice["listener"], "action": "REDIRECT_TO_POOL", "redirect_pool_id": bob["pool"]}
    assert_fault(c.post(POLICIES, json={"l7policy": redirect}, headers=ALICE), 403, FORBIDDEN)
    assert_fault(c.post(POLICIES, json={"l7policy": {**redirect, "redirect_pool_id": MISSING}}, headers=ALICE), 404)
    r = c.put(f"{POLICIES}/{alice['l7policy']}", json={"l7policy": {"action": "REDIRECT_TO_POOL",
                                                                   "redirect_pool_id": bob["pool"]}}, headers=ALICE)  # fmt: skip
    assert_fault(r, 403, FORBIDDEN)
    # nothing of Bob's changed hands
    assert c.get(f"{POOLS}/{bob['pool']}", headers=persona_headers("other_member")).json()["pool"]["listeners"] == []


def test_member_subnet_of_another_project_is_403(
    cloud: Cloud, nets: dict[str, Any], trees: dict[str, dict[str, str]]
) -> None:
    path = f"{POOLS}/{trees['member']['pool']}/members"
    body = {"address": "10.2.0.50", "protocol_port": 80, "subnet_id": nets["b_subnet"]}
    assert_fault(cloud.client.post(path, json={"member": body}, headers=ALICE), 403, FORBIDDEN)
    assert_fault(cloud.client.put(path, json={"members": [body]}, headers=ALICE), 403, FORBIDDEN)
    assert_fault(
        cloud.client.post(path, json={"member": {**body, "subnet_id": MISSING}}, headers=ALICE), 400, "not found"
    )
    for subnet in (nets["a_subnet"], nets["shared_subnet"]):
        r = cloud.client.post(path, json={"member": {**body, "subnet_id": subnet}}, headers=ALICE)
        assert r.status_code == 201, r.text
        cloud.settle()
        body["protocol_port"] += 1


def test_failover_and_operator_objects_are_admin_only(cloud: Cloud, trees: dict[str, dict[str, str]]) -> None:
    lb = trees["member"]["lb"]
    assert_fault(cloud.client.put(f"{LB}/{lb}/failover", headers=ALICE), 403, FORBIDDEN)
    for path in ("/v2/octavia/amphorae", "/v2/lbaas/flavorprofiles", "/v2/lbaas/availabilityzoneprofiles",
                 "/v2/octavia/agents", "/v2/octavia/failover_breaker"):  # fmt: skip
        assert_fault(cloud.client.get(path, headers=ALICE), 403, FORBIDDEN)
        assert cloud.client.get(path, headers=ADMIN).status_code == 200, path
    assert cloud.client.put(f"{LB}/{lb}/failover", headers=ADMIN).status_code == 202


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_rows_without_octavia_rules_belong_to_their_project(cloud: Cloud, nets: dict[str, Any]) -> None:
    """``load`` on a type Octavia has no rule for (here a network): its project's, or an admin's."""
    from lbaas.db import models as m
    from lbaas.domain import errors
    from lbaas.services.common import load
    from lbaas.services.context import RequestContext

    with cloud.db.read() as s:
        own = RequestContext(project_id=PROJECT_B, roles=frozenset({"member"}))
        assert load(s, m.Network, nets["b_net"], own, "Network").id == nets["b_net"]
        admin = RequestContext(project_id=PROJECT_A, roles=frozenset({"admin"}))
        assert load(s, m.Network, nets["b_net"], admin, "Network").id == nets["b_net"]
        with pytest.raises(errors.Forbidden):
            load(s, m.Network, nets["b_net"], RequestContext(project_id=PROJECT_A, roles=frozenset({"member"})), "Network")
        with pytest.raises(errors.NotFound):
            load(s, m.Network, MISSING, admin, "Network")
