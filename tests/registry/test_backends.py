"""The publish-install path on the other backends: S3 storage (moto server) and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts import service as accounts
from hub.accounts.models import TokenScope
from hub.app import create_app
from hub.kit.db import make_engine
from hub.kit.settings import Settings
from hub.kit.storage import LocalStorage, S3Storage, Storage
from tests.support.hub import SECRET
from tests.support.packages import build
from tests.support.publishing import publish


def _token(sessions: sessionmaker[Session], name: str) -> dict[str, str]:
    with sessions() as db:
        user = accounts.create_user(db, name)
        issued = accounts.create_token(db, user, "t", TokenScope.WRITE, secret_key=SECRET)
        db.commit()
    return {"Authorization": f"Bearer {issued.secret}"}


def _round_trip(
    client: TestClient, headers: dict[str, str], owner: str, tmp_path: Path, storage: Storage
) -> None:
    built = build(tmp_path, "backend-env", "0.3.0", keywords=["demo"])
    r = publish(client, headers, owner, built)
    assert r.status_code == 201, r.text
    version = r.json()
    keys = set(storage.list_keys("blobs/"))
    assert {f["sha256"] for f in version["files"]} <= {k.rsplit("/", 1)[1] for k in keys}
    assert not list(storage.list_keys("staging/"))
    wheel = next(f for f in version["files"] if f["kind"] == "wheel")
    dl = client.get(wheel["download_url"].removeprefix("http://testserver"), follow_redirects=False)
    if dl.status_code == 302:  # S3: a presigned GET, bytes never pass through the API
        dl = httpx.get(dl.headers["location"])
    assert dl.content == built.wheel.read_bytes()
    found = client.get("/api/v1/environments", params={"q": "backend"}).json()
    assert [e["name"] for e in found["items"]] == ["backend-env"]


def test_publish_with_s3_storage(
    pg_url: str,
    db_sessions: sessionmaker[Session],
    s3_storage: S3Storage,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(
        database_url=pg_url,
        secret_key=SECRET,
        public_url="http://testserver",
        storage_url="s3://unused",
    )
    app = create_app(settings, sessions=db_sessions, storage=s3_storage)
    with TestClient(app) as client:
        headers = _token(db_sessions, "s3user")
        reg_urls = []
        original_put = httpx.put

        def spy(url: str, **kw: object) -> httpx.Response:
            reg_urls.append(url)
            return original_put(url, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(httpx, "put", spy)
        _round_trip(client, headers, "s3user", tmp_path, s3_storage)
        # Upload URLs were presigned S3 URLs, not the hub's own.
        assert reg_urls and all("/api/v1/uploads/blob/" not in u for u in reg_urls)


@pytest.fixture
def sqlite_sessions(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(sqlite_url)
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


def test_publish_on_sqlite(
    sqlite_url: str, sqlite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "blobs")
    settings = Settings(
        database_url=sqlite_url,
        secret_key=SECRET,
        public_url="http://testserver",
        storage_url=f"file://{tmp_path}/blobs",
    )
    app = create_app(settings, sessions=sqlite_sessions, storage=storage)
    with TestClient(app) as client:
        _round_trip(client, _token(sqlite_sessions, "lite"), "lite", tmp_path, storage)
