"""search vector

Full-text search on PostgreSQL reads a stored tsvector of `environments.search_text`
through a GIN index instead of running to_tsvector() over every row on every search
(hub.registry.catalog._text_match). The column is GENERATED ALWAYS ... STORED, so the
database keeps it current on every INSERT and UPDATE of search_text; adding it computes
it for the existing rows (a rewrite of the table under an exclusive lock, quick at
catalog sizes). SQLite searches with LIKE and gets neither the column nor the index.

Revision ID: 91b0f160cf48
Revises: 598a18286391
Create Date: 2026-11-29 04:15:34.007016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '91b0f160cf48'
down_revision: str | None = '598a18286391'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As PostgreSQL reports the expression back (hub.registry.models.SEARCH_VECTOR_SQL).
SEARCH_VECTOR_SQL = "to_tsvector('english'::regconfig, COALESCE(search_text, ''::text))"


def _postgresql() -> bool:
    return op.get_context().dialect.name == 'postgresql'


def upgrade() -> None:
    if not _postgresql():
        return
    op.add_column('environments', sa.Column(
        'search_vector', postgresql.TSVECTOR(), sa.Computed(SEARCH_VECTOR_SQL, persisted=True),
        nullable=True))
    op.create_index('ix_environments_search_vector', 'environments', ['search_vector'],
                    unique=False, postgresql_using='gin')


def downgrade() -> None:
    if not _postgresql():
        return
    op.drop_index('ix_environments_search_vector', table_name='environments')
    op.drop_column('environments', 'search_vector')
