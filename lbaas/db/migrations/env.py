"""Alembic environment: the URL comes from the caller (lbaas.db.migrate), never from a global."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from lbaas.db.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
