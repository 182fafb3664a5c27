"""The in-process bus routes like AMQP; the router nudges the bound host and the hosts that last ran an LB."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from lbaas.bus.inprocess import InProcessBus
from lbaas.bus.router import NudgeRouter, targets
from lbaas.db import models as m
from lbaas.db.migrate import upgrade
from lbaas.db.session import Database


class Recorder:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self.resyncs = 0

    def nudge(self, lb_ids: Iterable[str]) -> None:
        self.ids.extend(lb_ids)

    def resync(self) -> None:
        self.resyncs += 1


def test_inprocess_bus_routes_by_host_and_fans_out_resync() -> None:
    bus = InProcessBus()
    a, b = Recorder(), Recorder()
    bus.subscribe("a", a)
    bus.subscribe("b", b)
    bus.publish("a", ["lb2", "lb1", "lb1"])
    bus.publish("nobody", ["lb3"])
    assert a.ids == ["lb1", "lb2"] and b.ids == []
    bus.resync_all()
    assert (a.resyncs, b.resyncs) == (1, 1)
    bus.connected = False
    bus.publish("a", ["lb4"])
    bus.resync_all()
    assert a.ids == ["lb1", "lb2"] and a.resyncs == 1
    assert bus.published == [("a", ("lb1", "lb2")), ("nobody", ("lb3",)), ("*", ())]


def _db(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    return Database(url)


def _lb(s: object, agent_id: str | None) -> str:
    lb = m.LoadBalancer(id=m.new_id(), project_id="p", agent_id=agent_id)
    s.add(lb)  # type: ignore[attr-defined]
    return lb.id


def test_targets_are_the_bound_host_and_previous_hosts(tmp_path: Path) -> None:
    db = _db(tmp_path)
    with db.write() as s:
        for host in ("a", "b", "c"):
            s.add(m.Agent(id=host + "-id", host=host))
        s.flush()
        on_a = _lb(s, "a-id")
        moved = _lb(s, "b-id")
        unbound = _lb(s, None)
        s.flush()
        s.add(m.Amphora(id=m.new_id(), loadbalancer_id=moved, agent_id="c-id"))
        s.add(m.Amphora(id=m.new_id(), loadbalancer_id=unbound, agent_id="c-id"))
    with db.read() as s:
        assert targets(s, [on_a, moved, unbound, "missing"]) == {"a": {on_a}, "b": {moved}, "c": {moved, unbound}}
        assert targets(s, []) == {}

    bus = InProcessBus()
    rec = Recorder()
    bus.subscribe("b", rec)
    router = NudgeRouter(db, bus)
    try:
        router.deliver([moved])
        deadline = time.monotonic() + 5
        while not rec.ids and time.monotonic() < deadline:
            time.sleep(0.02)
        assert rec.ids == [moved]
    finally:
        router.close()
        db.dispose()
