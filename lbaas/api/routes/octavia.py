"""Octavia v2 routes for load balancers, listeners, pools, members, health monitors and L7.

Each handler: parse → one transaction through a service → the same row shape back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import selectinload

from lbaas.api import listing
from lbaas.api.deps import Ctx, Db, Env, scope
from lbaas.api.responses import json_response
from lbaas.api.schemas import health_monitor as hm_s
from lbaas.api.schemas import l7 as l7_s
from lbaas.api.schemas import listener as li_s
from lbaas.api.schemas import load_balancer as lb_s
from lbaas.api.schemas import member as mb_s
from lbaas.api.schemas import pool as pool_s
from lbaas.db import listing as db_listing
from lbaas.db import models as m
from lbaas.db import rows
from lbaas.db.session import Database
from lbaas.domain import errors
from lbaas.services import health_monitors, l7, listeners, load_balancers, members, pools
from lbaas.services import policy as rbac
from lbaas.services.common import load

router = APIRouter(prefix="/lbaas")


def _fields(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    fields = listing._csv(request.query_params.getlist("fields"))
    return listing.select_fields(body, fields)


def _filters(view_model: Any) -> frozenset[str]:
    return frozenset(view_model.model_fields) | {"project_id"}


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1", "yes")


# --------------------------------------------------------------------------- load balancers


_LB_FILTERS = frozenset(lb_s.LoadBalancerResponse.model_fields) | {"project_id"}

# The two hottest reads (issue 5): rows, not ORM objects (lbaas.db.rows), two shape-cached statements
# on one pooled connection; the same answer as the ORM view (tests/contract/test_row_reads.py). On
# SQLite the read runs right on the event loop (sub-millisecond, and a WAL reader never waits for a
# lock), where a thread-pool hop and its GIL hand-over would cost more than the work; on PostgreSQL
# it waits for server round trips, so it runs in the thread pool like every other handler.


async def _read(db: Database, fn: Callable[[], Response]) -> Response:
    return await run_in_threadpool(fn) if db.reads_block else fn()


@router.get("/loadbalancers", response_model=None)
async def list_load_balancers(request: Request, db: Db, ctx: Ctx) -> Response:
    q = listing.parse(request)
    requested = q.filters.get("project_id", [])
    projects = rbac.list_scope(ctx, rbac.LOADBALANCER, requested)
    project = projects[0] if projects is not None and not requested else None  # else the filter narrows

    def read() -> Response:
        with db.read_rows() as conn:
            page = db_listing.page_rows(conn, m.LoadBalancer, q, project_id=project, allowed_filters=_LB_FILTERS)
            children = rows.lb_children(conn, page)
        body = listing.render_list(request, "loadbalancers", page, q, lambda r: lb_s.row_view(r, children[r.id]))
        return json_response(body)

    return await _read(db, read)


@router.post("/loadbalancers", status_code=201)
def create_load_balancer(body: lb_s.LoadBalancerRootCreate, request: Request, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    data = body.loadbalancer.model_dump(exclude_unset=True, mode="json")
    with db.write() as s:
        lb = load_balancers.create(s, ctx, env, data)
        out = lb_s.view(lb)
        if data.get("listeners") or data.get("pools"):
            out["listeners"] = [_full_listener(li) for li in lb.listeners]
            out["pools"] = [_full_pool(p) for p in lb.pools]
        return {"loadbalancer": out}


def _full_pool(pool: m.Pool) -> dict[str, Any]:
    out = pool_s.view(pool)
    out["members"] = [mb_s.view(mb) for mb in pool.members]
    out["healthmonitor"] = hm_s.view(pool.healthmonitor) if pool.healthmonitor is not None else None
    return out


def _full_listener(li: m.Listener) -> dict[str, Any]:
    out = li_s.view(li)
    out["l7policies"] = [{**l7_s.policy_view(p), "rules": [l7_s.rule_view(r) for r in p.rules]} for p in li.l7policies]
    return out


@router.get("/loadbalancers/{lb_id}", response_model=None)
async def get_load_balancer(lb_id: str, request: Request, db: Db, ctx: Ctx) -> Response:
    def read() -> Response:
        with db.read_rows() as conn:
            row = rows.lb_row(conn, lb_id)
            if row is None or row.provisioning_status == "DELETED":
                raise errors.NotFound("Load Balancer", lb_id)
            rbac.authorize(ctx, rbac.LOADBALANCER + rbac.GET_ONE, row.project_id)
            children = rows.lb_children_of(conn, lb_id)
        return json_response({"loadbalancer": _fields(request, lb_s.row_view(row, children))})

    return await _read(db, read)


@router.put("/loadbalancers/{lb_id}")
def update_load_balancer(lb_id: str, body: lb_s.LoadBalancerRootUpdate, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        lb = load_balancers.update(s, ctx, env, lb_id, body.loadbalancer.model_dump(exclude_unset=True, mode="json"))
        return {"loadbalancer": lb_s.view(lb)}


@router.delete("/loadbalancers/{lb_id}", status_code=204)
def delete_load_balancer(lb_id: str, request: Request, db: Db, ctx: Ctx) -> Response:
    with db.write() as s:
        load_balancers.delete(s, ctx, lb_id, cascade=_truthy(request.query_params.get("cascade")))
    return Response(status_code=204)


@router.get("/loadbalancers/{lb_id}/status")
@router.get("/loadbalancers/{lb_id}/statuses", include_in_schema=False)
def load_balancer_status(lb_id: str, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        return load_balancers.status_tree(s, ctx, lb_id)


@router.get("/loadbalancers/{lb_id}/stats")
def load_balancer_stats(lb_id: str, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        return {"stats": load_balancers.stats(s, ctx, lb_id)}


@router.put("/loadbalancers/{lb_id}/failover", status_code=202)
def failover_load_balancer(lb_id: str, db: Db, ctx: Ctx) -> Response:
    with db.write() as s:
        load_balancers.failover(s, ctx, lb_id)
    return Response(status_code=202)


# --------------------------------------------------------------------------- listeners


@router.get("/listeners")
def list_listeners(request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    q = listing.parse(request)
    with db.read() as s:
        page = db_listing.page(
            s, m.Listener, q, where=scope(m.Listener, ctx, rbac.LISTENER, q), allowed_filters=_filters(li_s.ListenerResponse) | {"loadbalancer_id"},
            options=(selectinload(m.Listener.l7policies),),
        )  # fmt: skip
        return listing.render_list(request, "listeners", page, q, li_s.view)


@router.post("/listeners", status_code=201)
def create_listener(body: li_s.ListenerRootCreate, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        li = listeners.create(s, ctx, env, body.listener.model_dump(exclude_unset=True, mode="json"))
        return {"listener": li_s.view(li)}


@router.get("/listeners/{listener_id}")
def get_listener(listener_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        return {"listener": _fields(request, li_s.view(load(s, m.Listener, listener_id, ctx, "Listener")))}


@router.put("/listeners/{listener_id}")
def update_listener(listener_id: str, body: li_s.ListenerRootUpdate, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        li = listeners.update(s, ctx, env, listener_id, body.listener.model_dump(exclude_unset=True, mode="json"))
        return {"listener": li_s.view(li)}


@router.delete("/listeners/{listener_id}", status_code=204)
def delete_listener(listener_id: str, db: Db, ctx: Ctx) -> Response:
    with db.write() as s:
        listeners.delete(s, ctx, listener_id)
    return Response(status_code=204)


@router.get("/listeners/{listener_id}/stats")
def listener_stats(listener_id: str, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        return {"stats": load_balancers.listener_stats(s, ctx, listener_id)}


# --------------------------------------------------------------------------- pools


@router.get("/pools")
def list_pools(request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    q = listing.parse(request)
    with db.read() as s:
        page = db_listing.page(
            s, m.Pool, q, where=scope(m.Pool, ctx, rbac.POOL, q), allowed_filters=_filters(pool_s.PoolResponse) | {"loadbalancer_id"},
            options=(selectinload(m.Pool.members), selectinload(m.Pool.listeners), selectinload(m.Pool.healthmonitor),
                     selectinload(m.Pool.l7policies)),
        )  # fmt: skip
        return listing.render_list(request, "pools", page, q, pool_s.view)


@router.post("/pools", status_code=201)
def create_pool(body: pool_s.PoolRootCreate, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        return {"pool": pool_s.view(pools.create(s, ctx, env, body.pool.model_dump(exclude_unset=True, mode="json")))}


@router.get("/pools/{pool_id}")
def get_pool(pool_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        return {"pool": _fields(request, pool_s.view(load(s, m.Pool, pool_id, ctx, "Pool")))}


@router.put("/pools/{pool_id}")
def update_pool(pool_id: str, body: pool_s.PoolRootUpdate, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        pool = pools.update(s, ctx, env, pool_id, body.pool.model_dump(exclude_unset=True, mode="json"))
        return {"pool": pool_s.view(pool)}


@router.delete("/pools/{pool_id}", status_code=204)
def delete_pool(pool_id: str, db: Db, ctx: Ctx) -> Response:
    with db.write() as s:
        pools.delete(s, ctx, pool_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------- members


@router.get("/pools/{pool_id}/members")
def list_members(pool_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    q = listing.parse(request)
    with db.read() as s:
        load(s, m.Pool, pool_id, ctx, "Pool", rbac.MEMBER + rbac.GET_ALL)
        page = db_listing.page(
            s, m.Member, q, where=[m.Member.pool_id == pool_id],
            allowed_filters=_filters(mb_s.MemberResponse),
        )  # fmt: skip
        return listing.render_list(request, "members", page, q, mb_s.view)


@router.post("/pools/{pool_id}/members", status_code=201)
def create_member(pool_id: str, body: mb_s.MemberRootCreate, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        mb = members.create(s, ctx, env, pool_id, body.member.model_dump(exclude_unset=True, mode="json"))
        return {"member": mb_s.view(mb)}


@router.put("/pools/{pool_id}/members", status_code=202)
def batch_update_members(
    pool_id: str, body: mb_s.MembersRootBatch, request: Request, db: Db, env: Env, ctx: Ctx
) -> Response:
    data = [mb.model_dump(exclude_unset=True, mode="json") for mb in body.members]
    with db.write() as s:
        members.batch_update(
            s, ctx, env, pool_id, data, additive_only=_truthy(request.query_params.get("additive_only"))
        )
    return Response(status_code=202)


@router.get("/pools/{pool_id}/members/{member_id}")
def get_member(pool_id: str, member_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        return {"member": _fields(request, mb_s.view(members.get(s, ctx, pool_id, member_id)))}


@router.put("/pools/{pool_id}/members/{member_id}")
def update_member(
    pool_id: str, member_id: str, body: mb_s.MemberRootUpdate, db: Db, env: Env, ctx: Ctx
) -> dict[str, Any]:
    with db.write() as s:
        mb = members.update(s, ctx, env, pool_id, member_id, body.member.model_dump(exclude_unset=True, mode="json"))
        return {"member": mb_s.view(mb)}


@router.delete("/pools/{pool_id}/members/{member_id}", status_code=204)
def delete_member(pool_id: str, member_id: str, db: Db, ctx: Ctx) -> Response:
    with db.write() as s:
        members.delete(s, ctx, pool_id, member_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------- health monitors


@router.get("/healthmonitors")
def list_health_monitors(request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    q = listing.parse(request)
    with db.read() as s:
        page = db_listing.page(
            s, m.HealthMonitor, q, where=scope(m.HealthMonitor, ctx, rbac.HEALTHMONITOR, q),
            allowed_filters=_filters(hm_s.HealthMonitorResponse) | {"pool_id"},
        )  # fmt: skip
        return listing.render_list(request, "healthmonitors", page, q, hm_s.view)


@router.post("/healthmonitors", status_code=201)
def create_health_monitor(body: hm_s.HealthMonitorRootCreate, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        hm = health_monitors.create(s, ctx, env, body.healthmonitor.model_dump(exclude_unset=True, mode="json"))
        return {"healthmonitor": hm_s.view(hm)}


@router.get("/healthmonitors/{hm_id}")
def get_health_monitor(hm_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        return {"healthmonitor": _fields(request, hm_s.view(load(s, m.HealthMonitor, hm_id, ctx, "Health Monitor")))}


@router.put("/healthmonitors/{hm_id}")
def update_health_monitor(hm_id: str, body: hm_s.HealthMonitorRootUpdate, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        hm = health_monitors.update(s, ctx, env, hm_id, body.healthmonitor.model_dump(exclude_unset=True, mode="json"))
        return {"healthmonitor": hm_s.view(hm)}


@router.delete("/healthmonitors/{hm_id}", status_code=204)
def delete_health_monitor(hm_id: str, db: Db, ctx: Ctx) -> Response:
    with db.write() as s:
        health_monitors.delete(s, ctx, hm_id)
    return Response(status_code=204)


# --------------------------------------------------------------------------- l7 policies and rules


@router.get("/l7policies")
def list_l7policies(request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    q = listing.parse(request)
    with db.read() as s:
        page = db_listing.page(
            s, m.L7Policy, q, where=scope(m.L7Policy, ctx, rbac.L7POLICY, q), allowed_filters=_filters(l7_s.L7PolicyResponse),
            options=(selectinload(m.L7Policy.rules),),
        )  # fmt: skip
        return listing.render_list(request, "l7policies", page, q, l7_s.policy_view)


@router.post("/l7policies", status_code=201)
def create_l7policy(body: l7_s.L7PolicyRootCreate, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        policy = l7.create_policy(s, ctx, env, body.l7policy.model_dump(exclude_unset=True, mode="json"))
        return {"l7policy": l7_s.policy_view(policy)}


@router.get("/l7policies/{policy_id}")
def get_l7policy(policy_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        return {"l7policy": _fields(request, l7_s.policy_view(load(s, m.L7Policy, policy_id, ctx, "L7 Policy")))}


@router.put("/l7policies/{policy_id}")
def update_l7policy(policy_id: str, body: l7_s.L7PolicyRootUpdate, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        policy = l7.update_policy(s, ctx, env, policy_id, body.l7policy.model_dump(exclude_unset=True, mode="json"))
        return {"l7policy": l7_s.policy_view(policy)}


@router.delete("/l7policies/{policy_id}", status_code=204)
def delete_l7policy(policy_id: str, db: Db, ctx: Ctx) -> Response:
    with db.write() as s:
        l7.delete_policy(s, ctx, policy_id)
    return Response(status_code=204)


@router.get("/l7policies/{policy_id}/rules")
def list_l7rules(policy_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    q = listing.parse(request)
    with db.read() as s:
        load(s, m.L7Policy, policy_id, ctx, "L7 Policy", rbac.L7RULE + rbac.GET_ALL)
        page = db_listing.page(
            s, m.L7Rule, q, where=[m.L7Rule.l7policy_id == policy_id],
            allowed_filters=_filters(l7_s.L7RuleResponse),
        )  # fmt: skip
        return listing.render_list(request, "rules", page, q, l7_s.rule_view)


@router.post("/l7policies/{policy_id}/rules", status_code=201)
def create_l7rule(policy_id: str, body: l7_s.L7RuleRootCreate, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        rule = l7.create_rule(s, ctx, env, policy_id, body.rule.model_dump(exclude_unset=True, mode="json"))
        return {"rule": l7_s.rule_view(rule)}


@router.get("/l7policies/{policy_id}/rules/{rule_id}")
def get_l7rule(policy_id: str, rule_id: str, request: Request, db: Db, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        return {"rule": _fields(request, l7_s.rule_view(l7.get_rule(s, ctx, policy_id, rule_id)))}


@router.put("/l7policies/{policy_id}/rules/{rule_id}")
def update_l7rule(
    policy_id: str, rule_id: str, body: l7_s.L7RuleRootUpdate, db: Db, env: Env, ctx: Ctx
) -> dict[str, Any]:
    with db.write() as s:
        rule = l7.update_rule(s, ctx, env, policy_id, rule_id, body.rule.model_dump(exclude_unset=True, mode="json"))
        return {"rule": l7_s.rule_view(rule)}


@router.delete("/l7policies/{policy_id}/rules/{rule_id}", status_code=204)
def delete_l7rule(policy_id: str, rule_id: str, db: Db, ctx: Ctx) -> Response:
    with db.write() as s:
        l7.delete_rule(s, ctx, policy_id, rule_id)
    return Response(status_code=204)
