"""A budgeted OpenAI-compatible proxy on a Unix socket, for code running in the sandbox.

The sandbox has no network; its only way to a model is this socket, bind-mounted in. The
gateway owns the provider key (whatever Authorization the sandbox sends is dropped), pins
the job's model, enforces the job's budget and records one `UsageRecord` per
chat-completion request, refused ones included. It is a small Starlette app on uvicorn in
a background thread: uvicorn's HTTP parser and keep-alive handling are battle-tested, and
httpx streams the upstream response through event by event.

The budget and the usage records are kept by `accounting.UsageLedger` (its docstring has
the budget semantics); the socket and the server thread by `server.BackgroundServer`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from workers.gateway.accounting import (
    Budget,
    BudgetExceeded,
    UsageLedger,
    UsageRecord,
    estimate_tokens,
    prompt_text,
    usage_of,
)
from workers.gateway.server import BackgroundServer

MAX_BODY_BYTES = 8 * 1024 * 1024
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"]


class _ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": None, "code": None}}
        return JSONResponse(body, status_code=self.status)


def _error_message(content: bytes) -> str:
    try:
        return str(json.loads(content)["error"]["message"])[:500]
    except (ValueError, KeyError, TypeError):
        return content[:500].decode("utf-8", "replace")


class ModelGateway:
    def __init__(
        self,
        socket_path: Path,
        upstream_base_url: str,
        upstream_api_key: str | None,
        model: str,
        budget: Budget | None = None,
        usage_sink: Callable[[UsageRecord], None] | None = None,
        *,
        timeout_s: float = 600.0,
    ) -> None:
        self.socket_path = Path(socket_path)
        self.upstream = upstream_base_url.rstrip("/")  # e.g. https://api.openai.com/v1
        self._key = upstream_api_key
        self.model = model
        self._ledger = UsageLedger(budget or Budget(), usage_sink)
        self._timeout = httpx.Timeout(timeout_s, connect=10.0)
        self._client: httpx.AsyncClient | None = None
        self._server: BackgroundServer | None = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> ModelGateway:
        if self._server is not None:  # a second bind would unlink the live socket
            raise RuntimeError(f"gateway on {self.socket_path} is already running")
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/{path:path}", self._not_found, methods=_ALL_METHODS),
            ],
            lifespan=self._lifespan,
        )
        self._server = BackgroundServer.unix(app, self.socket_path)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            self.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> ModelGateway:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @asynccontextmanager
    async def _lifespan(self, _: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            self._client = client
            yield
        self._client = None

    # -- accounting (kept by the ledger) ---------------------------------------------
    @property
    def budget(self) -> Budget:
        return self._ledger.budget

    @property
    def records(self) -> list[UsageRecord]:
        return self._ledger.records

    @property
    def tokens_used(self) -> int:
        return self._ledger.tokens_used

    def _admit(self) -> int | None:
        """Count the request against the budget; return the completion-token cap."""
        try:
            return self._ledger.admit()
        except BudgetExceeded as exc:
            raise _ApiError(429, str(exc), "budget_exceeded") from exc

    def _headers(self) -> dict[str, str]:
        # Built from scratch: nothing the sandbox sent (Authorization, cookies) goes upstream.
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        return headers

    # -- routes --------------------------------------------------------------------
    async def _not_found(self, request: Request) -> Response:
        return _ApiError(
            404, f"{request.method} {request.url.path} is not served here", "not_found"
        ).response()

    async def _models(self, _: Request) -> Response:
        assert self._client is not None
        try:
            upstream = await self._client.get(f"{self.upstream}/models", headers=self._headers())
        except httpx.HTTPError as exc:
            return _ApiError(502, f"upstream unreachable: {exc!r}", "upstream_error").response()
        if upstream.status_code != 200:
            return Response(upstream.content, upstream.status_code, media_type="application/json")
        try:  # show only the job's model: the provider's catalogue is not the sandbox's business
            cards = [c for c in upstream.json().get("data", []) if c.get("id") == self.model]
        except (ValueError, AttributeError):
            cards = []
        cards = cards or [{"id": self.model, "object": "model", "created": 0, "owned_by": "hub"}]
        return JSONResponse({"object": "list", "data": cards[:1]})

    async def _chat(self, request: Request) -> Response:
        started = time.monotonic()
        index = self._ledger.next_index()
        body: dict[str, Any] = {}
        try:
            body = await self._read_body(request)
            cap = self._admit()
        except _ApiError as refusal:
            stream = body.get("stream") is True
            self._ledger.note(index, started, refusal.status, refusal.message, stream=stream)
            return refusal.response()
        if cap is not None:
            key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
            asked = body.get(key)
            body[key] = min(asked, cap) if isinstance(asked, int) and asked > 0 else cap
        if body.get("stream") is True:
            return await self._stream(index, body, started)
        return await self._once(index, body, started)

    async def _read_body(self, request: Request) -> dict[str, Any]:
        raw = bytearray()
        async for part in request.stream():
            raw += part
            if len(raw) > MAX_BODY_BYTES:
                raise _ApiError(413, f"body over {MAX_BODY_BYTES} bytes", "invalid_request_error")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise _ApiError(400, f"body is not JSON: {exc}", "invalid_request_error") from exc
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            raise _ApiError(
                400, "body must be an object with a `messages` list", "invalid_request_error"
            )
        asked = body.get("model")
        if asked not in (None, self.model):
            raise _ApiError(
                403,
                f"this job may only use model {self.model!r}, not {asked!r}",
                "model_not_allowed",
            )
        body["model"] = self.model
        return body

    async def _once(self, index: int, body: dict[str, Any], started: float) -> Response:
        assert self._client is not None
        url = f"{self.upstream}/chat/completions"
        try:
            upstream = await self._client.post(url, json=body, headers=self._headers())
        except httpx.HTTPError as exc:
            return self._upstream_failed(index, exc, started, stream=False)
        if upstream.status_code != 200:
            self._ledger.note(
                index, started, upstream.status_code, _error_message(upstream.content)
            )
        else:
            try:
                payload = upstream.json()
            except ValueError:
                payload = None
            usage = usage_of(payload) if isinstance(payload, dict) else None
            tokens = usage or (
                estimate_tokens(prompt_text(body)),
                estimate_tokens(upstream.text),
            )
            self._ledger.note(index, started, 200, None, tokens, estimated=usage is None)
        media = upstream.headers.get("content-type", "application/json")
        return Response(upstream.content, upstream.status_code, media_type=media)

    def _upstream_failed(
        self, index: int, exc: Exception, started: float, stream: bool
    ) -> Response:
        status = 504 if isinstance(exc, httpx.TimeoutException) else 502
        refusal = _ApiError(status, f"upstream model provider failed: {exc!r}", "upstream_error")
        self._ledger.note(index, started, status, refusal.message, stream=stream)
        return refusal.response()

    async def _stream(self, index: int, body: dict[str, Any], started: float) -> Response:
        assert self._client is not None
        options = body.get("stream_options")
        wants_usage = isinstance(options, dict) and options.get("include_usage") is True
        body["stream_options"] = {
            **(options if isinstance(options, dict) else {}),
            "include_usage": True,
        }
        request = self._client.build_request(
            "POST",
            f"{self.upstream}/chat/completions",
            json=body,
            headers={**self._headers(), "Accept": "text/event-stream"},
        )
        try:
            upstream = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            return self._upstream_failed(index, exc, started, stream=True)
        if upstream.status_code != 200:
            content = await upstream.aread()
            await upstream.aclose()
            self._ledger.note(
                index, started, upstream.status_code, _error_message(content), stream=True
            )
            media = upstream.headers.get("content-type", "application/json")
            return Response(content, upstream.status_code, media_type=media)
        relay = self._relay(upstream, index, body, started, wants_usage)
        return StreamingResponse(
            relay, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    async def _relay(
        self,
        upstream: httpx.Response,
        index: int,
        body: dict[str, Any],
        started: float,
        wants_usage: bool,
    ) -> AsyncIterator[bytes]:
        """Forward each SSE event as soon as it is complete, reading usage on the way."""
        usage: tuple[int, int] | None = None
        text: list[str] = []
        status: int | None = None
        error: str | None = None
        buffer = b""
        try:
            async for piece in upstream.aiter_bytes():
                buffer = (buffer + piece).replace(b"\r\n", b"\n")
                while (end := buffer.find(b"\n\n")) >= 0:
                    event, buffer = buffer[:end], buffer[end + 2 :]
                    payload = _event_json(event)
                    if payload is not None:
                        usage = usage_of(payload) or usage
                        if "error" in payload:
                            error = _error_message(json.dumps(payload).encode())
                        text.extend(_delta_texts(payload))
                        if not wants_usage and payload.get("choices") == [] and usage:
                            continue  # a usage-only chunk the client did not ask for
                    yield event + b"\n\n"
            if buffer.strip():
                yield buffer
            status = 200
        except httpx.HTTPError as exc:
            status, error = 502, f"upstream stream broke: {exc!r}"
            fail = {"error": {"message": error, "type": "upstream_error"}}
            yield f"data: {json.dumps(fail)}\n\n".encode()
        finally:  # also reached when the client goes away (cancellation / aclose)
            if status is None:
                status, error = 499, "client disconnected mid-stream"
            estimate = (estimate_tokens(prompt_text(body)), estimate_tokens("".join(text)))
            tokens = usage or estimate
            self._ledger.note(
                index, started, status, error, tokens, estimated=usage is None, stream=True
            )
            with anyio.CancelScope(shield=True):  # close even when the client vanished
                await upstream.aclose()


def _delta_texts(payload: dict[str, Any]) -> list[str]:
    texts = []
    for choice in payload.get("choices") or []:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and isinstance(delta.get("content"), str):
            texts.append(delta["content"])
    return texts


def _event_json(event: bytes) -> dict[str, Any] | None:
    data = [line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")]
    if not data:
        return None
    try:
        payload = json.loads(b"\n".join(data))
    except ValueError:
        return None  # `[DONE]` or a provider's own non-JSON notice
    return payload if isinstance(payload, dict) else None
