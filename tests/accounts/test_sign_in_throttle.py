"""Password sign-in throttling: a persistent per-account lockout with backoff, the same
schedule (in memory) for unknown usernames, and a per-client-address limit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts import throttle
from hub.accounts.models import User
from hub.app import create_app
from hub.kit.db import utcnow
from hub.kit.settings import Settings
from hub.kit.storage import Storage
from tests.support.hub import MakeAccount

SESSION = "/api/v1/session"
RIGHT = "correct horse"


def _try(client: TestClient, username: str, password: str) -> httpx.Response:
    return client.post(SESSION, json={"username": username, "password": password})


def _user(db_sessions: sessionmaker[Session], username: str) -> User:
    with db_sessions() as db:
        user = db.scalar(select(User).where(User.username == username))
        assert user is not None
        return user


def _end_lock(db_sessions: sessionmaker[Session], username: str) -> None:
    """Let the current lock run out (as if its time had passed)."""
    with db_sessions() as db:
        user = db.scalar(select(User).where(User.username == username))
        assert user is not None and user.locked_until is not None
        user.locked_until = utcnow() - timedelta(seconds=1)
        db.commit()


def _assert_locked(r: httpx.Response, seconds: int, slack: int = 5) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "too-many-attempts"
    assert seconds - slack <= int(r.headers["retry-after"]) <= seconds
    assert body["retry_after"] == int(r.headers["retry-after"])


def test_five_failures_lock_the_account_and_backoff_doubles(
    client: TestClient, make_account: MakeAccount, db_sessions: sessionmaker[Session]
) -> None:
    make_account("carol", password=RIGHT)
    for _ in range(throttle.MAX_FAILURES):
        r = _try(client, "carol", "wrong")
        assert r.status_code == 401 and r.json()["code"] == "invalid-credentials"
    # Locked: even the right password is refused, and not checked.
    _assert_locked(_try(client, "carol", RIGHT), 60)
    _assert_locked(_try(client, "Carol", "wrong"), 60)
    stored = _user(db_sessions, "carol")
    assert stored.failed_sign_ins == throttle.MAX_FAILURES  # refusals while locked don't count
    # After the lock, one more failure locks again, twice as long.
    _end_lock(db_sessions, "carol")
    assert _try(client, "carol", "wrong").status_code == 401
    _assert_locked(_try(client, "carol", RIGHT), 120)
    _end_lock(db_sessions, "carol")
    assert _try(client, "carol", "wrong").status_code == 401
    _assert_locked(_try(client, "carol", RIGHT), 240)
    # The right password once the lock has passed signs in and resets the counter.
    _end_lock(db_sessions, "carol")
    assert _try(client, "carol", RIGHT).status_code == 200
    stored = _user(db_sessions, "carol")
    assert stored.failed_sign_ins == 0 and stored.locked_until is None


def test_lock_schedule_is_capped_at_an_hour() -> None:
    assert [throttle.lock_duration(n) for n in range(5)] == [None] * 5
    minutes = [throttle.lock_duration(n) for n in range(5, 13)]
    assert minutes == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60)]
    assert throttle.lock_duration(10_000) == timedelta(hours=1)


def test_a_success_resets_the_count(client: TestClient, make_account: MakeAccount) -> None:
    make_account("carol", password=RIGHT)
    for _ in range(2):
        for _ in range(throttle.MAX_FAILURES - 1):
            assert _try(client, "carol", "wrong").status_code == 401
        assert _try(client, "carol", RIGHT).status_code == 200
    assert _try(client, "carol", "wrong").status_code == 401


def test_the_lock_survives_a_restart(
    client: TestClient, make_account: MakeAccount, settings: Settings,
    db_sessions: sessionmaker[Session], storage: Storage,
) -> None:
    make_account("carol", password=RIGHT)
    for _ in range(throttle.MAX_FAILURES):
        assert _try(client, "carol", "wrong").status_code == 401
    fresh = create_app(settings, sessions=db_sessions, storage=storage)
    with TestClient(fresh, raise_server_exceptions=False) as other:
        _assert_locked(_try(other, "carol", RIGHT), 60)


def _shape(r: httpx.Response) -> tuple[Any, ...]:
    body = r.json()
    return (r.status_code, body["code"], body["detail"], body.get("retry_after"),
            r.headers.get("retry-after") is not None)


def test_an_unknown_username_looks_like_a_wrong_password(
    client: TestClient, make_account: MakeAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_account("carol", password=RIGHT)
    hashed: list[str | None] = []
    real_verify = throttle.verify_password

    def spy(password_hash: str | None, password: str) -> bool:
        hashed.append(password_hash)
        return real_verify(password_hash, password)

    monkeypatch.setattr(throttle, "verify_password", spy)
    known = [_try(client, "carol", "wrong") for _ in range(throttle.MAX_FAILURES + 1)]
    unknown = [_try(client, "nobody", "wrong") for _ in range(throttle.MAX_FAILURES + 1)]
    assert [_shape(r) for r in known] == [_shape(r) for r in unknown]
    assert known[-1].status_code == 429
    # Every counted failure spent an argon2 computation, unknown user or not (the dummy
    # hash); refusals while locked spent none either way.
    assert len(hashed) == 2 * throttle.MAX_FAILURES
    assert hashed[throttle.MAX_FAILURES:] == [None] * throttle.MAX_FAILURES


def test_too_many_failures_from_one_address(client: TestClient, make_account: MakeAccount,
                                            app: FastAPI) -> None:
    make_account("carol", password=RIGHT)
    # Spread over many usernames, so no account's own lock is reached.
    for i in range(throttle.IP_MAX_FAILURES):
        assert _try(client, f"user{i // 4}", "wrong").status_code == 401
    r = _try(client, "carol", RIGHT)
    # Until the oldest of the 20 failures (seconds ago by now) leaves the window.
    _assert_locked(r, int(throttle.IP_WINDOW.total_seconds()), slack=120)
    # Another address is unaffected.
    with TestClient(app, client=("203.0.113.7", 1234)) as other:
        assert _try(other, "carol", RIGHT).status_code == 200


def test_address_window_slides() -> None:
    limiter = throttle.SignInThrottle(ip_max_failures=3, ip_window=timedelta(minutes=5))
    start = utcnow()
    for minute in (0, 1, 2):
        limiter.record_ip_failure("198.51.100.1", start + timedelta(minutes=minute))
    assert limiter.ip_blocked_for("198.51.100.1", start + timedelta(minutes=2)) == 180
    assert limiter.ip_blocked_for("198.51.100.2", start + timedelta(minutes=2)) is None
    # The oldest failure leaves the window at minute 5: then a further failure is allowed.
    assert limiter.ip_blocked_for("198.51.100.1", start + timedelta(minutes=5)) is None
    limiter.record_ip_failure("198.51.100.1", start + timedelta(minutes=5))
    assert limiter.ip_blocked_for("198.51.100.1", start + timedelta(minutes=5)) == 60


def test_in_memory_tables_are_bounded() -> None:
    limiter = throttle.SignInThrottle(max_tracked=10)
    now = utcnow()
    for i in range(100):
        limiter.record_ip_failure(f"10.0.0.{i}", now)
        limiter.record_unknown_failure(f"ghost{i}", now)
    assert len(limiter._ips) == 10 and len(limiter._unknown) == 10


def test_the_sign_in_answer_is_documented(client: TestClient) -> None:
    op = client.get("/api/v1/openapi.json").json()["paths"][SESSION]["post"]
    assert "Retry-After" in op["responses"]["429"]["headers"]
    assert "401" in op["responses"]


def test_an_attempt_finishing_after_a_concurrent_lock_is_refused(
    make_account: MakeAccount, db_sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A burst of parallel guesses all pass the first lock check; whichever finishes after
    the lock was set learns nothing, even with the right password."""
    make_account("carol", password=RIGHT)
    real_verify = throttle.verify_password

    def verify_while_others_fail(password_hash: str | None, password: str) -> bool:
        with db_sessions() as other:  # the parallel attempts that reach the limit meanwhile
            user = other.scalar(select(User).where(User.username == "carol"))
            assert user is not None
            user.failed_sign_ins = throttle.MAX_FAILURES
            user.locked_until = utcnow() + throttle.FIRST_LOCK
            other.commit()
        return real_verify(password_hash, password)

    monkeypatch.setattr(throttle, "verify_password", verify_while_others_fail)
    limiter = throttle.SignInThrottle()
    with db_sessions() as db:
        with pytest.raises(throttle.TooManyAttempts):
            throttle.authenticate(db, limiter, "192.0.2.1", "carol", RIGHT)
        # Not counted either (the sessions share one test transaction: look before it ends).
        user = db.scalar(select(User).where(User.username == "carol"))
        assert user is not None and user.failed_sign_ins == throttle.MAX_FAILURES
        db.rollback()
