"""Shared pieces of the CLI tests.

Most tests drive the CLI against the real hub app in-process (`RealHub`, the `real_hub`
fixture in conftest.py): real accounts, real publishes, PostgreSQL rolled back per test.
The `fake_*` / `FAKE_*` names here are for the few tests in test_fake_transport.py that
need a response the real hub cannot give on demand (a 5xx, a proxy's HTML, S3's XML).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import typer
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts.models import Namespace
from hub.cli import author
from hub.cli.client import HubClient
from hub.kit.storage import Storage
from hub.registry.models import Environment, File, Version
from tests.support.hub import PUBLIC_URL, Account
from tests.support.packages import Built
from tests.support.publishing import publish


def app() -> typer.Typer:
    """A root app with the author commands, as `hub/cli/main.py` builds it."""
    root = typer.Typer()
    author.register(root)
    return root


# --- the real hub, in-process -------------------------------------------------------------


class AppTransport(httpx.BaseTransport):
    """HubClient's httpx requests, sent to the real app through Starlette's TestClient.

    The TestClient (an httpx2.Client here) calls the ASGI app in-process, inside the
    lifespan the `client` fixture started. Each request goes over unchanged (headers, body;
    the TestClient holds no cookies, these tests never sign in); the answer comes back raw,
    undecoded and with redirects unfollowed, so HubClient handles it as it would one from
    the network. Requests are kept, to assert on what the CLI sent (query parameters,
    bodies, which requests carried a token).
    """

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        self.requests.append(request)
        sent = self.client.build_request(request.method, str(request.url),
                                         headers=request.headers.multi_items(), content=body)
        answer = self.client.send(sent, stream=True, follow_redirects=False)
        try:
            raw = b"".join(answer.iter_raw())
        finally:
            answer.close()
        return httpx.Response(answer.status_code, headers=answer.headers.multi_items(),
                              content=raw, request=request)


@dataclass
class RealHub:
    """The real FastAPI hub; every HubClient the CLI builds talks to it through `transport`."""

    http: TestClient  # direct API calls, to set up state and to read it back
    sessions: sessionmaker[Session]
    storage: Storage
    transport: AppTransport
    url: str = PUBLIC_URL

    @property
    def requests(self) -> list[httpx.Request]:
        return self.transport.requests

    def hub_client(self, token: str | None = None) -> HubClient:
        return HubClient(self.url, token, transport=self.transport)

    def publish(self, account: Account, built: Built, *, owner: str | None = None,
                visibility: str = "public") -> dict[str, Any]:
        r = publish(self.http, account.headers, owner or account.name, built, visibility)
        assert r.status_code == 201, r.text
        result: dict[str, Any] = r.json()
        return result

    def create_org(self, account: Account, name: str) -> None:
        r = self.http.post("/api/v1/orgs", json={"name": name}, headers=account.headers)
        assert r.status_code == 201, r.text

    def download(self, url: str, times: int = 1) -> None:
        for _ in range(times):
            assert self.http.get(url).status_code == 200

    def environment(self, owner: str, name: str) -> Environment | None:
        with self.sessions() as db:
            return db.scalar(
                select(Environment)
                .join(Namespace, Namespace.id == Environment.owner_id)
                .where(Namespace.name == owner, Environment.name == name)
            )

    def versions(self, env: Environment) -> list[Version]:
        with self.sessions() as db:
            return list(db.scalars(select(Version).where(Version.environment_id == env.id)))

    def files(self, version: Version) -> dict[str, File]:
        with self.sessions() as db:
            rows = db.scalars(select(File).where(File.version_id == version.id))
            return {row.kind.value: row for row in rows}

    def blob(self, key: str) -> bytes:
        with self.storage.open(key) as fh:
            return fh.read()


# --- fake transport only (test_fake_transport.py) ------------------------------------------

FAKE_HUB_URL = "http://hub.test"


def fake_problem(status: int, code: str, detail: str = "nope") -> httpx.Response:
    """A hand-written problem response, for statuses and codes the real hub cannot give."""
    body = {
        "type": f"https://envhub.dev/problems/{code}",
        "title": "t",
        "status": status,
        "detail": detail,
        "code": code,
    }
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})
