"""Two publishers racing for the same version on real PostgreSQL: exactly one wins."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts import service as accounts
from hub.accounts.models import TokenScope
from hub.accounts.service import Principal
from hub.kit.errors import Conflict
from hub.kit.settings import Settings
from hub.kit.storage import LocalStorage
from hub.registry import publish
from hub.registry.models import Version
from hub.registry.schemas import UploadCreate
from tests.support.hub import SECRET
from tests.support.packages import Built, build


def _stage(
    sessions: sessionmaker[Session],
    settings: Settings,
    storage: LocalStorage,
    principal: Principal,
    built: Built,
) -> uuid.UUID:
    with sessions() as db:
        upload = publish.register(
            db,
            settings,
            principal,
            "alice",
            built.name,
            UploadCreate.model_validate(built.register_body()),
        )
        files = publish.upload_files(db, upload.id)
        db.commit()
    paths = {"wheel": built.wheel, "source": built.source}
    for f in files:
        with paths[f.kind].open("rb") as fh:
            storage.put_stream(f.staging_key, fh)
    return upload.id


def test_two_publishers_same_version_one_wins(
    committed_sessions: sessionmaker[Session], pg_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=pg_url, storage_url=f"file://{tmp_path}/blobs", secret_key=SECRET
    )
    storage = LocalStorage(tmp_path / "blobs")
    with committed_sessions() as db:
        user = accounts.create_user(db, "alice")
        accounts.create_token(db, user, "t", TokenScope.WRITE, secret_key=SECRET)
        db.commit()
    principal = Principal(user=user, scope=TokenScope.WRITE)
    a = build(tmp_path / "a", "race-env", "1.0.0", description="first")
    b = build(tmp_path / "b", "race-env", "1.0.0", description="second")
    uploads = [_stage(committed_sessions, settings, storage, principal, x) for x in (a, b)]

    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(upload_id: uuid.UUID) -> None:
        with committed_sessions() as db:
            barrier.wait()
            try:
                publish.finalize(db, settings, storage, principal, upload_id)
                db.commit()
                result = "published"
            except Conflict as exc:
                db.rollback()
                result = exc.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(u,)) for u in uploads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["published", "version-exists"]
    with committed_sessions() as db:
        assert db.scalar(select(func.count()).select_from(Version)) == 1
