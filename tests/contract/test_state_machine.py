"""The provisioning state machine: 409 while pending, ERROR blocks children, failures, DELETE/failover guards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from lbaas.db import lifecycle
from lbaas.db import models as m
from tests.contract.helpers import HMS, LB, LISTENERS, POLICIES, POOLS, Cloud, assert_fault


@dataclass
class Tree:
    """An ACTIVE LB with one of everything."""

    lb: dict[str, Any]
    listener: dict[str, Any]
    pool: dict[str, Any]
    member: dict[str, Any]
    hm: dict[str, Any]
    policy: dict[str, Any]
    rule: dict[str, Any]
    spare_pool: dict[str, Any]  # no listener, no monitor

    def paths(self) -> dict[str, str]:
        return {
            "loadbalancer": f"{LB}/{self.lb['id']}",
            "listener": f"{LISTENERS}/{self.listener['id']}",
            "pool": f"{POOLS}/{self.pool['id']}",
            "member": f"{POOLS}/{self.pool['id']}/members/{self.member['id']}",
            "healthmonitor": f"{HMS}/{self.hm['id']}",
            "l7policy": f"{POLICIES}/{self.policy['id']}",
            "rule": f"{POLICIES}/{self.policy['id']}/rules/{self.rule['id']}",
        }

    def statuses(self, cloud: Cloud) -> dict[str, str]:
        return {key: cloud.status_of(path, key) for key, path in self.paths().items()}


@pytest.fixture
def tree(cloud: Cloud) -> Tree:
    lb, li, pool = cloud.http_stack()
    policy = cloud.policy(li["id"])
    return Tree(lb=lb, listener=li, pool=pool, member=cloud.member(pool["id"]), hm=cloud.hm(pool["id"]),
                policy=policy, rule=cloud.rule(policy["id"]), spare_pool=cloud.pool(loadbalancer_id=lb["id"]))  # fmt: skip


# Every child mutation, as (method, path, body) built from the tree.
Op = Callable[[Tree], tuple[str, str, dict[str, Any] | None]]
CHILD_OPS: dict[str, Op] = {
    "listener-create": lambda t: ("POST", LISTENERS, {"listener": {"loadbalancer_id": t.lb["id"], "protocol": "TCP", "protocol_port": 81}}),
    "listener-update": lambda t: ("PUT", t.paths()["listener"], {"listener": {"name": "x"}}),
    "listener-delete": lambda t: ("DELETE", t.paths()["listener"], None),
    "pool-create": lambda t: ("POST", POOLS, {"pool": {"loadbalancer_id": t.lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}),
    "pool-update": lambda t: ("PUT", t.paths()["pool"], {"pool": {"name": "x"}}),
    "pool-delete": lambda t: ("DELETE", t.paths()["pool"], None),
    "member-create": lambda t: ("POST", f"{POOLS}/{t.pool['id']}/members", {"member": {"address": "10.0.0.99", "protocol_port": 80}}),
    "member-update": lambda t: ("PUT", t.paths()["member"], {"member": {"weight": 9}}),
    "member-delete": lambda t: ("DELETE", t.paths()["member"], None),
    "member-batch": lambda t: ("PUT", f"{POOLS}/{t.pool['id']}/members", {"members": []}),
    "hm-create": lambda t: ("POST", HMS, {"healthmonitor": {"pool_id": t.spare_pool["id"], "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1}}),
    "hm-update": lambda t: ("PUT", t.paths()["healthmonitor"], {"healthmonitor": {"delay": 9}}),
    "hm-delete": lambda t: ("DELETE", t.paths()["healthmonitor"], None),
    "l7policy-create": lambda t: ("POST", POLICIES, {"l7policy": {"listener_id": t.listener["id"], "action": "REJECT"}}),
    "l7policy-update": lambda t: ("PUT", t.paths()["l7policy"], {"l7policy": {"name": "x"}}),
    "l7policy-delete": lambda t: ("DELETE", t.paths()["l7policy"], None),
    "rule-create": lambda t: ("POST", f"{POLICIES}/{t.policy['id']}/rules", {"rule": {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/z"}}),
    "rule-update": lambda t: ("PUT", t.paths()["rule"], {"rule": {"value": "/y"}}),
    "rule-delete": lambda t: ("DELETE", t.paths()["rule"], None),
}  # fmt: skip


def make_lb_pending(cloud: Cloud, tree: Tree) -> None:
    cloud.put(f"{LB}/{tree.lb['id']}", "loadbalancer", {"description": "busy"})
    assert cloud.lb_status(tree.lb["id"]) == "PENDING_UPDATE"


def make_lb_error(cloud: Cloud, lb_id: str) -> None:
    cloud.put(f"{LB}/{lb_id}", "loadbalancer", {"description": "doomed"})
    cloud.fail(lb_id)
    assert cloud.lb_status(lb_id) == "ERROR"


@pytest.mark.parametrize("op", sorted(CHILD_OPS))
def test_child_changes_409_while_lb_pending(cloud: Cloud, tree: Tree, op: str) -> None:
    make_lb_pending(cloud, tree)
    method, path, body = CHILD_OPS[op](tree)
    cloud.rejected(method, path, body, status=409, contains=f"Load Balancer {tree.lb['id']} is immutable and cannot be updated.")
    cloud.settle()
    assert set(tree.statuses(cloud).values()) == {"ACTIVE"}


@pytest.mark.parametrize("op", sorted(CHILD_OPS))
def test_error_lb_blocks_child_changes(cloud: Cloud, tree: Tree, op: str) -> None:
    make_lb_error(cloud, tree.lb["id"])
    method, path, body = CHILD_OPS[op](tree)
    cloud.rejected(method, path, body, status=409, contains="is immutable")


@pytest.mark.parametrize("op", sorted(CHILD_OPS))
def test_each_change_then_completes(cloud: Cloud, tree: Tree, op: str) -> None:
    """Accepted while ACTIVE; the LB is PENDING_UPDATE until the provider completes, then ACTIVE again."""
    method, path, body = CHILD_OPS[op](tree)
    r = cloud.client.request(method, path, json=body)
    assert r.status_code in (200, 201, 202, 204), r.text
    assert cloud.lb_status(tree.lb["id"]) == "PENDING_UPDATE"
    cloud.settle()
    assert cloud.lb_status(tree.lb["id"]) == "ACTIVE"
    if method == "DELETE":
        cloud.gone(path)


def test_lb_put_while_pending_create(cloud: Cloud) -> None:
    lb = cloud.post(LB, "loadbalancer", {"vip_subnet_id": cloud.subnet_id})
    cloud.rejected("PUT", f"{LB}/{lb['id']}", {"loadbalancer": {"name": "x"}}, status=409,
                   contains=f"Invalid state PENDING_CREATE of loadbalancer resource {lb['id']}")  # fmt: skip
    cloud.rejected("DELETE", f"{LB}/{lb['id']}", status=409, contains="Invalid state PENDING_CREATE")
    cloud.rejected("PUT", f"{LB}/{lb['id']}/failover", status=409, contains="Invalid state PENDING_CREATE")


def test_lb_put_while_pending_update(cloud: Cloud, tree: Tree) -> None:
    make_lb_pending(cloud, tree)
    lb_id = tree.lb["id"]
    cloud.rejected("PUT", f"{LB}/{lb_id}", {"loadbalancer": {"name": "x"}}, status=409,
                   contains=f"Invalid state PENDING_UPDATE of loadbalancer resource {lb_id}")  # fmt: skip
    cloud.rejected("DELETE", f"{LB}/{lb_id}?cascade=true", status=409, contains="Invalid state PENDING_UPDATE")
    cloud.rejected("PUT", f"{LB}/{lb_id}/failover", status=409, contains="Invalid state PENDING_UPDATE")


def test_lb_put_while_pending_delete(cloud: Cloud) -> None:
    lb = cloud.lb()
    cloud.delete(f"{LB}/{lb['id']}")
    cloud.rejected("PUT", f"{LB}/{lb['id']}", {"loadbalancer": {"name": "x"}}, status=409, contains="Invalid state PENDING_DELETE")
    cloud.rejected("DELETE", f"{LB}/{lb['id']}", status=409, contains="Invalid state PENDING_DELETE")


def test_error_lb_update_refused_but_delete_and_failover_allowed(cloud: Cloud, tree: Tree) -> None:
    lb_id = tree.lb["id"]
    make_lb_error(cloud, lb_id)
    cloud.rejected("PUT", f"{LB}/{lb_id}", {"loadbalancer": {"name": "x"}}, status=409, contains="Invalid state ERROR")
    r = cloud.client.put(f"{LB}/{lb_id}/failover")
    assert r.status_code == 202, r.text
    assert cloud.lb_status(lb_id) == "PENDING_UPDATE"
    cloud.settle()
    assert cloud.lb_status(lb_id) == "ACTIVE"
    make_lb_error(cloud, lb_id)
    cloud.delete(f"{LB}/{lb_id}?cascade=true")
    assert cloud.lb_status(lb_id) == "PENDING_DELETE"
    cloud.settle()
    cloud.gone(f"{LB}/{lb_id}")


def test_failed_lb_create_is_error_and_deletable(cloud: Cloud) -> None:
    lb = cloud.post(LB, "loadbalancer", {"vip_subnet_id": cloud.subnet_id})
    cloud.fail(lb["id"])
    assert cloud.lb_status(lb["id"]) == "ERROR"
    cloud.delete(f"{LB}/{lb['id']}")
    cloud.settle()
    cloud.gone(f"{LB}/{lb['id']}")


# After a failed child change: which objects end in ERROR (everything else is back to ACTIVE).
FAILURES = {
    "member-create": {"new"},
    "member-update": {"member"},
    "member-delete": {"member"},
    "hm-update": {"healthmonitor"},
    "pool-update": {"pool"},
    "listener-update": {"listener"},
    "l7policy-update": {"l7policy"},
    "rule-create": {"new"},
    "rule-update": {"rule"},
    "l7policy-delete": {"l7policy", "rule"},
    "pool-delete": {"pool", "member", "healthmonitor"},
}


@pytest.mark.parametrize("op", sorted(FAILURES))
def test_failed_child_goes_to_error_and_parents_back_to_active(cloud: Cloud, tree: Tree, op: str) -> None:
    method, path, body = CHILD_OPS[op](tree)
    r = cloud.client.request(method, path, json=body)
    assert r.status_code in (200, 201, 204), r.text
    cloud.fail(tree.lb["id"])
    expected = {key: "ERROR" if key in FAILURES[op] else "ACTIVE" for key in tree.paths()}
    assert tree.statuses(cloud) == expected
    if "new" in FAILURES[op]:
        new = r.json()
        key = next(iter(new))
        assert new[key]["provisioning_status"] == "PENDING_CREATE"
        assert cloud.status_of(f"{path}/{new[key]['id']}", key) == "ERROR"
    # The LB takes changes again.
    cloud.put(tree.paths()["loadbalancer"], "loadbalancer", {"name": "again"})
    cloud.settle()
    assert cloud.lb_status(tree.lb["id"]) == "ACTIVE"


def test_error_pool_blocks_its_members_and_monitor(cloud: Cloud, tree: Tree) -> None:
    cloud.put(tree.paths()["pool"], "pool", {"name": "x"})
    cloud.fail(tree.lb["id"])
    assert cloud.status_of(tree.paths()["pool"], "pool") == "ERROR"
    assert cloud.lb_status(tree.lb["id"]) == "ACTIVE"
    for op in ("member-create", "member-update", "member-delete", "member-batch", "hm-update", "hm-delete"):
        method, path, body = CHILD_OPS[op](tree)
        cloud.rejected(method, path, body, status=409, contains=f"Pool {tree.pool['id']} is immutable", lb_id=tree.lb["id"])
    # The pool itself can still be fixed.
    cloud.put(tree.paths()["pool"], "pool", {"name": "fixed"})
    cloud.settle()
    assert cloud.status_of(tree.paths()["pool"], "pool") == "ACTIVE"


def test_error_policy_blocks_its_rules(cloud: Cloud, tree: Tree) -> None:
    cloud.put(tree.paths()["l7policy"], "l7policy", {"name": "x"})
    cloud.fail(tree.lb["id"])
    for op in ("rule-create", "rule-update", "rule-delete"):
        method, path, body = CHILD_OPS[op](tree)
        cloud.rejected(method, path, body, status=409, contains=f"L7 Policy {tree.policy['id']} is immutable", lb_id=tree.lb["id"])


def test_failed_cascade_delete_leaves_lb_in_error(cloud: Cloud, tree: Tree) -> None:
    cloud.delete(f"{LB}/{tree.lb['id']}?cascade=true")
    assert set(tree.statuses(cloud).values()) == {"PENDING_DELETE"}
    cloud.fail(tree.lb["id"])
    assert set(tree.statuses(cloud).values()) == {"ERROR"}
    cloud.delete(f"{LB}/{tree.lb['id']}?cascade=true")
    cloud.settle()
    for path in tree.paths().values():
        cloud.gone(path)


def test_stale_completion_changes_nothing(cloud: Cloud, tree: Tree) -> None:
    """A report for an older generation (the LB moved on) is ignored."""
    make_lb_pending(cloud, tree)
    with cloud.db.write() as s:
        lb = s.get(m.LoadBalancer, tree.lb["id"])
        assert lb is not None
        assert lifecycle.complete(s, lb.id, lb.generation - 1, ok=True) is False
    assert cloud.lb_status(tree.lb["id"]) == "PENDING_UPDATE"


def test_deleted_children_are_404_everywhere(cloud: Cloud, tree: Tree) -> None:
    cloud.delete(f"{LB}/{tree.lb['id']}?cascade=true")
    cloud.settle()
    for key, path in tree.paths().items():
        assert_fault(cloud.client.get(path), 404)
        if key != "loadbalancer":
            assert_fault(cloud.client.delete(path), 404)
