"""``GET /v2/octavia/loadbalancers/{id}/member_stats``: what the agent counted per member, visible as the LB is,
accumulated like listener stats, and gone with the member, its pool or its LB."""

from __future__ import annotations

from sqlalchemy import func, select

from lbaas.db import models as m
from lbaas.services import agents
from tests.contract.helpers import Cloud, assert_fault

URL = "/v2/octavia/loadbalancers/{}/member_stats"


def _report(cloud: Cloud, lb_id: str, deltas: dict[str, dict[str, int]]) -> None:
    with cloud.db.write() as s:
        agents.record_stats(s, lb_id, deltas)


def test_member_counters_accumulate_and_the_gauge_is_set(cloud: Cloud) -> None:
    lb, li, pool = cloud.http_stack()
    m1 = cloud.member(pool["id"], "10.0.0.11")
    m2 = cloud.member(pool["id"], "10.0.0.12")
    r = cloud.client.get(URL.format(lb["id"]))
    assert r.status_code == 200
    zeros = {"bytes_in": 0, "bytes_out": 0, "active_connections": 0, "total_connections": 0, "request_errors": 0}
    assert sorted(r.json()["members"], key=lambda x: x["id"]) == sorted(
        [{"id": m1["id"], "pool_id": pool["id"], **zeros}, {"id": m2["id"], "pool_id": pool["id"], **zeros}],
        key=lambda x: x["id"],
    )

    key = f"member:{m1['id']}"
    _report(
        cloud, lb["id"], {li["id"]: {"total_connections": 5}, key: {"total_connections": 3, "active_connections": 2}}
    )
    _report(cloud, lb["id"], {key: {"total_connections": 4, "active_connections": 1, "bytes_in": 100}})
    got = {x["id"]: x for x in cloud.client.get(URL.format(lb["id"])).json()["members"]}
    assert got[m1["id"]]["total_connections"] == 7  # counters add
    assert got[m1["id"]]["active_connections"] == 1  # the gauge is set
    assert got[m1["id"]]["bytes_in"] == 100
    assert got[m2["id"]]["total_connections"] == 0
    # Listener stats are untouched by member keys, and the other way round.
    assert cloud.client.get(f"/v2/lbaas/listeners/{li['id']}/stats").json()["stats"]["total_connections"] == 5
    assert cloud.client.get(f"/v2/lbaas/loadbalancers/{lb['id']}/stats").json()["stats"]["total_connections"] == 5


def test_a_report_for_an_unknown_or_foreign_member_is_dropped(cloud: Cloud) -> None:
    lb, _, pool = cloud.http_stack()
    other, _, other_pool = cloud.http_stack()
    foreign = cloud.member(other_pool["id"], "10.0.0.13")
    _report(cloud, lb["id"], {"member:no-such-member": {"total_connections": 1},
                              f"member:{foreign['id']}": {"total_connections": 1}})  # fmt: skip
    with cloud.db.read() as s:
        assert s.scalar(select(func.count()).select_from(m.MemberStats)) == 0


def test_member_stats_go_with_the_member_the_pool_and_the_lb(cloud: Cloud) -> None:
    lb, _, pool = cloud.http_stack()
    m1 = cloud.member(pool["id"], "10.0.0.11")
    m2 = cloud.member(pool["id"], "10.0.0.12")
    _report(cloud, lb["id"], {f"member:{x['id']}": {"total_connections": 1} for x in (m1, m2)})

    def rows() -> set[str]:
        with cloud.db.read() as s:
            return set(s.scalars(select(m.MemberStats.member_id)))

    assert rows() == {m1["id"], m2["id"]}
    cloud.client.delete(f"/v2/lbaas/pools/{pool['id']}/members/{m1['id']}")
    cloud.settle()
    assert rows() == {m2["id"]}
    cloud.client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true")
    cloud.settle()
    assert rows() == set()
    assert_fault(cloud.client.get(URL.format(lb["id"])), 404)


def test_visible_as_the_load_balancer_is(cloud: Cloud) -> None:
    lb, _, pool = cloud.http_stack()
    cloud.member(pool["id"], "10.0.0.11")
    owner = {"X-Project-Id": lb["project_id"], "X-Roles": "member"}
    stranger = {"X-Project-Id": "someone-else", "X-Roles": "member"}
    assert cloud.client.get(URL.format(lb["id"]), headers=owner).status_code == 200
    assert_fault(cloud.client.get(URL.format(lb["id"]), headers=stranger), 403)  # Octavia: another project's object
    assert_fault(cloud.client.get(URL.format("no-such-lb")), 404)
    assert cloud.client.get(f"/v2.0/octavia/loadbalancers/{lb['id']}/member_stats").status_code == 200
