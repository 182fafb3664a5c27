"""neutron: revision_number on network/subnet/port, one network per (physnet, VLAN id)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('network', 'subnet', 'port'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('revision_number', sa.BigInteger(), server_default='1', nullable=False))
    with op.batch_alter_table('network', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_network_segment', ['physical_network', 'segmentation_id'])


def downgrade() -> None:
    with op.batch_alter_table('network', schema=None) as batch_op:
        batch_op.drop_constraint('uq_network_segment', type_='unique')
    for table in ('port', 'subnet', 'network'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('revision_number')
