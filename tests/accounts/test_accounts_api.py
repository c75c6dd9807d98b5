from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts.models import ApiToken, TokenScope
from hub.kit.db import utcnow
from tests.support.hub import MakeAccount


def test_me_requires_a_token_and_answers_problem_json(client: TestClient) -> None:
    r = client.get("/api/v1/users/me")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "unauthenticated"
    assert body["status"] == 401
    assert "envhub login" in body["detail"]


def test_wrong_token_is_refused(client: TestClient) -> None:
    r = client.get("/api/v1/users/me", headers={"Authorization": "Bearer ehub_nope"})
    assert r.status_code == 401
    assert r.json()["code"] == "invalid-token"


def test_token_is_stored_hashed_and_shown_once(
    client: TestClient, make_account: MakeAccount, db_sessions: sessionmaker[Session]
) -> None:
    alice = make_account("alice")
    r = client.post("/api/v1/tokens", json={"name": "ci", "scope": "read", "expires_days": 7},
                    headers=alice.headers)
    assert r.status_code == 201
    secret = r.json()["token"]
    assert secret.startswith("ehub_")
    with db_sessions() as db:
        stored = db.scalars(select(ApiToken)).all()
        assert all(secret not in (t.token_hash, t.prefix) for t in stored)
    listed = client.get("/api/v1/tokens", headers=alice.headers).json()
    assert {t["name"] for t in listed} == {"test", "ci"}
    assert all("token" not in t for t in listed)
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.json()["username"] == "alice"


def test_revoked_and_expired_tokens_stop_working(
    client: TestClient, make_account: MakeAccount, db_sessions: sessionmaker[Session]
) -> None:
    alice = make_account("alice")
    made = client.post("/api/v1/tokens", json={"name": "tmp"}, headers=alice.headers).json()
    auth = {"Authorization": f"Bearer {made['token']}"}
    assert client.get("/api/v1/users/me", headers=auth).status_code == 200
    assert client.delete(f"/api/v1/tokens/{made['id']}", headers=alice.headers).status_code == 204
    r = client.get("/api/v1/users/me", headers=auth)
    assert r.status_code == 401 and r.json()["code"] == "invalid-token"

    expiring = client.post("/api/v1/tokens", json={"name": "exp", "expires_days": 1},
                           headers=alice.headers).json()
    with db_sessions() as db:
        token = db.get(ApiToken, __import__("uuid").UUID(expiring["id"]))
        assert token is not None
        token.expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
    r = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {expiring['token']}"})
    assert r.status_code == 401 and r.json()["code"] == "token-expired"


def test_last_used_is_recorded(client: TestClient, make_account: MakeAccount) -> None:
    alice = make_account("alice")
    client.get("/api/v1/users/me", headers=alice.headers)
    tokens = client.get("/api/v1/tokens", headers=alice.headers).json()
    assert tokens[0]["last_used_at"] is not None


def test_a_read_token_cannot_mint_a_write_token(client: TestClient,
                                                make_account: MakeAccount) -> None:
    reader = make_account("reader", scope=TokenScope.READ)
    r = client.post("/api/v1/tokens", json={"name": "x", "scope": "write"},
                    headers=reader.headers)
    assert r.status_code == 403 and r.json()["code"] == "insufficient-scope"


def test_org_membership_and_roles(client: TestClient, make_account: MakeAccount) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    r = client.post("/api/v1/orgs", json={"name": "lab"}, headers=alice.headers)
    assert r.status_code == 201 and r.json()["your_role"] == "owner"
    # Names are one namespace: an org cannot take a user's name.
    clash = client.post("/api/v1/orgs", json={"name": "bob"}, headers=alice.headers)
    assert clash.status_code == 409 and clash.json()["code"] == "name-taken"
    # bob cannot add himself
    r = client.put("/api/v1/orgs/lab/members/bob", json={"role": "write"}, headers=bob.headers)
    assert r.status_code == 404
    r = client.put("/api/v1/orgs/lab/members/bob", json={"role": "write"}, headers=alice.headers)
    assert r.status_code == 200
    assert {m["username"]: m["role"] for m in r.json()["members"]} == {
        "alice": "owner", "bob": "write"}
    # outsiders see the org but not its members
    outsider = client.get("/api/v1/orgs/lab").json()
    assert outsider["members"] is None
    # the last owner cannot leave
    r = client.delete("/api/v1/orgs/lab/members/alice", headers=alice.headers)
    assert r.status_code == 409 and r.json()["code"] == "last-owner"


def test_reserved_and_invalid_names(client: TestClient, make_account: MakeAccount) -> None:
    alice = make_account("alice")
    r = client.post("/api/v1/orgs", json={"name": "api"}, headers=alice.headers)
    assert r.status_code == 422 and r.json()["code"] == "reserved-name"
    r = client.post("/api/v1/orgs", json={"name": "-bad-"}, headers=alice.headers)
    assert r.status_code == 422 and r.json()["code"] == "invalid-name"


def test_web_session_with_csrf(client: TestClient, make_account: MakeAccount) -> None:
    make_account("carol", password="correct horse")
    bad = client.post("/api/v1/session", json={"username": "carol", "password": "nope"})
    assert bad.status_code == 401 and bad.json()["code"] == "invalid-credentials"
    r = client.post("/api/v1/session", json={"username": "carol", "password": "correct horse"})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    csrf = r.json()["csrf_token"]
    assert client.get("/api/v1/users/me").json()["username"] == "carol"
    # A cookie-authenticated write without the CSRF header is refused...
    r = client.post("/api/v1/tokens", json={"name": "web"})
    assert r.status_code == 403 and r.json()["code"] == "csrf-failed"
    # ...and accepted with it.
    r = client.post("/api/v1/tokens", json={"name": "web"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert client.delete("/api/v1/session").status_code == 204
    assert client.get("/api/v1/users/me").status_code == 401


def test_openapi_is_served_with_problem_schema(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert "Problem" in schema["components"]["schemas"]
    assert "/api/v1/environments" in schema["paths"]
    assert client.get("/api/v1/docs").status_code == 200
