"""Alembic environment: the URL comes from HUB_DATABASE_URL (or the -x url=... option)."""

from __future__ import annotations

from typing import Any

from alembic import context

import hub.models  # noqa: F401  (registers every table on Base.metadata)
from hub.kit.db import Base, make_engine
from hub.kit.settings import get_settings
from hub.registry.models import POSTGRESQL_ONLY

config = context.config


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool,  # noqa: ARG001
                    compare_to: Any) -> bool:  # noqa: ARG001
    """Autogenerate's filter: objects marked `info={POSTGRESQL_ONLY: True}` in the models
    (the search tsvector column and its GIN index) exist on PostgreSQL only, and their
    migration skips other databases, so elsewhere they are left out of the comparison."""
    if context.get_context().dialect.name == "postgresql":
        return True
    return not getattr(obj, "info", {}).get(POSTGRESQL_ONLY, False)


def _url() -> str:
    x_args = context.get_x_argument(as_dictionary=True)
    return x_args.get("url") or config.get_main_option("sqlalchemy.url") or \
        get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True,
                      render_as_batch=True, include_object=_include_object)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=Base.metadata,
                          render_as_batch=True, include_object=_include_object)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True,
                          include_object=_include_object)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
