"""SQLite (the embedded default) keeps PostgreSQL's transaction semantics where the code
relies on them: a savepoint opened before the transaction's first write is still undone
by a rollback of the whole transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from hub.accounts import service as accounts
from hub.accounts.models import Namespace
from hub.kit.db import make_engine, utcnow
from hub.registry.models import Environment, Upload, UploadState, Visibility
from hub.registry.publish import get_or_create_env
from tests.support.db import upgrade


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    upgrade(url)  # a database of its own: the counts below are of this test's rows only
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_rollback_undoes_a_savepoint_opened_before_any_write(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    with Session(engine) as db:
        db.execute(text("SELECT 1"))  # a read: pysqlite has not begun a transaction yet
        with db.begin_nested():
            db.execute(text("INSERT INTO t VALUES (1)"))
        db.execute(text("INSERT INTO t VALUES (2)"))
        db.rollback()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0


def test_a_failed_first_publish_leaves_no_environment(engine: Engine) -> None:
    with Session(engine) as db:
        owner = accounts.create_user(db, "lite")
        db.commit()
        upload = Upload(owner_id=owner.id, name="first-env", version="0.1.0",
                        visibility=Visibility.PUBLIC, state=UploadState.PENDING,
                        created_by=owner.id, expires_at=utcnow())
        # What finalize does first (a savepoint-guarded create), then a later step fails.
        env = get_or_create_env(db, upload)
        assert env.id is not None
        db.rollback()
    with Session(engine) as db:
        assert db.scalar(select(func.count()).select_from(Environment)) == 0
        # The namespace claim (also savepoint-guarded) of a rolled-back sign-up is gone too.
        accounts.create_user(db, f"u{uuid.uuid4().hex[:6]}")
        db.rollback()
        assert db.scalar(select(func.count()).select_from(Namespace)) == 1
