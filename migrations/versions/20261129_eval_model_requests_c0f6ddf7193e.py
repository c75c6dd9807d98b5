"""eval model requests: the gateway's per-request usage records of hosted runs

Revision ID: c0f6ddf7193e
Revises: 2912726c5601
Create Date: 2026-11-29 03:57:16.557806
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c0f6ddf7193e'
down_revision: str | None = '2912726c5601'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'eval_model_requests',
        sa.Column('eval_id', sa.Uuid(), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('request_index', sa.Integer(), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('prompt_tokens', sa.Integer(), nullable=False),
        sa.Column('completion_tokens', sa.Integer(), nullable=False),
        sa.Column('latency_s', sa.Double(), nullable=False),
        sa.Column('stream', sa.Boolean(), nullable=False),
        sa.Column('estimated', sa.Boolean(), nullable=False),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(['eval_id'], ['evaluations.id'],
                                name=op.f('fk_eval_model_requests_eval_id_evaluations'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('eval_id', 'attempt', 'request_index',
                                name=op.f('pk_eval_model_requests')),
    )


def downgrade() -> None:
    op.drop_table('eval_model_requests')
