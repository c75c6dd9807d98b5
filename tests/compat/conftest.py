"""One live hub per test module for the prime-client tests: uvicorn subprocess,
PostgreSQL, S3 storage on the moto server; accounts alice and bob, organization acme."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts import service as accounts
from hub.accounts.models import TokenScope
from hub.kit.db import make_engine
from hub.kit.storage import S3Storage
from tests.compat.prime_cli import Prime
from tests.support.db import create_database, drop_database
from tests.support.hub import SECRET
from tests.support.live import LiveHub, start_hub, stop_hub


@dataclass
class World:
    hub: LiveHub
    prime: Prime
    sessions: sessionmaker[Session]
    storage: S3Storage
    alice: str  # tokens
    bob: str
    reader: str  # a read-only token of alice's
    tmp: Path

    def api(self, method: str, path: str, token: str | None = None, **kw: object
            ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, f"{self.hub.url}{path}", headers=headers, timeout=60,
                             **kw)  # type: ignore[arg-type]

    def scaffold(self, name: str, *, v0: bool = False) -> Path:
        """A real environment from the hub's own `envhub init` templates."""
        parent = self.tmp / "envs"
        cmd = [str(Path(sys.executable).parent / "envhub"), "init", name, "--path", str(parent)]
        result = subprocess.run([*cmd, "--v0"] if v0 else cmd, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        return parent / name


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, s3_server: str) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("prime")
    db_url = create_database("envhub_prime")
    bucket = f"prime-{uuid.uuid4().hex[:12]}"
    (tmp / "hub").mkdir()
    proc, hub = start_hub(tmp / "hub", db_url, {
        "HUB_STORAGE_URL": f"s3://{bucket}", "HUB_S3_ENDPOINT_URL": s3_server,
        "HUB_S3_ACCESS_KEY_ID": "testing", "HUB_S3_SECRET_ACCESS_KEY": "testing",
        "HUB_S3_REGION": "us-east-1",
    })
    engine: Engine = make_engine(db_url)
    try:
        sessions = sessionmaker(bind=engine, expire_on_commit=False)
        # Accounts straight through the service (the `envhub admin` CLI does the same, but
        # each of its processes pays the app's import time).
        with sessions.begin() as db:
            users = {name: accounts.create_user(db, name) for name in ("alice", "bob")}
            accounts.create_org(db, "acme", users["alice"])
            tokens = {name: accounts.create_token(db, user, "t", TokenScope.WRITE,
                                                  secret_key=SECRET).secret
                      for name, user in users.items()}
            reader = accounts.create_token(db, users["alice"], "r", TokenScope.READ,
                                           secret_key=SECRET).secret
        storage = S3Storage(bucket, endpoint_url=s3_server, access_key="testing",
                            secret_key="testing")
        yield World(hub=hub, prime=Prime.create(tmp, hub.url),
                    sessions=sessions, storage=storage, alice=tokens["alice"],
                    bob=tokens["bob"], reader=reader, tmp=tmp)
    finally:
        stop_hub(proc)
        engine.dispose()
        drop_database(db_url)
