"""membership visibility

A member may show an organization membership on their public profile. Memberships stay
hidden unless the member makes them public (`PUT /orgs/{name}/membership`), so existing
rows become hidden ones.

Revision ID: 598a18286391
Revises: c0f6ddf7193e
Create Date: 2026-11-29 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '598a18286391'
down_revision: str | None = 'c0f6ddf7193e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_column('public')
