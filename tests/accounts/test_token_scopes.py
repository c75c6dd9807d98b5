"""Token scopes on account writes: revoking a token and starring need write scope, and a
token cannot mint a token that outlives it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts.models import ApiToken, TokenScope
from hub.kit.db import utcnow
from tests.support.hub import Account, MakeAccount
from tests.support.packages import build
from tests.support.publishing import publish


def _token_id(client: TestClient, who: Account, name: str) -> str:
    listed = client.get("/api/v1/tokens", headers=who.headers).json()
    return str(next(t["id"] for t in listed if t["name"] == name))


def test_a_read_token_cannot_revoke_tokens(client: TestClient, make_account: MakeAccount) -> None:
    reader = make_account("reader", scope=TokenScope.READ)
    own = _token_id(client, reader, "test")
    r = client.delete(f"/api/v1/tokens/{own}", headers=reader.headers)
    assert r.status_code == 403 and r.json()["code"] == "insufficient-scope"
    assert client.get("/api/v1/users/me", headers=reader.headers).status_code == 200

    writer = make_account("writer", scope=TokenScope.WRITE)
    own = _token_id(client, writer, "test")
    assert client.delete(f"/api/v1/tokens/{own}", headers=writer.headers).status_code == 204
    assert client.get("/api/v1/users/me", headers=writer.headers).status_code == 401


def test_starring_needs_write_scope(client: TestClient, make_account: MakeAccount,
                                    tmp_path: Path) -> None:
    author = make_account("author")
    assert publish(client, author.headers, "author", build(tmp_path, "env-a")).status_code == 201
    star = "/api/v1/environments/author/env-a/star"
    reader = make_account("reader", scope=TokenScope.READ)
    for call in (client.put, client.delete):
        r = call(star, headers=reader.headers)
        assert r.status_code == 403 and r.json()["code"] == "insufficient-scope"
    env = client.get("/api/v1/environments/author/env-a").json()
    assert env["stars"] == 0
    fan = make_account("fan", scope=TokenScope.WRITE)
    r = client.put(star, headers=fan.headers)
    assert r.status_code == 200 and r.json()["stars"] == 1 and r.json()["starred"] is True
    r = client.delete(star, headers=fan.headers)
    assert r.status_code == 200 and r.json()["stars"] == 0


def _expires_at(body: dict[str, object]) -> datetime | None:
    value = body["expires_at"]
    return datetime.fromisoformat(str(value)) if value is not None else None


def test_a_token_cannot_outlive_the_token_that_made_it(
    client: TestClient, make_account: MakeAccount, db_sessions: sessionmaker[Session]
) -> None:
    alice = make_account("alice")
    soon = utcnow() + timedelta(hours=1)
    with db_sessions() as db:
        token = db.get(ApiToken, uuid.UUID(_token_id(client, alice, "test")))
        assert token is not None
        token.expires_at = soon
        db.commit()

    def mint(**body: object) -> dict[str, object]:
        r = client.post("/api/v1/tokens", json={"name": "child", **body}, headers=alice.headers)
        assert r.status_code == 201, r.text
        return dict(r.json())

    # No expiry asked, or a later one: capped at the caller's.
    for body in ({}, {"expires_days": 30}):
        child = mint(**body)
        assert _expires_at(child) == soon
        # ...and the child really stops working then.
        with db_sessions() as db:
            stored = db.get(ApiToken, uuid.UUID(str(child["id"])))
            assert stored is not None and stored.expires_at == soon
    # A grandchild minted by the capped child is capped too.
    child = mint()
    r = client.post("/api/v1/tokens", json={"name": "grandchild"},
                    headers={"Authorization": f"Bearer {child['token']}"})
    assert r.status_code == 201 and _expires_at(r.json()) == soon

    # A token that never expires sets no cap.
    forever = make_account("bob")
    r = client.post("/api/v1/tokens", json={"name": "child", "expires_days": 7},
                    headers=forever.headers)
    expires = _expires_at(r.json())
    assert expires is not None and expires > utcnow() + timedelta(days=6)
    r = client.post("/api/v1/tokens", json={"name": "child2"}, headers=forever.headers)
    assert r.json()["expires_at"] is None


def test_a_browser_session_mints_tokens_freely(client: TestClient,
                                               make_account: MakeAccount) -> None:
    make_account("carol", password="correct horse")
    r = client.post("/api/v1/session", json={"username": "carol", "password": "correct horse"})
    csrf = {"X-CSRF-Token": r.json()["csrf_token"]}
    r = client.post("/api/v1/tokens", json={"name": "cli"}, headers=csrf)
    assert r.status_code == 201 and r.json()["expires_at"] is None
