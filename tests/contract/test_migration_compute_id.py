"""Migration 0012: amphora records written with the host name as compute_id get the agent's id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from lbaas.db.migrate import alembic_config, upgrade
from tests.conftest import _drop_pg_db, _make_pg_db, _pg_available


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    if not _pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name, url = _make_pg_db()
    try:
        yield url
    finally:
        _drop_pg_db(name)


def test_host_names_become_agent_ids_and_back(empty_url: str) -> None:
    url = empty_url
    upgrade(url, "0011")
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO agent (id, host, admin_state_up, created_at) "
                          "VALUES ('a-1', 'host-1', true, '2026-12-06 00:00:00')"))  # fmt: skip
        for amp_id, compute in (("amp-1", "host-1"), ("amp-2", "gone-host"), ("amp-3", None)):
            c.execute(sa.text("INSERT INTO amphora (id, compute_id, role, status, binding_epoch, applied_generation, "
                              "created_at, updated_at) VALUES (:i, :c, 'STANDALONE', 'ALLOCATED', 0, 0, "
                              "'2026-12-06 00:00:00', '2026-12-06 00:00:00')"), {"i": amp_id, "c": compute})  # fmt: skip

    def computes() -> dict[str, str | None]:
        with engine.connect() as c:
            return dict(c.execute(sa.text("SELECT id, compute_id FROM amphora")).all())  # type: ignore[arg-type]

    upgrade(url, "0012")
    assert computes() == {"amp-1": "a-1", "amp-2": "gone-host", "amp-3": None}
    command.downgrade(alembic_config(url), "0011")
    assert computes() == {"amp-1": "host-1", "amp-2": "gone-host", "amp-3": None}
    engine.dispose()
