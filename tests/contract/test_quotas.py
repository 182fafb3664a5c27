"""Quotas: defaults, per-project records (with Octavia's deprecated key spellings), who may read and
write them, and enforcement on every create path (403, and nothing written when refused)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lbaas.db import models as m
from lbaas.db.session import Database
from lbaas.providers.noop import NoopProvider
from lbaas.services.env import ServiceEnv
from tests.contract.helpers import active_lb, make_subnet, settle
from tests.contract.personas import persona_headers

KEYS = ("loadbalancer", "listener", "member", "pool", "healthmonitor", "l7policy", "l7rule")
PROJECT = "lbaas-default"  # the project of requests without X-Project-Id
MEMBER_OF = persona_headers("member", "p1")
pytestmark = pytest.mark.usefixtures("personas")  # persona_headers() needs it
FORBIDDEN = "Policy does not allow this request to be performed."


def _fault(r: Any, code: int, text: str | None = None) -> dict[str, Any]:
    assert r.status_code == code, r.text
    body = r.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}
    if text is not None:
        assert body["faultstring"] == text
    return dict(body)


def _set_quota(client: TestClient, project: str, **values: int | None) -> dict[str, Any]:
    r = client.put(f"/v2/lbaas/quotas/{project}", json={"quota": values})
    assert r.status_code == 202, r.text
    return dict(r.json()["quota"])


def _count(db: Database, model: Any) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


# --------------------------------------------------------------------------- the API


def test_defaults(client: TestClient) -> None:
    r = client.get("/v2/lbaas/quotas/defaults")
    assert r.status_code == 200
    quota = r.json()["quota"]
    assert {k: quota[k] for k in KEYS} == dict.fromkeys(KEYS, -1)
    assert quota["load_balancer"] == -1 and quota["health_monitor"] == -1
    r = client.get("/v2.0/lbaas/quotas/p9/default")
    assert r.json()["quota"]["project_id"] == "p9"


def test_defaults_follow_settings(client: TestClient, app_env: ServiceEnv) -> None:
    app_env.settings.quota_defaults = {**app_env.settings.quota_defaults, "pool": 7}
    assert client.get("/v2/lbaas/quotas/defaults").json()["quota"]["pool"] == 7
    _set_quota(client, "p1", listener=3)
    quota = client.get("/v2/lbaas/quotas/p1").json()["quota"]
    assert quota["pool"] == 7  # null column: the default, also when the default changes
    assert quota["listener"] == 3


def test_unset_project_shows_defaults(client: TestClient) -> None:
    r = client.get("/v2/lbaas/quotas/p1")
    assert r.status_code == 200
    quota = r.json()["quota"]
    assert quota["project_id"] == "p1"
    assert all(quota[k] == -1 for k in KEYS)
    assert client.get("/v2/lbaas/quotas").json() == {"quotas": [], "quotas_links": []}


def test_put_get_list_delete(client: TestClient) -> None:
    quota = _set_quota(client, "p1", loadbalancer=5, member=10)
    assert quota["project_id"] == "p1"
    assert quota["loadbalancer"] == quota["load_balancer"] == 5
    assert quota["member"] == 10
    assert quota["pool"] == -1
    assert client.get("/v2/lbaas/quotas/p1").json()["quota"] == quota

    # Only the keys sent change; null means "back to the default".
    quota = _set_quota(client, "p1", member=None, pool=0)
    assert (quota["loadbalancer"], quota["member"], quota["pool"]) == (5, -1, 0)

    listed = client.get("/v2/lbaas/quotas").json()
    assert listed["quotas_links"] == []
    assert [q["project_id"] for q in listed["quotas"]] == ["p1"]
    assert listed["quotas"][0] == quota
    fields = client.get("/v2/lbaas/quotas?fields=project_id&fields=pool").json()["quotas"]
    assert fields == [{"project_id": "p1", "pool": 0}]

    r = client.delete("/v2/lbaas/quotas/p1")
    assert r.status_code == 202
    assert r.content == b""
    assert all(v == -1 for k, v in client.get("/v2/lbaas/quotas/p1").json()["quota"].items() if k != "project_id")
    assert client.get("/v2/lbaas/quotas").json()["quotas"] == []
    assert client.delete("/v2/lbaas/quotas/never-set").status_code == 202


def test_deprecated_spellings(client: TestClient) -> None:
    quota = _set_quota(client, "p1", load_balancer=3, health_monitor=4)
    assert (quota["loadbalancer"], quota["load_balancer"]) == (3, 3)
    assert (quota["healthmonitor"], quota["health_monitor"]) == (4, 4)
    quota = _set_quota(client, "p1", load_balancer=1, loadbalancer=2)  # the current spelling wins
    assert quota["loadbalancer"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"quota": {"loadbalancer": -2}},
        {"quota": {"listener": 2_000_000_001}},
        {"quota": {"member": "5"}},
        {"quota": {"pool": True}},
        {"quota": {"pool": 1.5}},
        {"quota": {"bogus": 1}},
        {"loadbalancer": 1},
    ],
)
def test_put_validation(client: TestClient, body: dict[str, Any]) -> None:
    _fault(client.put("/v2/lbaas/quotas/p1", json=body), 400)
    assert client.get("/v2/lbaas/quotas").json()["quotas"] == []


def test_limits_of_range(client: TestClient) -> None:
    quota = _set_quota(client, "p1", loadbalancer=2_000_000_000, listener=-1, member=0)
    assert (quota["loadbalancer"], quota["listener"], quota["member"]) == (2_000_000_000, -1, 0)


def test_policy(client: TestClient, app_env: ServiceEnv) -> None:
    _set_quota(client, "p1", pool=1)
    _set_quota(client, "p2", pool=2)
    # A project member reads its own quotas only, and writes none.
    assert client.get("/v2/lbaas/quotas/p1", headers=MEMBER_OF).json()["quota"]["pool"] == 1
    _fault(client.get("/v2/lbaas/quotas/p2", headers=MEMBER_OF), 403, FORBIDDEN)
    assert [q["project_id"] for q in client.get("/v2/lbaas/quotas", headers=MEMBER_OF).json()["quotas"]] == ["p1"]
    _fault(client.put("/v2/lbaas/quotas/p1", json={"quota": {"pool": 9}}, headers=MEMBER_OF), 403, FORBIDDEN)
    _fault(client.delete("/v2/lbaas/quotas/p1", headers=MEMBER_OF), 403, FORBIDDEN)
    # A project id without roles is not the anonymous operator either.
    _fault(client.put("/v2/lbaas/quotas/p1", json={"quota": {"pool": 9}}, headers={"X-Project-Id": "p1"}), 403)
    # An admin sees and filters every project.
    admin = persona_headers("admin", "p3")
    assert len(client.get("/v2/lbaas/quotas", headers=admin).json()["quotas"]) == 2
    assert [q["project_id"] for q in client.get("/v2/lbaas/quotas?project_id=p2", headers=admin).json()["quotas"]] == [
        "p2"
    ]
    assert client.put("/v2/lbaas/quotas/p2", json={"quota": {"pool": 5}}, headers=admin).status_code == 202
    # An ordinary member of the default project.
    member = {"X-Project-Id": PROJECT}
    _fault(client.put("/v2/lbaas/quotas/p1", json={"quota": {"pool": 9}}, headers=member), 403, FORBIDDEN)
    _fault(client.get("/v2/lbaas/quotas/p1", headers=member), 403, FORBIDDEN)
    assert client.get(f"/v2/lbaas/quotas/{PROJECT}", headers=member).status_code == 200
    assert client.get("/v2/lbaas/quotas/p1", headers=member).status_code == 403
    assert client.get("/v2/lbaas/quotas/p2", headers=admin).json()["quota"]["pool"] == 5


# --------------------------------------------------------------------------- enforcement

HTTP_POOL = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}


def _lb_with_pool(client: TestClient, provider: NoopProvider, subnet: str) -> dict[str, Any]:
    lb = active_lb(
        client, provider, subnet,
        listeners=[{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p", **HTTP_POOL}}],
    )  # fmt: skip
    return lb


def _quota_refused(r: Any, resource: str) -> None:
    _fault(r, 403, f"Quota has been met for resources: {resource}")


def _lb_status(client: TestClient, lb_id: str) -> str:
    return str(client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]["provisioning_status"])


def test_quota_loadbalancer(client: TestClient, database: Database, provider: NoopProvider) -> None:
    subnet = make_subnet(database)
    _set_quota(client, PROJECT, loadbalancer=1)
    active_lb(client, provider, subnet)
    ports = _count(database, m.Port)
    _quota_refused(client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet}}), "loadbalancer")
    assert _count(database, m.LoadBalancer) == 1
    assert _count(database, m.Port) == ports  # no VIP port allocated for the refused LB
    # Another project is not limited by this record; unlimited again after a reset.
    other = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet, "project_id": "p2"}})
    assert other.status_code == 201
    client.delete(f"/v2/lbaas/quotas/{PROJECT}")
    assert client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet}}).status_code == 201


def test_quota_zero_refuses_first(client: TestClient, database: Database) -> None:
    subnet = make_subnet(database)
    _set_quota(client, PROJECT, loadbalancer=0)
    _quota_refused(client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet}}), "loadbalancer")


def test_quota_listener(client: TestClient, database: Database, provider: NoopProvider) -> None:
    lb = active_lb(client, provider, make_subnet(database))
    _set_quota(client, PROJECT, listener=1)
    body = {"listener": {"loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 80}}
    assert client.post("/v2/lbaas/listeners", json=body).status_code == 201
    settle(provider)
    body["listener"]["protocol_port"] = 81
    _quota_refused(client.post("/v2/lbaas/listeners", json=body), "listener")
    assert _count(database, m.Listener) == 1
    assert _lb_status(client, lb["id"]) == "ACTIVE"  # refused before the LB was locked


def test_quota_pool(client: TestClient, database: Database, provider: NoopProvider) -> None:
    lb = active_lb(client, provider, make_subnet(database))
    _set_quota(client, PROJECT, pool=1)
    body = {"pool": {"loadbalancer_id": lb["id"], **HTTP_POOL}}
    assert client.post("/v2/lbaas/pools", json=body).status_code == 201
    settle(provider)
    _quota_refused(client.post("/v2/lbaas/pools", json=body), "pool")
    assert _count(database, m.Pool) == 1
    assert _lb_status(client, lb["id"]) == "ACTIVE"


def test_quota_member_single_and_batch(client: TestClient, database: Database, provider: NoopProvider) -> None:
    lb = _lb_with_pool(client, provider, make_subnet(database))
    pool_id = lb["pools"][0]["id"] if lb["pools"] else client.get("/v2/lbaas/pools").json()["pools"][0]["id"]
    _set_quota(client, PROJECT, member=2)
    url = f"/v2/lbaas/pools/{pool_id}/members"
    assert client.post(url, json={"member": {"address": "10.0.0.10", "protocol_port": 80}}).status_code == 201
    settle(provider)
    assert client.post(url, json={"member": {"address": "10.0.0.11", "protocol_port": 80}}).status_code == 201
    settle(provider)
    _quota_refused(client.post(url, json={"member": {"address": "10.0.0.12", "protocol_port": 80}}), "member")
    assert _count(database, m.Member) == 2

    # Batch: growing past the limit is refused, whole; swapping one member for another is not growth.
    grow = [{"address": f"10.0.0.{i}", "protocol_port": 80} for i in (10, 11, 12)]
    _quota_refused(client.put(url, json={"members": grow}), "member")
    with database.read() as s:
        assert sorted(s.scalars(select(m.Member.address))) == ["10.0.0.10", "10.0.0.11"]
    assert _lb_status(client, lb["id"]) == "ACTIVE"
    swap = [{"address": "10.0.0.10", "protocol_port": 80}, {"address": "10.0.0.13", "protocol_port": 80}]
    assert client.put(url, json={"members": swap}).status_code == 202
    settle(provider)
    with database.read() as s:
        assert sorted(s.scalars(select(m.Member.address))) == ["10.0.0.10", "10.0.0.13"]


def test_quota_healthmonitor(client: TestClient, database: Database, provider: NoopProvider) -> None:
    lb = active_lb(client, provider, make_subnet(database))
    pools = []
    for _ in range(2):
        r = client.post("/v2/lbaas/pools", json={"pool": {"loadbalancer_id": lb["id"], **HTTP_POOL}})
        pools.append(r.json()["pool"]["id"])
        settle(provider)
    _set_quota(client, PROJECT, healthmonitor=1)
    hm = {"type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1}
    assert client.post("/v2/lbaas/healthmonitors", json={"healthmonitor": {"pool_id": pools[0], **hm}}).status_code == 201
    settle(provider)
    _quota_refused(
        client.post("/v2/lbaas/healthmonitors", json={"healthmonitor": {"pool_id": pools[1], **hm}}), "healthmonitor"
    )
    assert _count(database, m.HealthMonitor) == 1


def test_quota_l7policy_and_rule(client: TestClient, database: Database, provider: NoopProvider) -> None:
    lb = _lb_with_pool(client, provider, make_subnet(database))
    listener_id = client.get("/v2/lbaas/listeners").json()["listeners"][0]["id"]
    _set_quota(client, PROJECT, l7policy=1, l7rule=1)
    policy = {"listener_id": listener_id, "action": "REJECT"}
    r = client.post("/v2/lbaas/l7policies", json={"l7policy": policy})
    assert r.status_code == 201
    policy_id = r.json()["l7policy"]["id"]
    settle(provider)
    _quota_refused(client.post("/v2/lbaas/l7policies", json={"l7policy": policy}), "l7policy")
    assert _count(database, m.L7Policy) == 1

    rule = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/a"}
    assert client.post(f"/v2/lbaas/l7policies/{policy_id}/rules", json={"rule": rule}).status_code == 201
    settle(provider)
    _quota_refused(client.post(f"/v2/lbaas/l7policies/{policy_id}/rules", json={"rule": rule}), "l7rule")
    assert _count(database, m.L7Rule) == 1
    assert _lb_status(client, lb["id"]) == "ACTIVE"


@pytest.mark.parametrize("resource", ["listener", "pool", "member", "healthmonitor", "l7policy", "l7rule"])
def test_quota_graph_create(client: TestClient, database: Database, resource: str) -> None:
    """The fully populated create counts every child; one over any limit refuses the whole tree."""
    subnet = make_subnet(database)
    pool = {
        "name": "p", **HTTP_POOL,
        "members": [{"address": "10.0.0.10", "protocol_port": 80}, {"address": "10.0.0.11", "protocol_port": 80}],
        "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1},
    }  # fmt: skip
    l7 = {"action": "REJECT", "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/a"}] * 2}
    body = {
        "loadbalancer": {
            "vip_subnet_id": subnet,
            "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p"}, "l7policies": [l7]}],
            "pools": [pool],
        }
    }
    used = {"listener": 1, "pool": 1, "member": 2, "healthmonitor": 1, "l7policy": 1, "l7rule": 2}
    _set_quota(client, PROJECT, **{resource: used[resource] - 1})
    ports = _count(database, m.Port)
    _quota_refused(client.post("/v2/lbaas/loadbalancers", json=body), resource)
    for model in (m.LoadBalancer, m.Listener, m.Pool, m.Member, m.HealthMonitor, m.L7Policy, m.L7Rule):
        assert _count(database, model) == 0
    assert _count(database, m.Port) == ports
    _set_quota(client, PROJECT, **{resource: used[resource]})  # exactly at the limit is fine
    assert client.post("/v2/lbaas/loadbalancers", json=body).status_code == 201
