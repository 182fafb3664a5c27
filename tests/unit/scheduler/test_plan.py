"""Scheduling, failover and the circuit breaker as pure functions over views (no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from lbaas.domain.agents import AgentView, Liveness, Timing, breaker, liveness
from lbaas.scheduler.placement import LbView, candidates, least_loaded, policy
from lbaas.scheduler.plan import Move, plan

NOW = dt.datetime(2030, 1, 1, 12, 0, 0)
T = Timing(down_time=3.0, suspect_time=2.0)


def ago(seconds: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds)


def agent(host: str, *, silent: float | None = 0.5, az: str | None = None, up: bool = True, load: int = 0) -> AgentView:
    return AgentView(
        id=f"{host}-id",
        host=host,
        availability_zone=az,
        admin_state_up=up,
        last_heartbeat=None if silent is None else ago(silent),
        load=load,
    )


def run(lbs: list[LbView], agents: list[AgentView], share: float = 0.5):  # type: ignore[no-untyped-def]
    return plan(lbs, agents, NOW, T, max_dead_share=share)


@pytest.mark.parametrize(
    ("silent", "state"),
    [(0.0, Liveness.ALIVE), (2.0, Liveness.ALIVE), (2.01, Liveness.SUSPECT), (3.0, Liveness.SUSPECT), (3.01, Liveness.DEAD), (None, Liveness.DEAD)],
)
def test_liveness_boundaries(silent: float | None, state: Liveness) -> None:
    assert liveness(None if silent is None else ago(silent), NOW, T) is state


def test_timing_from_heartbeat_never_suspects_later_than_down() -> None:
    assert Timing.from_heartbeat(down_time=3.0, heartbeat_interval=1.0) == Timing(3.0, 2.0)
    assert Timing.from_heartbeat(down_time=3.0, heartbeat_interval=5.0) == Timing(3.0, 3.0)


def test_least_loaded_with_host_tiebreak() -> None:
    lb = LbView("lb")
    assert least_loaded(lb, [agent("b", load=1), agent("c", load=0), agent("a", load=1)]).host == "c"  # type: ignore[union-attr]
    assert least_loaded(lb, [agent("b"), agent("a")]).host == "a"  # type: ignore[union-attr]
    assert least_loaded(lb, []) is None
    assert policy("least_loaded") is least_loaded
    with pytest.raises(ValueError, match="unknown placement policy"):
        policy("random")


def test_candidates_filter_liveness_admin_state_and_zone() -> None:
    fleet = [
        agent("alive-az1", az="az1"),
        agent("alive-az2", az="az2"),
        agent("suspect", silent=2.5, az="az1"),
        agent("dead", silent=10, az="az1"),
        agent("disabled", up=False, az="az1"),
    ]
    assert [a.host for a in candidates(LbView("lb"), fleet, NOW, T)] == ["alive-az1", "alive-az2"]
    assert [a.host for a in candidates(LbView("lb", zone="az1"), fleet, NOW, T)] == ["alive-az1"]
    assert candidates(LbView("lb", zone="az3"), fleet, NOW, T) == []


def test_candidates_avoid_the_previous_agent_unless_it_is_the_only_one() -> None:
    a, b = agent("a"), agent("b")
    assert candidates(LbView("lb", previous_agent_id="a-id"), [a, b], NOW, T) == [b]
    assert candidates(LbView("lb", previous_agent_id="a-id"), [a], NOW, T) == [a]


def test_unbound_lbs_are_spread_over_live_agents() -> None:
    lbs = [LbView(f"lb{i}") for i in range(4)]
    p = run(lbs, [agent("a", load=1), agent("b"), agent("dead", silent=None)])
    assert [mv.to_agent_id for mv in p.moves] == ["b-id", "a-id", "b-id", "a-id"]
    assert not any(mv.failover for mv in p.moves)
    assert p.breaker is not None and not p.breaker.tripped


def test_bound_to_live_or_suspect_stays_and_dead_fails_over() -> None:
    fleet = [agent("a"), agent("s", silent=2.5), agent("d", silent=5), agent("c", load=3)]
    lbs = [LbView("on-a", "a-id", 1), LbView("on-s", "s-id", 1), LbView("on-d", "d-id", 4)]
    p = run(lbs, fleet)
    assert p.moves == [Move("on-d", "d-id", 4, "a-id", True)]
    assert p.breaker is not None and p.breaker.down == 2 and p.breaker.fleet == 4 and not p.breaker.tripped


def test_failover_spreads_a_dead_agents_lbs() -> None:
    fleet = [agent("a"), agent("b"), agent("d", silent=9, load=4)]
    lbs = [LbView(f"lb{i}", "d-id", 1) for i in range(4)]
    p = run(lbs, fleet)
    assert sorted(mv.to_agent_id for mv in p.moves) == ["a-id", "a-id", "b-id", "b-id"]
    assert all(mv.failover and mv.from_agent_id == "d-id" for mv in p.moves)


def test_lb_on_unknown_agent_is_placed_like_an_unbound_one() -> None:
    p = run([LbView("lb", "gone-id", 2)], [agent("a")])
    assert p.moves == [Move("lb", "gone-id", 2, "a-id", False)]


def test_no_candidate_in_zone_is_unplaceable() -> None:
    p = run([LbView("lb", zone="az9"), LbView("ok", zone="az1")], [agent("a", az="az1")])
    assert p.unplaceable == ["lb"] and [mv.lb_id for mv in p.moves] == ["ok"]


def test_breaker_trips_when_two_of_three_die_together() -> None:
    # Killed together: one is past the down time, the other one heartbeat behind (suspect).
    fleet = [agent("a", silent=3.5, load=2), agent("b", silent=2.6, load=1), agent("c", load=1)]
    lbs = [LbView("a1", "a-id"), LbView("a2", "a-id"), LbView("b1", "b-id"), LbView("c1", "c-id")]
    p = run(lbs, fleet)
    assert p.breaker is not None and p.breaker.tripped and p.breaker.down == 2 and p.breaker.fleet == 3
    assert p.moves == [] and p.held == ["a1", "a2"]
    # With a lax limit the same fleet fails over, and only onto the one live agent.
    lax = run(lbs, fleet, share=0.7)
    assert {mv.to_agent_id for mv in lax.moves} == {"c-id"} and len(lax.moves) == 2


def test_breaker_still_places_new_lbs() -> None:
    fleet = [agent("a", silent=9), agent("b", silent=9), agent("c")]
    p = run([LbView("new")], fleet)
    assert p.breaker is not None and p.breaker.tripped
    assert p.moves == [Move("new", None, 0, "c-id", False)]


def test_breaker_fleet_excludes_disabled_agents_without_lbs() -> None:
    retired = [agent(f"old{i}", silent=None, up=False) for i in range(5)]
    b = breaker([*retired, agent("a"), agent("b")], NOW, T, max_share=0.5)
    assert (b.down, b.fleet, b.tripped) == (0, 2, False)
    draining = agent("old-with-lbs", silent=None, up=False, load=1)
    b = breaker([draining, agent("a")], NOW, T, max_share=0.5)
    assert (b.down, b.fleet, b.tripped) == (1, 2, False)
    assert "1 of 2 agents down" in b.reason and "closed" in b.reason
    b = breaker([draining, agent("a")], NOW, T, max_share=0.4)
    assert b.tripped and "open" in b.reason
    assert not breaker([], NOW, T, max_share=0.5).tripped


def test_hold_open_keeps_failover_stopped_but_still_places_new_lbs() -> None:
    fleet = [agent("a", silent=9, load=1), agent("b"), agent("c")]
    lbs = [LbView("on-a", "a-id", 1), LbView("new")]
    p = plan(lbs, fleet, NOW, T, max_dead_share=0.5, hold_open=True)
    assert p.breaker is not None and not p.breaker.tripped
    assert p.held == ["on-a"] and [mv.lb_id for mv in p.moves] == ["new"]
