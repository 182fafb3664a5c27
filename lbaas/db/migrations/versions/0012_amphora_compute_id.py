"""amphora.compute_id: the agent's id (a UUID) instead of the agent's host name

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 21:00:00

A data migration only: records written before it name the host; each becomes the id of the agent with
that host name, so the next apply keeps the record (and its amphora id) instead of replacing it. A host
with no agent row (the noop provider's) is left as it is: the next apply rewrites it.
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_amphora = sa.table('amphora', sa.column('compute_id', sa.String))
_agent = sa.table('agent', sa.column('id', sa.String), sa.column('host', sa.String))


def _rewrite(key: sa.ColumnClause[str], value: sa.ColumnClause[str]) -> None:
    """Each amphora whose compute_id is some agent's ``key`` gets that agent's ``value``."""
    match = key == _amphora.c.compute_id
    op.execute(_amphora.update().where(sa.exists().where(match))
               .values(compute_id=sa.select(value).where(match).scalar_subquery()))


def upgrade() -> None:
    _rewrite(_agent.c.host, _agent.c.id)


def downgrade() -> None:
    _rewrite(_agent.c.id, _agent.c.host)
