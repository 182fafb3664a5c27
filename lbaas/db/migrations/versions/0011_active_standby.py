"""active_standby: per-instance binding and VRRP fields on amphora, the vrrp_group of an ACTIVE_STANDBY LB

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 17:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('amphora', schema=None) as batch_op:
        batch_op.add_column(sa.Column('binding_epoch', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('vrrp_priority', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('vrrp_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('vrrp_interface', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('vrrp_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('healthy', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('measured_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('applied_generation', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('operating_statuses', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_amphora_agent_id'), ['agent_id'], unique=False)
    op.create_table(
        'vrrp_group',
        sa.Column('load_balancer_id', sa.String(length=36), nullable=False),
        sa.Column('vrrp_group_name', sa.String(length=36), nullable=False),
        sa.Column('vip_network_id', sa.String(length=36), nullable=False),
        sa.Column('vrrp_id', sa.Integer(), nullable=False),
        sa.Column('advert_int', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['load_balancer_id'], ['load_balancer.id'],
                                name=op.f('fk_vrrp_group_load_balancer_id_load_balancer')),
        sa.PrimaryKeyConstraint('load_balancer_id', name=op.f('pk_vrrp_group')),
        sa.UniqueConstraint('vip_network_id', 'vrrp_id', name='uq_vrrp_group_network_vrrp_id'),
    )


def downgrade() -> None:
    op.drop_table('vrrp_group')
    with op.batch_alter_table('amphora', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_amphora_agent_id'))
        for col in ('operating_statuses', 'applied_generation', 'measured_at', 'healthy', 'vrrp_state', 'vrrp_interface', 'vrrp_id',
                    'vrrp_priority', 'binding_epoch'):
            batch_op.drop_column(col)
