"""neutron: port_security_enabled kept per port (false is accepted, as Neutron accepts it)

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-06 13:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('port', schema=None) as batch_op:
        batch_op.add_column(sa.Column('port_security_enabled', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('port', schema=None) as batch_op:
        batch_op.drop_column('port_security_enabled')
