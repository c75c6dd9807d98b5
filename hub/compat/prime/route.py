"""Plumbing shared by the prime-compat routes: the error format, dependencies, small parsers.

The prime client reads errors as `{"detail": "<text>"}` (and a list of `{loc, msg}` for
422 validation errors), not RFC 9457 problems, so every compat route renders the hub's
errors that way. The transaction is the hub's usual one (`TransactionalRoute`): it has
already rolled back by the time an error is translated here.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from hub.kit.deps import get_settings_dep, get_storage
from hub.kit.errors import HubError, InvalidInput
from hub.kit.http import TransactionalRoute, get_db
from hub.kit.settings import Settings
from hub.kit.storage import Storage
from hub.registry.models import Runtime, Visibility

Db = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StorageDep = Annotated[Storage, Depends(get_storage)]

API_PREFIX = "/api/v1"


def prime_error(status: int, detail: str, code: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    if code:
        body["code"] = code  # not read by the client; kept so logs and scripts can branch
    headers = {"WWW-Authenticate": 'Bearer realm="envhub"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


class PrimeRoute(TransactionalRoute):
    """A transactional route whose errors are in the prime wire format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except HubError as exc:
                return prime_error(exc.status, exc.detail, exc.code)
            except RequestValidationError as exc:
                errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
                           "type": str(e.get("type", ""))} for e in exc.errors()]
                return JSONResponse({"detail": errors}, status_code=422)

        return run


def data(payload: Any, **extra: Any) -> dict[str, Any]:
    """The `{"data": ...}` envelope the client requires on some answers and accepts on all."""
    return {"data": payload, **extra}


def iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


def parse_visibility(raw: str | None, default: Visibility = Visibility.PUBLIC) -> Visibility:
    if raw is None or raw == "":
        return default
    try:
        return Visibility(raw.lower())
    except ValueError:
        raise InvalidInput(f"visibility must be PUBLIC or PRIVATE, not '{raw}'.",
                           code="invalid-visibility") from None


def wire_visibility(visibility: Visibility) -> str:
    return visibility.value.upper()


_RUNTIME_HINTS = {"VERIFIERS_V0": Runtime.V0, "VERIFIERS_V1": Runtime.V1}
_RUNTIME_WIRE = {Runtime.V0: "VERIFIERS_V0", Runtime.V1: "VERIFIERS_V1"}


def parse_runtime_hint(raw: str | None) -> Runtime | None:
    if raw is None:
        return None
    try:
        return _RUNTIME_HINTS[raw.upper()]
    except KeyError:
        raise InvalidInput(f"runtime_hint must be VERIFIERS_V0 or VERIFIERS_V1, not '{raw}'.",
                           code="invalid-runtime") from None


def wire_runtime(runtime: Runtime) -> str | None:
    return _RUNTIME_WIRE.get(runtime)
