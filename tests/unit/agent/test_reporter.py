"""DbReporter: a restarted agent confirming thousands of LBs that are already recorded as applied reads,
and does not open a write transaction per LB."""

from __future__ import annotations

from pathlib import Path

import pytest

import lbaas.agent.reporter as reporter_mod
from lbaas.agent.reporter import DbReporter
from lbaas.db import models as m
from lbaas.db.migrate import upgrade
from lbaas.db.session import Database


@pytest.fixture
def db(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    return Database(url)


def _lb(db: Database) -> str:
    with db.write() as s:
        lb = m.LoadBalancer(id=m.new_id(), project_id="p", generation=3, observed_generation=0,
                            provisioning_status="PENDING_UPDATE")  # fmt: skip
        s.add(lb)
        return lb.id


def test_an_already_recorded_success_is_not_written_again(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    lb_id = _lb(db)
    rep = DbReporter(db, host="h1")
    writes: list[str] = []
    real = reporter_mod.lifecycle.complete
    monkeypatch.setattr(reporter_mod.lifecycle, "complete", lambda s, i, *a, **k: writes.append(i) or real(s, i, *a, **k))
    rep.applied(lb_id, 3, ok=True)  # first: recorded
    assert writes == [lb_id]
    with db.read() as s:
        lb = s.get(m.LoadBalancer, lb_id)
        assert lb is not None and lb.provisioning_status == "ACTIVE" and lb.observed_generation == 3
    rep.applied(lb_id, 3, ok=True)  # a restarted agent confirming it: nothing to write
    assert writes == [lb_id]
    DbReporter(db, host="h2").applied(lb_id, 3, ok=True)  # another host: its amphora record moves
    assert writes == [lb_id, lb_id]
    rep.applied(lb_id, 3, ok=False, message="refused")  # failures are always written
    assert writes == [lb_id, lb_id, lb_id]
    rep.applied(lb_id, 3, ok=True)  # a message to clear: written
    assert len(writes) == 4
    with db.write() as s:
        lb = s.get(m.LoadBalancer, lb_id)
        assert lb is not None
        lb.generation = 4  # a change in flight: the report of 3 is stale, complete() decides
    rep.applied(lb_id, 3, ok=True)
    assert len(writes) == 5
