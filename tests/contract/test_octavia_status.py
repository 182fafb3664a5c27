"""Contract: once the data plane has applied an LB, the API shows Octavia's operating statuses.

The agent's path end to end, without HAProxy: the spec the agent gets from the database, what HAProxy
reports for it (``show stat`` rows, as HAProxy 2.6 writes them for this config), the status rules of
``lbaas.domain.status``, the fenced report, and what a client then reads. Octavia's conventions, as its
worker and health manager set them: a health monitor, an L7 policy and an L7 rule are ONLINE once
applied; a listener ONLINE; a pool with no members on a listener ONLINE; members without a monitor
NO_MONITOR; a pool on no listener OFFLINE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from lbaas.db import models as m
from lbaas.domain.spec import LoadBalancerSpec
from lbaas.domain.status import StatType, compute_statuses, haproxy_backend_name
from lbaas.services import agents
from tests.contract.helpers import HMS, LB, LISTENERS, POLICIES, POOLS, Cloud


@dataclass(frozen=True)
class Row:
    pxname: str
    svname: str
    type: StatType
    status: str
    weight: int | None = 1
    scur: int = 0
    slim: int | None = 100
    stot: int = 0
    bin: int = 0
    bout: int = 0
    ereq: int = 0


def haproxy_rows(spec: LoadBalancerSpec) -> list[Row]:
    """What HAProxy reports for the rendered config when every member answers: an OPEN frontend per
    listener; a backend per (pool, listener) that routes to it, UP (also with no servers); servers UP
    when checked, ``no check`` when the pool has no enabled monitor, MAINT when disabled."""
    rows: list[Row] = []
    pools = {p.id: p for p in spec.pools}
    for li in spec.listeners:
        rows.append(Row(li.id, "FRONTEND", StatType.FRONTEND, "OPEN"))
        routed = {li.default_pool_id, *(pol.redirect_pool_id for pol in li.l7policies)} - {None}
        for pool_id in sorted(p for p in routed if p is not None):
            pool = pools[pool_id]
            name = haproxy_backend_name(pool.id, li.id)
            rows.append(Row(name, "BACKEND", StatType.BACKEND, "UP"))
            for mb in pool.members:
                checked = pool.healthmonitor is not None and pool.healthmonitor.admin_state_up
                status = "MAINT" if not mb.admin_state_up else "UP" if checked else "no check"
                rows.append(Row(name, mb.id, StatType.SERVER, status))
    return rows


def applied_and_observed(cloud: Cloud, lb_id: str) -> None:
    """An agent on host-a applied the LB's current spec and reported what HAProxy measures."""
    with cloud.db.write() as s:
        agent = m.Agent(id=m.new_id(), host="host-a")
        s.add(agent)
        s.flush()
        s.execute(update(m.LoadBalancer).where(m.LoadBalancer.id == lb_id).values(agent_id=agent.id))
    with cloud.db.read() as s:
        spec = agents.spec_for(s, "host-a", lb_id)
    assert spec is not None
    statuses = {k: str(v) for k, v in compute_statuses(spec, haproxy_rows(spec)).by_id(lb_id).items()}
    with cloud.db.write() as s:
        assert agents.operating(s, "host-a", lb_id, statuses)


def op(cloud: Cloud, path: str, key: str) -> str:
    return str(cloud.get(path, key)["operating_status"])


def test_operating_statuses_follow_octavia_once_applied(cloud: Cloud) -> None:
    lb = cloud.lb()
    li = cloud.listener(lb["id"])
    empty = cloud.pool(listener_id=li["id"])  # on the listener, no members
    monitored = cloud.pool(loadbalancer_id=lb["id"])
    hm = cloud.hm(monitored["id"])
    checked = cloud.member(monitored["id"], "10.0.0.11")
    down = cloud.member(monitored["id"], "10.0.0.12", admin_state_up=False)
    plain = cloud.pool(loadbalancer_id=lb["id"])
    unchecked = cloud.member(plain["id"], "10.0.0.13")
    orphan = cloud.pool(loadbalancer_id=lb["id"])  # on no listener, no policy
    pol = cloud.policy(li["id"], action="REDIRECT_TO_POOL", redirect_pool_id=monitored["id"])
    rule = cloud.rule(pol["id"])
    off_pol = cloud.policy(li["id"], action="REDIRECT_TO_POOL", redirect_pool_id=plain["id"], position=2)
    off_rule = cloud.rule(off_pol["id"], admin_state_up=False)
    # applied (ACTIVE), before any measurement: monitors and L7 objects are ONLINE already, as Octavia's
    # worker marks them; members without a monitor NO_MONITOR
    assert op(cloud, f"{HMS}/{hm['id']}", "healthmonitor") == "ONLINE"
    assert op(cloud, f"{POLICIES}/{pol['id']}", "l7policy") == "ONLINE"
    assert op(cloud, f"{POLICIES}/{off_pol['id']}/rules/{off_rule['id']}", "rule") == "OFFLINE"
    assert unchecked["operating_status"] == "NO_MONITOR"

    applied_and_observed(cloud, lb["id"])

    want: dict[tuple[str, str], str] = {
        (f"{LB}/{lb['id']}", "loadbalancer"): "ONLINE",
        (f"{LISTENERS}/{li['id']}", "listener"): "ONLINE",
        (f"{POOLS}/{empty['id']}", "pool"): "ONLINE",
        (f"{POOLS}/{monitored['id']}", "pool"): "ONLINE",
        (f"{HMS}/{hm['id']}", "healthmonitor"): "ONLINE",
        (f"{POOLS}/{monitored['id']}/members/{checked['id']}", "member"): "ONLINE",
        (f"{POOLS}/{monitored['id']}/members/{down['id']}", "member"): "OFFLINE",
        (f"{POOLS}/{plain['id']}", "pool"): "ONLINE",
        (f"{POOLS}/{plain['id']}/members/{unchecked['id']}", "member"): "NO_MONITOR",
        (f"{POOLS}/{orphan['id']}", "pool"): "OFFLINE",
        (f"{POLICIES}/{pol['id']}", "l7policy"): "ONLINE",
        (f"{POLICIES}/{pol['id']}/rules/{rule['id']}", "rule"): "ONLINE",
        (f"{POLICIES}/{off_pol['id']}", "l7policy"): "ONLINE",
        (f"{POLICIES}/{off_pol['id']}/rules/{off_rule['id']}", "rule"): "OFFLINE",
    }
    assert {k: op(cloud, *k) for k in want} == want
    tree: dict[str, Any] = cloud.client.get(f"{LB}/{lb['id']}/status").json()["statuses"]["loadbalancer"]
    (tli,) = tree["listeners"]
    assert tli["operating_status"] == "ONLINE"
    by_pool = {p["id"]: p for p in tli["pools"]}
    assert by_pool[empty["id"]]["operating_status"] == "ONLINE"
    assert by_pool[monitored["id"]]["health_monitor"]["operating_status"] == "ONLINE"


def test_disabled_monitor_and_policy_are_offline_once_applied(cloud: Cloud) -> None:
    lb = cloud.lb()
    li = cloud.listener(lb["id"])
    pool = cloud.pool(listener_id=li["id"])
    hm = cloud.hm(pool["id"], admin_state_up=False)
    member = cloud.member(pool["id"])
    pol = cloud.policy(li["id"], admin_state_up=False)
    applied_and_observed(cloud, lb["id"])
    assert op(cloud, f"{HMS}/{hm['id']}", "healthmonitor") == "OFFLINE"
    assert op(cloud, f"{POLICIES}/{pol['id']}", "l7policy") == "OFFLINE"
    assert op(cloud, f"{POOLS}/{pool['id']}/members/{member['id']}", "member") == "NO_MONITOR"  # not checked
    with cloud.db.read() as s:
        assert s.scalar(select(m.LoadBalancer.operating_status).where(m.LoadBalancer.id == lb["id"])) == "ONLINE"


def test_monitor_and_l7_objects_are_online_in_the_step_that_makes_them_active(cloud: Cloud) -> None:
    """octavia-tempest-plugin reads a health monitor the moment it is ACTIVE and wants ONLINE (and lists
    it later expecting the same): the status must not wait for the agent's next measurement."""
    lb = cloud.lb()
    li = cloud.listener(lb["id"])
    pool = cloud.pool(listener_id=li["id"])
    created = cloud.post(HMS, "healthmonitor", {"pool_id": pool["id"], "type": "TCP", "delay": 2, "timeout": 1,
                                                "max_retries": 2})  # fmt: skip
    assert (created["provisioning_status"], created["operating_status"]) == ("PENDING_CREATE", "OFFLINE")
    cloud.settle()  # the provider applied it: no measurement has come in
    hm = cloud.get(f"{HMS}/{created['id']}", "healthmonitor")
    assert (hm["provisioning_status"], hm["operating_status"]) == ("ACTIVE", "ONLINE")
    cloud.put(f"{HMS}/{hm['id']}", "healthmonitor", {"admin_state_up": False})
    cloud.settle()
    assert cloud.get(f"{HMS}/{hm['id']}", "healthmonitor")["operating_status"] == "OFFLINE"
    pol = cloud.policy(li["id"])
    rule = cloud.rule(pol["id"])
    assert (pol["operating_status"], rule["operating_status"]) == ("ONLINE", "ONLINE")
    # a disabled LB: what it applies is OFFLINE
    cloud.put(f"{LB}/{lb['id']}", "loadbalancer", {"admin_state_up": False})
    cloud.settle()
    cloud.put(f"{HMS}/{hm['id']}", "healthmonitor", {"admin_state_up": True})
    cloud.settle()
    assert cloud.get(f"{HMS}/{hm['id']}", "healthmonitor")["operating_status"] == "OFFLINE"
