"""Who is calling: bearer tokens (API), HTTP basic with a token (package index), or a
signed-in browser's session cookie (web, with CSRF protection on writes)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.accounts import sessions
from hub.accounts.models import TokenScope
from hub.accounts.service import Principal, authenticate_token
from hub.kit.deps import get_settings_dep
from hub.kit.errors import Forbidden, Unauthorized
from hub.kit.http import get_db
from hub.kit.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _credentials(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    kind, _, value = header.partition(" ")
    kind = kind.lower()
    if kind == "bearer" and value:
        return value.strip()
    if kind == "basic" and value:
        # pip/uv send index credentials as basic auth; the token is the password
        # (any username, `__token__` by convention).
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("Malformed basic credentials.", code="invalid-token") from None
        _, _, password = decoded.partition(":")
        return password or None
    raise Unauthorized("Use 'Authorization: Bearer <token>'.", code="invalid-token")


async def optional_principal(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> Principal | None:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    secret = _credentials(request)
    if secret is None and not request.cookies.get(sessions.COOKIE_NAME):
        request.state.principal = None
        return None  # anonymous (pip, uv, browsers): no database work, no threadpool hop
    db = await get_db(request)
    return await run_in_threadpool(_resolve_principal, request, db, settings, secret)


def _resolve_principal(request: Request, db: Session, settings: Settings,
                       secret: str | None) -> Principal | None:
    principal: Principal | None = None
    if secret is not None:
        principal = authenticate_token(db, secret, secret_key=settings.secret_key)
    else:
        cookie = request.cookies.get(sessions.COOKIE_NAME)
        if cookie:
            found = sessions.lookup(db, cookie, secret_key=settings.secret_key)
            if found is not None:
                web_session, user = found
                if request.method not in SAFE_METHODS and not sessions.csrf_ok(
                    web_session, request.headers.get("x-csrf-token")
                ):
                    raise Forbidden(
                        "Missing or wrong X-CSRF-Token header for a cookie-authenticated write.",
                        code="csrf-failed",
                    )
                principal = Principal(user=user, scope=None)
    request.state.principal = principal
    return principal


def require_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized(
            "Sign in first: pass 'Authorization: Bearer <token>' (run `envhub login`).",
            code="unauthenticated",
        )
    return principal


def require_write(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
    principal.require_scope(TokenScope.WRITE)
    return principal


def require_admin_scope(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
    principal.require_scope(TokenScope.ADMIN)
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
WritePrincipal = Annotated[Principal, Depends(require_write)]
AdminScopePrincipal = Annotated[Principal, Depends(require_admin_scope)]
