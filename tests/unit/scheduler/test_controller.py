"""The controller against a real database (SQLite and PostgreSQL): applies a plan with CAS and nudges."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import update

from lbaas.bus.inprocess import InProcessBus
from lbaas.db import lifecycle
from lbaas.db import models as m
from lbaas.db.session import Database
from lbaas.domain.agents import Timing
from lbaas.scheduler.controller import Controller, lb_views
from lbaas.services.agents import precise_utcnow

# Agents die in these tests when a test sets their heartbeat in the past, never by the clock: a loaded
# machine that takes seconds between a heartbeat and the controller's pass must not kill them.
LOAD_PROOF = Timing(down_time=600.0, suspect_time=300.0)


class Recorder:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def nudge(self, lb_ids: object) -> None:
        self.ids.extend(lb_ids)  # type: ignore[call-overload]

    def resync(self) -> None:
        pass


def setup(db: Database) -> dict[str, str]:
    ids = {}
    with db.write() as s:
        for host, az in (("a", "az1"), ("b", "az2"), ("c", "az1")):
            s.add(m.Agent(id=f"{host}-id", host=host, availability_zone=az, last_heartbeat=precise_utcnow()))
        prof = m.AvailabilityZoneProfile(
            id=m.new_id(), name="p", provider_name="haproxy", availability_zone_data=json.dumps({"compute_zone": "az2"})
        )
        s.add(prof)
        s.flush()
        s.add(m.AvailabilityZone(name="zone-two", availability_zone_profile_id=prof.id))
        for name, agent_id, status, az in (
            ("new", None, "PENDING_CREATE", None),
            ("zoned", None, "PENDING_CREATE", "zone-two"),
            ("on-a", "a-id", "ACTIVE", None),
            ("noop", None, "PENDING_CREATE", None),
        ):
            lb = m.LoadBalancer(
                id=m.new_id(),
                project_id="p",
                name=name,
                provider="noop" if name == "noop" else "haproxy",
                agent_id=agent_id,
                provisioning_status=status,
                availability_zone=az,
                generation=5,
                binding_epoch=1 if agent_id else 0,
            )
            s.add(lb)
            ids[name] = lb.id
    return ids


def lb(db: Database, lb_id: str) -> m.LoadBalancer:
    with db.read() as s:
        row = s.get(m.LoadBalancer, lb_id)
        assert row is not None
        return row


def test_controller_places_fails_over_and_nudges(database: Database) -> None:
    ids = setup(database)
    bus = InProcessBus()
    recs = {h: Recorder() for h in "abc"}
    for h, r in recs.items():
        bus.subscribe(h, r)
    ctl = Controller(database, bus, providers=["haproxy"], timing=LOAD_PROOF, max_dead_share=0.5)

    p = ctl.tick()
    assert lb(database, ids["zoned"]).agent_id == "b-id"  # compute_zone az2
    assert lb(database, ids["new"]).agent_id in ("b-id", "c-id")  # not a, which already has one
    assert lb(database, ids["noop"]).agent_id is None  # not an agent provider
    new = lb(database, ids["new"])
    assert new.binding_epoch == 1 and new.generation == 5 and new.provisioning_status == "PENDING_CREATE"
    assert len(p.moves) == 2 and ctl.tick().moves == []  # converged
    assert recs["b"].ids.count(ids["zoned"]) == 1

    with database.write() as s:  # a goes silent
        s.execute(update(m.Agent).where(m.Agent.id == "a-id").values(last_heartbeat=dt.datetime(2020, 1, 1)))
    ctl.tick()
    moved = lb(database, ids["on-a"])
    assert moved.agent_id in ("b-id", "c-id") and moved.binding_epoch == 2
    assert moved.generation == 6 and moved.provisioning_status == "PENDING_UPDATE"  # rebuilt on the new agent
    new_host = moved.agent_id[0]  # type: ignore[index]
    assert ids["on-a"] in recs[new_host].ids and ids["on-a"] in recs["a"].ids  # old holder nudged too


def test_rebind_cas_has_one_winner(database: Database) -> None:
    ids = setup(database)
    with database.write() as s:
        assert lifecycle.rebind(s, ids["on-a"], from_agent_id="a-id", from_epoch=1, to_agent_id="b-id", rebuild=True)
    with database.write() as s:  # a second controller with the same (now stale) view loses
        assert not lifecycle.rebind(s, ids["on-a"], from_agent_id="a-id", from_epoch=1, to_agent_id="c-id", rebuild=True)
    row = lb(database, ids["on-a"])
    assert row.agent_id == "b-id" and row.binding_epoch == 2 and row.generation == 6


def test_lb_views_carry_zone_and_previous_agent(database: Database) -> None:
    ids = setup(database)
    with database.write() as s:
        s.add(m.Amphora(id=m.new_id(), loadbalancer_id=ids["on-a"], agent_id="c-id", role="STANDALONE"))
    with database.read() as s:
        views = {v.id: v for v in lb_views(s, ["haproxy"])}
    assert set(views) == {ids["new"], ids["zoned"], ids["on-a"]}
    assert views[ids["zoned"]].zone == "az2" and views[ids["new"]].zone is None
    assert views[ids["on-a"]].previous_agent_id == "c-id" and views[ids["on-a"]].binding_epoch == 1


def test_breaker_stays_open_for_the_hold_after_recovery(database: Database) -> None:
    ids = setup(database)
    now = [0.0]
    ctl = Controller(
        database, InProcessBus(), providers=["haproxy"], timing=LOAD_PROOF, max_dead_share=0.5,
        breaker_hold=10.0, clock=lambda: now[0],
    )  # fmt: skip
    ctl.tick()  # place the new ones
    old = dt.datetime(2020, 1, 1)
    with database.write() as s:
        s.execute(update(m.Agent).where(m.Agent.id.in_(["a-id", "b-id"])).values(last_heartbeat=old))
    assert ids["on-a"] in ctl.tick().held  # 2 of 3 down: open
    with database.write() as s:  # b is back, a still dead: the rows alone would close the breaker
        s.execute(update(m.Agent).where(m.Agent.id == "b-id").values(last_heartbeat=precise_utcnow()))
    now[0] = 9.0
    assert ctl.tick().held == [ids["on-a"]] and lb(database, ids["on-a"]).agent_id == "a-id"
    now[0] = 10.5
    assert [mv.lb_id for mv in ctl.tick().moves] == [ids["on-a"]]
    assert lb(database, ids["on-a"]).agent_id in ("b-id", "c-id")
