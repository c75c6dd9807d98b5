"""Real databases for tests: a fresh PostgreSQL database per run, built by Alembic.

Each test runs inside a transaction that is rolled back; services and routes commit
into a savepoint of it. Tests that need real commits (races, live servers) ask for
`committed_pg_url`, whose tables are emptied afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

import hub.models  # noqa: F401
from hub.kit.db import Base, make_engine
from hub.kit.migrate import upgrade

ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
START_HINT = (
    "PostgreSQL must run on 127.0.0.1:5432 with trust auth. Start it with:\n"
    "  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)


def create_database(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"cannot reach PostgreSQL ({exc}).\n{START_HINT}", pytrace=False)
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    url = create_database("envhub_test")
    upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_sessions(pg_engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions joined to one outer transaction that is rolled back after the test."""
    conn = pg_engine.connect()
    outer = conn.begin()
    factory = sessionmaker(bind=conn, join_transaction_mode="create_savepoint",
                           expire_on_commit=False)
    yield factory
    outer.rollback()
    conn.close()


@pytest.fixture
def db(db_sessions: sessionmaker[Session]) -> Iterator[Session]:
    session = db_sessions()
    yield session
    session.close()


def truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))


@pytest.fixture
def committed_sessions(pg_engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions that really commit (for races); every table is emptied afterwards."""
    yield sessionmaker(bind=pg_engine, expire_on_commit=False)
    truncate_all(pg_engine)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "hub.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url
