"""Refusals that must leave nothing behind, the upload sweeper, metadata edits, counts."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.kit.db import utcnow
from hub.kit.storage import Storage
from hub.registry import publish
from hub.registry.models import Upload, Version
from tests.support.hub import MakeAccount
from tests.support.packages import build, sha256_of
from tests.support.publishing import register, upload_all


def _evil_wheel(good: Path, dest: Path) -> Path:
    """The same wheel plus a member that climbs out of the install root."""
    buf = io.BytesIO()
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(buf, "w") as out:
        for item in src.infolist():
            out.writestr(item, src.read(item))
        out.writestr("../../evil.py", b"import os")
    dest.write_bytes(buf.getvalue())
    return dest


def test_malicious_wheel_is_refused_and_leaves_nothing(
    client: TestClient, make_account: MakeAccount, tmp_path: Path, storage: Storage,
    db_sessions: sessionmaker[Session],
) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "env-a")
    built.wheel = _evil_wheel(built.wheel, tmp_path / built.wheel.name)
    reg = register(client, alice.headers, "alice", built).json()
    upload_all(client, reg, built)
    r = client.post(f"/api/v1/uploads/{reg['id']}/finalize", headers=alice.headers)
    assert r.status_code == 422
    assert r.json()["code"] == "archive-path-traversal"
    assert "evil.py" in r.json()["detail"]
    with db_sessions() as db:
        assert db.scalar(select(func.count()).select_from(Version)) == 0
    assert list(storage.list_keys("")) == []
    assert client.get("/api/v1/environments/alice/env-a").status_code == 404


def test_corrupt_wheel_bytes(client: TestClient, make_account: MakeAccount,
                             tmp_path: Path) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "env-a")
    built.wheel.write_bytes(b"this is not a zip file at all")
    reg = register(client, alice.headers, "alice", built).json()
    upload_all(client, reg, built)
    r = client.post(f"/api/v1/uploads/{reg['id']}/finalize", headers=alice.headers)
    assert r.status_code == 422 and r.json()["code"] == "archive-corrupt"


def test_content_hash_must_match_source(client: TestClient, make_account: MakeAccount,
                                        tmp_path: Path) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "env-a")
    reg = register(client, alice.headers, "alice", built, content_hash="0" * 64).json()
    upload_all(client, reg, built)
    r = client.post(f"/api/v1/uploads/{reg['id']}/finalize", headers=alice.headers)
    assert r.status_code == 422 and r.json()["code"] == "content-hash-mismatch"


def test_sweeper_removes_expired_uploads_and_their_bytes(
    client: TestClient, make_account: MakeAccount, tmp_path: Path, storage: Storage,
    db_sessions: sessionmaker[Session],
) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "env-a")
    reg = register(client, alice.headers, "alice", built).json()
    upload_all(client, reg, built)
    assert list(storage.list_keys("staging/"))
    with db_sessions() as db:
        assert publish.sweep_expired_uploads(db, storage) == 0  # not expired yet
        upload = db.scalars(select(Upload)).one()
        upload.expires_at = utcnow() - timedelta(seconds=1)
        db.flush()
        assert publish.sweep_expired_uploads(db, storage) == 1
        assert publish.sweep_expired_uploads(db, storage) == 0  # idempotent
        db.commit()
    assert list(storage.list_keys("staging/")) == []
    r = client.post(f"/api/v1/uploads/{reg['id']}/finalize", headers=alice.headers)
    assert r.status_code == 404 and r.json()["code"] == "upload-not-found"


def test_expired_upload_cannot_be_finalized(client: TestClient, make_account: MakeAccount,
                                            tmp_path: Path,
                                            db_sessions: sessionmaker[Session]) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "env-a")
    reg = register(client, alice.headers, "alice", built).json()
    upload_all(client, reg, built)
    with db_sessions() as db:
        db.scalars(select(Upload)).one().expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
    r = client.post(f"/api/v1/uploads/{reg['id']}/finalize", headers=alice.headers)
    assert r.status_code == 410 and r.json()["code"] == "upload-expired"


def test_someone_elses_upload_is_not_found(client: TestClient, make_account: MakeAccount,
                                           tmp_path: Path) -> None:
    alice, mallory = make_account("alice"), make_account("mallory")
    reg = register(client, alice.headers, "alice", build(tmp_path, "env-a")).json()
    r = client.post(f"/api/v1/uploads/{reg['id']}/finalize", headers=mallory.headers)
    assert r.status_code == 404


def test_patch_metadata_and_visibility(client: TestClient, make_account: MakeAccount,
                                       tmp_path: Path) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "env-a", keywords=["old"])
    reg = register(client, alice.headers, "alice", built).json()
    upload_all(client, reg, built)
    client.post(f"/api/v1/uploads/{reg['id']}/finalize", headers=alice.headers)
    r = client.patch("/api/v1/environments/alice/env-a",
                     json={"description": "New words", "tags": ["Math", "new"]},
                     headers=alice.headers)
    assert r.status_code == 200
    assert r.json()["description"] == "New words" and r.json()["tags"] == ["math", "new"]
    assert client.get("/api/v1/environments", params={"q": "words"}).json()["total"] == 1
    r = client.patch("/api/v1/environments/alice/env-a", json={"visibility": "private"},
                     headers=alice.headers)
    assert r.json()["visibility"] == "private"
    assert client.get("/api/v1/environments/alice/env-a").status_code == 404


def test_daily_download_series(client: TestClient, make_account: MakeAccount,
                               tmp_path: Path) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "env-a")
    reg = register(client, alice.headers, "alice", built).json()
    upload_all(client, reg, built)
    version = client.post(f"/api/v1/uploads/{reg['id']}/finalize", headers=alice.headers).json()
    url = next(f["download_url"] for f in version["files"] if f["kind"] == "wheel")
    for _ in range(3):
        got = client.get(url.removeprefix("http://testserver"))
        assert hashlib.sha256(got.content).hexdigest() == sha256_of(built.wheel)
    series = client.get("/api/v1/environments/alice/env-a/downloads", params={"days": 7}).json()
    assert len(series) == 7 and series[-1]["count"] == 3 and series[0]["count"] == 0
