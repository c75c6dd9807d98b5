"""An in-process hub for API tests: real PostgreSQL (rolled back), real storage, TestClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts import service as accounts
from hub.accounts.models import TokenScope, User
from hub.app import create_app
from hub.kit.settings import Settings
from hub.kit.storage import LocalStorage, Storage

SECRET = "test-secret-key-not-for-production"
PUBLIC_URL = "http://testserver"


@pytest.fixture
def settings(tmp_path: Path, pg_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", database_url=pg_url,
        storage_url=f"file://{tmp_path / 'blobs'}", secret_key=SECRET, public_url=PUBLIC_URL,
        max_upload_bytes=50 * 1024 * 1024,
    )


@pytest.fixture
def storage(settings: Settings) -> Storage:
    return LocalStorage(Path(settings.storage_url.removeprefix("file://")))


@pytest.fixture
def app(settings: Settings, db_sessions: sessionmaker[Session], storage: Storage) -> FastAPI:
    return create_app(settings, sessions=db_sessions, storage=storage)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@dataclass
class Account:
    user: User
    token: str

    @property
    def name(self) -> str:
        return self.user.username

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


MakeAccount = Callable[..., Account]


@pytest.fixture
def make_account(db_sessions: sessionmaker[Session]) -> MakeAccount:
    def make(name: str, *, scope: TokenScope = TokenScope.WRITE, admin: bool = False,
             password: str | None = None) -> Account:
        with db_sessions() as db:
            user = accounts.create_user(db, name, is_admin=admin, password=password)
            issued = accounts.create_token(db, user, "test", scope, secret_key=SECRET)
            db.commit()
            return Account(user=user, token=issued.secret)

    return make
