"""Browser sessions: an opaque cookie secret, stored as a keyed hash, plus a CSRF token."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.accounts.models import User, WebSession
from hub.accounts.security import keyed_hash
from hub.kit.db import utcnow

COOKIE_NAME = "envhub_session"
SESSION_LIFETIME = timedelta(days=14)


def start(db: Session, user: User, *, secret_key: str) -> tuple[str, WebSession]:
    cookie_value = secrets.token_urlsafe(32)
    web_session = WebSession(
        user_id=user.id,
        session_hash=keyed_hash(cookie_value, secret_key),
        csrf_token=secrets.token_urlsafe(24),
        expires_at=utcnow() + SESSION_LIFETIME,
    )
    db.add(web_session)
    db.flush()
    return cookie_value, web_session


def lookup(db: Session, cookie_value: str, *, secret_key: str) -> tuple[WebSession, User] | None:
    web_session = db.scalar(
        select(WebSession).where(WebSession.session_hash == keyed_hash(cookie_value, secret_key))
    )
    if web_session is None or web_session.expires_at <= utcnow():
        return None
    user = db.get(User, web_session.user_id)
    return (web_session, user) if user is not None else None


def end(db: Session, cookie_value: str, *, secret_key: str) -> None:
    found = lookup(db, cookie_value, secret_key=secret_key)
    if found is not None:
        db.delete(found[0])
        db.flush()


def end_all(db: Session, user: User, *, keep_cookie: str | None, secret_key: str) -> None:
    """Sign the user out everywhere, except the browser holding `keep_cookie` (if any)."""
    stmt = delete(WebSession).where(WebSession.user_id == user.id)
    if keep_cookie:
        stmt = stmt.where(WebSession.session_hash != keyed_hash(keep_cookie, secret_key))
    db.execute(stmt)
    db.flush()


def csrf_ok(web_session: WebSession, header_value: str | None) -> bool:
    return header_value is not None and hmac.compare_digest(web_session.csrf_token, header_value)
