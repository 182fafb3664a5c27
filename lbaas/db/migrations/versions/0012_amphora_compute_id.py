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


def upgrade() -> None:
    by_host = sa.select(_agent.c.id).where(_agent.c.host == _amphora.c.compute_id).scalar_subquery()
    op.execute(
        _amphora.update()
        .where(sa.exists().where(_agent.c.host == _amphora.c.compute_id))
        .values(compute_id=by_host)
    )


def downgrade() -> None:
    by_id = sa.select(_agent.c.host).where(_agent.c.id == _amphora.c.compute_id).scalar_subquery()
    op.execute(
        _amphora.update()
        .where(sa.exists().where(_agent.c.id == _amphora.c.compute_id))
        .values(compute_id=by_id)
    )
