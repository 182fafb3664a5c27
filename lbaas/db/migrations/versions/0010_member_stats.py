"""member_stats: per-member counters for the dashboard's member rates (an lbaas extension)

Revision ID: 0010
Revises: 0002
Create Date: 2026-12-06 13:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'member_stats',
        sa.Column('member_id', sa.String(length=36), nullable=False),
        sa.Column('pool_id', sa.String(length=36), nullable=False),
        sa.Column('loadbalancer_id', sa.String(length=36), nullable=False),
        sa.Column('bytes_in', sa.BigInteger(), nullable=False),
        sa.Column('bytes_out', sa.BigInteger(), nullable=False),
        sa.Column('active_connections', sa.BigInteger(), nullable=False),
        sa.Column('total_connections', sa.BigInteger(), nullable=False),
        sa.Column('request_errors', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('member_id', name=op.f('pk_member_stats')),
    )
    with op.batch_alter_table('member_stats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_stats_loadbalancer_id'), ['loadbalancer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_member_stats_pool_id'), ['pool_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('member_stats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_stats_pool_id'))
        batch_op.drop_index(batch_op.f('ix_member_stats_loadbalancer_id'))
    op.drop_table('member_stats')
