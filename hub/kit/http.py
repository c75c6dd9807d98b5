"""HTTP plumbing: the request-owned transaction and RFC 9457 problem rendering.

Every API route uses `TransactionalRoute`: the endpoint gets a session through `get_db`,
and the transaction commits once the endpoint has produced its response and before a
byte is sent, so a client never sees success for work that did not land.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.kit.errors import HubError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


async def get_db(request: Request) -> Session:
    # async: making a Session touches no database (it connects on first use), so this
    # dependency needs no threadpool hop.
    session: Session | None = getattr(request.state, "db", None)
    if session is None:
        session = request.app.state.session_factory()
        request.state.db = session
    return session


def _finish(request: Request, ok: bool) -> None:
    session: Session | None = getattr(request.state, "db", None)
    if session is None:
        return
    try:
        if ok:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()
        request.state.db = None


class TransactionalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                response = await handler(request)
            except BaseException:
                if getattr(request.state, "db", None) is not None:
                    await run_in_threadpool(_finish, request, False)
                raise
            if getattr(request.state, "db", None) is not None:  # no session, nothing to end
                await run_in_threadpool(_finish, request, response.status_code < 400)
            return response

        return run


def problem_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None
                     ) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_STATUS_CODES = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
                 405: "method-not-allowed", 406: "not-acceptable", 413: "payload-too-large",
                 415: "unsupported-media-type", 429: "too-many-requests"}


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError) -> Response:
        headers = {"WWW-Authenticate": 'Bearer realm="envhub"'} if exc.status == 401 else None
        return problem_response(exc.status, exc.problem(request.url.path), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = ".".join(str(p) for p in first["loc"])
        body = {
            "type": "https://envhub.dev/problems/validation-failed",
            "title": "Invalid request",
            "status": 422,
            "detail": f"{where}: {first['msg']}",
            "code": "validation-failed",
            "instance": request.url.path,
            "errors": errors,
        }
        return problem_response(422, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(exc.status_code, f"http-{exc.status_code}")
        body = {
            "type": f"https://envhub.dev/problems/{code}",
            "title": str(exc.detail),
            "status": exc.status_code,
            "detail": str(exc.detail),
            "code": code,
            "instance": request.url.path,
        }
        return problem_response(exc.status_code, body, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:  # noqa: ARG001
        log.exception("unhandled error on %s", request.url.path)
        body = {
            "type": "https://envhub.dev/problems/internal-error",
            "title": "Internal error",
            "status": 500,
            "detail": "The hub failed unexpectedly; the error was logged. Try again or report it.",
            "code": "internal-error",
            "instance": request.url.path,
        }
        return problem_response(500, body)


def problem_responses(*errors: type[HubError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries so generated clients know a route's error shapes."""
    out: dict[int | str, dict[str, Any]] = {}
    for err in errors:
        out[err.status] = {
            "description": err.title,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out
