"""sign-in lockout

Password sign-in (`POST /session`) locks an account for a while after repeated failures
(hub.accounts.throttle): `failed_sign_ins` counts consecutive failures since the last
success and `locked_until` says until when sign-in is refused. Existing users start with
no failures and no lock.

Revision ID: 4c1e7a9b2d53
Revises: 91b0f160cf48
Create Date: 2026-11-30 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '4c1e7a9b2d53'
down_revision: str | None = '91b0f160cf48'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_sign_ins', sa.Integer(), server_default=sa.text('0'),
                                      nullable=False))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_sign_ins')
