"""ACTIVE_STANDBY scheduling as a pure function: placing pairs, failing over one instance, the breaker,
replacement on request one at a time (table tests over views, no database)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from lbaas.domain.agents import AgentView, Timing
from lbaas.scheduler.plan import InstanceView, plan

NOW = dt.datetime(2030, 1, 1, 12, 0, 0)
T = Timing(down_time=3.0, suspect_time=2.0)


def agent(host: str, *, silent: float | None = 0.5, az: str | None = None, up: bool = True, load: int = 0) -> AgentView:
    hb = None if silent is None else NOW - dt.timedelta(seconds=silent)
    return AgentView(id=host, host=host, availability_zone=az, admin_state_up=up, last_heartbeat=hb, load=load)


def pair(m: str | None, b: str | None, *, zone: str | None = None, replace: tuple[str, ...] = (),
         running: bool = True, master_state: str | None = None, backup_state: str | None = None,
         ) -> list[InstanceView]:  # fmt: skip
    return [
        InstanceView("m", "lb", "MASTER", m, 1 if m else 0, zone, "MASTER" in replace, running and m is not None,
                     master_state),
        InstanceView("b", "lb", "BACKUP", b, 1 if b else 0, zone, "BACKUP" in replace, running and b is not None,
                     backup_state),
    ]  # fmt: skip


def moves(insts: list[InstanceView], agents: list[AgentView]) -> tuple[dict[str, str], list[str], list[str]]:
    p = plan([], agents, NOW, T, max_dead_share=0.5, instances=insts)
    return {mv.amphora_id: mv.to_agent_id for mv in p.instance_moves}, p.unplaceable, p.held


FLEET = [agent("h1"), agent("h2"), agent("h3")]


@pytest.mark.parametrize(
    ("insts", "agents", "want", "unplaceable"),
    [
        # a new pair: two distinct agents (least loaded first)
        (pair(None, None), [agent("h1", load=3), agent("h2"), agent("h3")], {"m": "h2", "b": "h3"}, []),
        # one agent only: both or neither
        (pair(None, None), [agent("h1")], {}, ["lb"]),
        # two agents, one disabled, one dead: wait
        (pair(None, None), [agent("h1"), agent("h2", up=False), agent("h3", silent=None)], {}, ["lb"]),
        # the zone: only agents in it; two needed there
        (pair(None, None, zone="az1"), [agent("h1", az="az1"), agent("h2", az="az2"), agent("h3", az="az1")],
         {"m": "h1", "b": "h3"}, []),
        (pair(None, None, zone="az1"), [agent("h1", az="az1"), agent("h2", az="az2")], {}, ["lb"]),
        # one placed, the other not: never on the peer's agent
        (pair("h1", None), [agent("h1"), agent("h2", load=5)], {"b": "h2"}, []),
        (pair("h1", None), [agent("h1")], {}, ["lb"]),
        # both alive and placed: nothing
        (pair("h1", "h2"), FLEET, {}, []),
        # suspect (not dead) agent: left alone
        (pair("h1", "h2"), [agent("h1", silent=2.5), agent("h2"), agent("h3")], {}, []),
        # the MASTER's agent dead: only it moves, to the third agent (not the survivor's)
        (pair("h1", "h2"), [agent("h1", silent=10), agent("h2"), agent("h3", load=9)], {"m": "h3"}, []),
        # dead: only a live agent that is not the peer's takes it
        (pair("h1", "h2"), [agent("h1", silent=10), agent("h2"), agent("h4", silent=10), agent("h5")],
         {"m": "h5"}, []),
        (pair("h1", "h2"), [agent("h1", silent=10), agent("h2"), agent("h4"), agent("h5")], {"m": "h4"}, []),
        # the agent row is gone: like dead
        (pair("gone", "h2"), FLEET, {"m": "h1"}, []),
    ],
)
def test_pair_table(insts: list[InstanceView], agents: list[AgentView], want: dict[str, str],
                    unplaceable: list[str]) -> None:  # fmt: skip
    got, unpl, _ = moves(insts, agents)
    assert got == want
    assert unpl == unplaceable
    for mv_to in got.values():  # anti-affinity over the result
        assert list(got.values()).count(mv_to) == 1
    placed = {i.id: i.agent_id for i in insts}
    placed.update(got)
    assert placed["m"] != placed["b"] or None in placed.values()


def test_failover_move_is_a_new_record_and_counts() -> None:
    p = plan([], [agent("h1", silent=10), agent("h2"), agent("h3")], NOW, T, max_dead_share=0.5,
             instances=pair("h1", "h2"))  # fmt: skip
    (mv,) = p.instance_moves
    assert mv.failover and mv.new_record and mv.from_agent_id == "h1" and mv.from_epoch == 1
    assert mv.peer_agent_ids == ("h2",)


def test_breaker_holds_pair_failover() -> None:
    fleet = [agent("h1", silent=10), agent("h2", silent=10), agent("h3")]
    got, _, held = moves(pair("h1", "h3"), fleet)
    assert got == {} and held == ["lb"]
    p = plan([], FLEET[:2] + [agent("h3", silent=10)], NOW, T, max_dead_share=0.5, hold_open=True,
             instances=pair("h3", "h2"))  # fmt: skip
    assert p.instance_moves == [] and p.held == ["lb"]


def test_replacement_on_request_one_at_a_time() -> None:
    # both marked, both running: the one not measured MASTER goes first, avoiding its own agent and the peer's
    got, _, _ = moves(pair("h1", "h2", replace=("MASTER", "BACKUP"), master_state="MASTER"), FLEET)
    assert got == {"b": "h3"}
    # the other member of the pair is not running yet: wait
    got, _, _ = moves(pair("h1", "h2", replace=("MASTER",), running=False), FLEET)
    assert got == {}
    # the marked one itself need not run (an instance that never applied can be replaced)
    insts = pair("h1", "h2", replace=("MASTER",))
    insts[0] = dataclasses.replace(insts[0], running=False)
    got, _, _ = moves(insts, FLEET)
    assert got == {"m": "h3"}
    # only two agents: the replacement is rebuilt on its own agent (never on the peer's)
    got, _, _ = moves(pair("h1", "h2", replace=("MASTER",)), FLEET[:2])
    assert got == {"m": "h1"}
    # breaker open does not stop a replacement asked for (no agent is dead)
    got, _, _ = moves(pair("h1", "h2", replace=("BACKUP",)), FLEET)
    assert got == {"b": "h3"}


def test_loads_spread_pairs() -> None:
    insts = pair(None, None) + [
        InstanceView("m2", "lb2", "MASTER", None), InstanceView("b2", "lb2", "BACKUP", None),
    ]  # fmt: skip
    p = plan([], [agent("h1"), agent("h2"), agent("h3"), agent("h4")], NOW, T, max_dead_share=0.5, instances=insts)
    assert len({mv.to_agent_id for mv in p.instance_moves}) == 4


@pytest.mark.parametrize(("backup_state", "moved"), [(None, True), ("MASTER", True), ("FAULT", True), ("UNKNOWN", True),
                                                     ("BACKUP", False)])  # fmt: skip
def test_survivor_measured_backup_witnesses_the_dead_instance(backup_state: str | None, moved: bool) -> None:
    """The MASTER's agent is silent but the BACKUP still hears its adverts (a partition from the API, not
    from the peer): no rebuild, which would make a second VIP owner. Once the BACKUP takes the VIP
    (MASTER) or is in trouble, the lost one is rebuilt."""
    p = plan([], [agent("h1", silent=10), agent("h2"), agent("h3")], NOW, T, max_dead_share=0.5,
             instances=pair("h1", "h2", backup_state=backup_state))  # fmt: skip
    assert bool(p.instance_moves) is moved
    assert p.witnessed == ([] if moved else ["lb"])
