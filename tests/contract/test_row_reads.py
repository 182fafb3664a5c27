"""The row read path (GET/list load balancers: ``listing.page_rows``, ``db.rows``, ``row_view``) answers
exactly what the ORM path (``listing.page`` + ``load_balancer.view``) answers, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import selectinload

from lbaas.api.schemas import load_balancer as lb_s
from lbaas.db import listing, rows
from lbaas.db import models as m
from tests.contract.helpers import LB, Cloud, assert_fault
from tests.contract.personas import persona_headers

FILTERS = frozenset(lb_s.LoadBalancerResponse.model_fields) | {"project_id"}


def _orm(cloud: Cloud, q: listing.ListQuery, project: str | None) -> tuple[list[dict[str, Any]], bool, bool]:
    with cloud.db.read() as s:
        page = listing.page(
            s, m.LoadBalancer, q, where=[] if project is None else [m.LoadBalancer.project_id == project],
            allowed_filters=FILTERS,
            options=(selectinload(m.LoadBalancer.listeners), selectinload(m.LoadBalancer.pools)),
        )  # fmt: skip
        return [lb_s.view(r) for r in page.rows], page.has_next, page.has_previous


def _rows(cloud: Cloud, q: listing.ListQuery, project: str | None) -> tuple[list[dict[str, Any]], bool, bool]:
    with cloud.db.read_rows() as conn:
        page = listing.page_rows(conn, m.LoadBalancer, q, project_id=project, allowed_filters=FILTERS)
        children = rows.lb_children(conn, page)
        return [lb_s.row_view(r, children[r.id]) for r in page.rows], page.has_next, page.has_previous


@pytest.fixture
def lbs(cloud: Cloud) -> list[dict[str, Any]]:
    """Five LBs: tags, two listeners and two pools on one (same second), nulls, microseconds, two projects."""
    made = [cloud.lb(name=f"lb{i}", tags=[f"t{i % 2}", "all"] if i < 4 else []) for i in range(4)]
    made.append(cloud.post(LB, "loadbalancer", {"vip_subnet_id": cloud.subnet_id, "description": "x", "project_id": "p2"}))
    cloud.settle()
    first = made[0]["id"]
    for port in (80, 81):
        li = cloud.listener(first, port=port)
        cloud.pool(listener_id=li["id"])
    with cloud.db.write() as s:  # a timestamp with microseconds, one with none, an updated_at of null
        s.execute(update(m.LoadBalancer).where(m.LoadBalancer.id == made[1]["id"])
                  .values(created_at=dt.datetime(2020, 1, 2, 3, 4, 5, 123456), updated_at=None))  # fmt: skip
        s.execute(update(m.LoadBalancer).where(m.LoadBalancer.id == made[2]["id"])
                  .values(admin_state_up=False, created_at=dt.datetime(2020, 1, 2, 3, 4, 5)))  # fmt: skip
    return made


QUERIES = [
    {},
    {"limit": 2},
    {"sort": [("name", "desc")]},
    {"sort": [("created_at", "asc"), ("name", "asc")], "limit": 3},
    {"sort": [("description", "asc")]},  # nullable: coalesced
    {"filters": {"name": ["lb1", "lb2"]}},
    {"filters": {"admin_state_up": ["false"]}},
    {"filters": {"name": ["lb1"], "operating_status": ["OFFLINE"]}},
    {"tags": ["all", "t1"]},
    {"tags_any": ["t0", "nope"]},
    {"not_tags": ["t0"]},
    {"not_tags_any": ["t1", "t0"]},
    {"limit": 0},
]


@pytest.mark.parametrize("query", QUERIES, ids=[str(q) for q in QUERIES])
@pytest.mark.parametrize("project", [None, "lbaas-default"])
def test_row_pages_match_the_orm(cloud: Cloud, lbs: list[dict[str, Any]], query: dict[str, Any],
                                 project: str | None) -> None:  # fmt: skip
    q = listing.ListQuery(**query)
    assert _rows(cloud, q, project) == _orm(cloud, q, project)


@pytest.mark.parametrize("reverse", [False, True])
def test_markers_walk_the_same_pages(cloud: Cloud, lbs: list[dict[str, Any]], reverse: bool) -> None:
    sort = [("name", "asc")]
    q = listing.ListQuery(limit=2, sort=sort, page_reverse=reverse)
    seen = 0
    while True:
        a, b = _rows(cloud, q, None), _orm(cloud, q, None)
        assert a == b
        seen += len(a[0])
        more = a[2] if reverse else a[1]
        if not more:
            break
        q = listing.ListQuery(limit=2, sort=sort, page_reverse=reverse, marker=a[0][0 if reverse else -1]["id"])
    assert seen == len(lbs)


def test_show_matches_the_orm(cloud: Cloud, lbs: list[dict[str, Any]], personas: None) -> None:
    for made in lbs[:4]:
        with cloud.db.read() as s:
            lb = s.get(m.LoadBalancer, made["id"])
            want = lb_s.view(lb)
        assert cloud.get(f"{LB}/{made['id']}", "loadbalancer") == want
    first = cloud.get(f"{LB}/{lbs[0]['id']}", "loadbalancer")
    assert len(first["listeners"]) == 2 and len(first["pools"]) == 2 and first["tags"] == ["all", "t0"]
    # another project's: Octavia's 403 for a member of project A; the operator sees it
    assert_fault(cloud.client.get(f"{LB}/{lbs[4]['id']}", headers=persona_headers("member")), 403)
    r = cloud.client.get(f"{LB}/{lbs[4]['id']}", headers=persona_headers("admin"))
    assert r.status_code == 200 and r.json()["loadbalancer"]["project_id"] == "p2"


def test_unknown_marker_and_sort_key_are_refused(cloud: Cloud, lbs: list[dict[str, Any]]) -> None:
    r = cloud.client.get(f"{LB}?marker=00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404, r.text
    r = cloud.client.get(f"{LB}?sort=nope:asc")
    assert r.status_code == 400, r.text
    r = cloud.client.get(f"{LB}?sort=name:sideways")
    assert r.status_code == 400, r.text
