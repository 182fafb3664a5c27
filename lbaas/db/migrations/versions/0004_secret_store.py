"""secret store: Barbican-style secrets and containers

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-06 13:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'secret',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('secret_type', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('algorithm', sa.String(length=255), nullable=True),
        sa.Column('bit_length', sa.Integer(), nullable=True),
        sa.Column('mode', sa.String(length=255), nullable=True),
        sa.Column('expiration', sa.DateTime(), nullable=True),
        sa.Column('creator_id', sa.String(length=255), nullable=True),
        sa.Column('payload_content_type', sa.String(length=255), nullable=True),
        sa.Column('payload', sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_secret')),
    )
    op.create_index(op.f('ix_secret_project_id'), 'secret', ['project_id'], unique=False)
    op.create_table(
        'secret_container',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('type', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('creator_id', sa.String(length=255), nullable=True),
        sa.Column('secret_refs', sa.JSON(), nullable=False),
        sa.Column('consumers', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_secret_container')),
    )
    op.create_index(op.f('ix_secret_container_project_id'), 'secret_container', ['project_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_secret_container_project_id'), table_name='secret_container')
    op.drop_table('secret_container')
    op.drop_index(op.f('ix_secret_project_id'), table_name='secret')
    op.drop_table('secret')
