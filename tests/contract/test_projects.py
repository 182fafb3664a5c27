"""Project isolation: another project sees nothing in its lists and gets Octavia's 403 for each object
(octavia-tempest-plugin's RBAC tests expect 403, not 404); children inherit the LB's project.

Alice is a load-balancer_member of project A, Bob one of project B (``personas``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.helpers import HMS, LB, LISTENERS, POLICIES, POOLS, Cloud, assert_fault, make_subnet
from tests.contract.personas import PROJECT_A, persona_headers

ALICE = persona_headers("member")
BOB = persona_headers("other_member")
ADMIN = persona_headers("admin")
FORBIDDEN = "Policy does not allow this request to be performed."
COLLECTIONS = [(LB, "loadbalancers"), (LISTENERS, "listeners"), (POOLS, "pools"), (HMS, "healthmonitors"),
               (POLICIES, "l7policies")]  # fmt: skip


@pytest.fixture
def alice_subnet(cloud: Cloud, personas: None) -> str:
    return make_subnet(cloud.db, project_id=PROJECT_A)


@pytest.fixture
def alice_tree(cloud: Cloud, alice_subnet: str) -> dict[str, str]:
    """Alice's LB with one of everything, created through the API as her."""
    c = cloud.client

    def post(path: str, key: str, body: dict[str, Any]) -> str:
        r = c.post(path, json={key: body}, headers=ALICE)
        assert r.status_code == 201, r.text
        cloud.settle()
        return str(r.json()[key]["id"])

    lb = post(LB, "loadbalancer", {"vip_subnet_id": alice_subnet})
    li = post(LISTENERS, "listener", {"loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 80})
    pool = post(POOLS, "pool", {"listener_id": li, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"})
    member = post(f"{POOLS}/{pool}/members", "member", {"address": "10.0.0.10", "protocol_port": 80})
    hm = post(HMS, "healthmonitor", {"pool_id": pool, "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1})
    policy = post(POLICIES, "l7policy", {"listener_id": li, "action": "REJECT"})
    rule = post(f"{POLICIES}/{policy}/rules", "rule", {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/"})
    return {
        "loadbalancer": f"{LB}/{lb}",
        "listener": f"{LISTENERS}/{li}",
        "pool": f"{POOLS}/{pool}",
        "member": f"{POOLS}/{pool}/members/{member}",
        "healthmonitor": f"{HMS}/{hm}",
        "l7policy": f"{POLICIES}/{policy}",
        "rule": f"{POLICIES}/{policy}/rules/{rule}",
    }


def test_children_inherit_the_lb_project(cloud: Cloud, alice_tree: dict[str, str]) -> None:
    for key, path in alice_tree.items():
        r = cloud.client.get(path, headers=ALICE)
        assert r.status_code == 200, r.text
        assert r.json()[key]["project_id"] == PROJECT_A, key


def test_other_project_lists_are_empty(cloud: Cloud, alice_tree: dict[str, str]) -> None:
    for path, key in COLLECTIONS:
        assert len(cloud.client.get(path, headers=ALICE).json()[key]) == 1, key
        assert cloud.client.get(path, headers=BOB).json()[key] == [], key
        default_member = {"X-Project-Id": "lbaas-default"}  # the default project is another project
        assert cloud.client.get(path, headers=default_member).json()[key] == [], key
        assert_fault(cloud.client.get(f"{path}?project_id={PROJECT_A}", headers=BOB), 403, FORBIDDEN)
        assert len(cloud.client.get(path).json()[key]) == 1, key  # the default caller is admin: sees every project
    pool = alice_tree["pool"]
    assert_fault(cloud.client.get(f"{pool}/members", headers=BOB), 403, FORBIDDEN)
    assert_fault(cloud.client.get(f"{alice_tree['l7policy']}/rules", headers=BOB), 403, FORBIDDEN)


def test_other_project_gets_403(cloud: Cloud, alice_tree: dict[str, str]) -> None:
    for key, path in alice_tree.items():
        r = cloud.client.get(path, headers=BOB)
        assert_fault(r, 403, FORBIDDEN)
        assert_fault(cloud.client.put(path, json={key: {"admin_state_up": False}}, headers=BOB), 403, FORBIDDEN)
        assert_fault(cloud.client.delete(path, headers=BOB), 403, FORBIDDEN)
    lb = alice_tree["loadbalancer"]
    for suffix in ("/status", "/stats"):
        assert_fault(cloud.client.get(lb + suffix, headers=BOB), 403, FORBIDDEN)
    assert_fault(cloud.client.put(f"{lb}/failover", headers=BOB), 403, FORBIDDEN)
    assert_fault(cloud.client.get(f"{alice_tree['listener']}/stats", headers=BOB), 403, FORBIDDEN)
    for key, path in alice_tree.items():  # nothing was touched
        assert cloud.client.get(path, headers=ALICE).json()[key]["provisioning_status"] == "ACTIVE", key


def test_missing_objects_are_404_for_everyone(cloud: Cloud, personas: None) -> None:
    missing = "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e"
    for path in (f"{LB}/{missing}", f"{LISTENERS}/{missing}", f"{POOLS}/{missing}", f"{HMS}/{missing}",
                 f"{POLICIES}/{missing}"):  # fmt: skip
        for who in (ALICE, BOB, ADMIN):
            assert_fault(cloud.client.get(path, headers=who), 404)


def test_other_project_cannot_create_children(cloud: Cloud, alice_tree: dict[str, str]) -> None:
    lb_id = alice_tree["loadbalancer"].rsplit("/", 1)[1]
    pool_id = alice_tree["pool"].rsplit("/", 1)[1]
    attempts = [
        (LISTENERS, {"listener": {"loadbalancer_id": lb_id, "protocol": "TCP", "protocol_port": 81}}),
        (POOLS, {"pool": {"loadbalancer_id": lb_id, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}),
        (f"{POOLS}/{pool_id}/members", {"member": {"address": "10.0.0.99", "protocol_port": 80}}),
    ]
    for path, body in attempts:
        assert_fault(cloud.client.post(path, json=body, headers=BOB), 403, FORBIDDEN)
    r = cloud.client.put(f"{POOLS}/{pool_id}/members", json={"members": []}, headers=BOB)
    assert_fault(r, 403, FORBIDDEN)
    assert cloud.client.get(alice_tree["member"], headers=ALICE).json()["member"]["provisioning_status"] == "ACTIVE"


def test_body_project_id_used_without_header(cloud: Cloud) -> None:
    r = cloud.client.post(LB, json={"loadbalancer": {"vip_subnet_id": cloud.subnet_id, "project_id": "carol"}})
    assert r.status_code == 201, r.text
    assert r.json()["loadbalancer"]["project_id"] == "carol"
    cloud.settle()
    assert len(cloud.client.get(LB, headers={"X-Project-Id": "carol"}).json()["loadbalancers"]) == 1
    r = cloud.client.post(LB, json={"loadbalancer": {"vip_subnet_id": cloud.subnet_id, "tenant_id": "dave"}})
    assert r.json()["loadbalancer"]["project_id"] == "dave"


def test_other_body_project_is_forbidden(cloud: Cloud, alice_subnet: str) -> None:
    body = {"vip_subnet_id": alice_subnet, "project_id": PROJECT_A}
    r = cloud.client.post(LB, json={"loadbalancer": body}, headers=ALICE)
    assert r.status_code == 201 and r.json()["loadbalancer"]["project_id"] == PROJECT_A
    before = cloud.client.get(LB, headers=ALICE).json()["loadbalancers"]
    r = cloud.client.post(LB, json={"loadbalancer": {**body, "project_id": "proj-b"}}, headers=ALICE)
    assert_fault(r, 403, FORBIDDEN)
    assert cloud.client.get(LB, headers=ALICE).json()["loadbalancers"] == before
    assert cloud.client.get(LB, headers=BOB).json()["loadbalancers"] == []


def test_admin_sees_every_project(cloud: Cloud, alice_tree: dict[str, str]) -> None:
    for who in (ADMIN, persona_headers("lb_admin"), persona_headers("global_observer")):
        assert len(cloud.client.get(LB, headers=who).json()["loadbalancers"]) == 1
        assert cloud.client.get(alice_tree["rule"], headers=who).status_code == 200
        assert len(cloud.client.get(f"{LB}?project_id={PROJECT_A}", headers=who).json()["loadbalancers"]) == 1
        assert cloud.client.get(f"{LB}?project_id=proj-b", headers=who).json()["loadbalancers"] == []
