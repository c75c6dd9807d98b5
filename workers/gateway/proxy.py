"""A budgeted OpenAI-compatible proxy on a Unix socket, for code running in the sandbox.

The sandbox has no network; its only way to a model is this socket, bind-mounted in. The
gateway owns the provider key (whatever Authorization the sandbox sends is dropped), pins
the job's model, enforces the job's budget and records one `UsageRecord` per
chat-completion request, refused ones included. It is a small Starlette app on uvicorn in
a background thread: uvicorn's HTTP parser and keep-alive handling are battle-tested, and
httpx streams the upstream response through event by event.

Budget semantics: a request is admitted while fewer than `max_requests` were admitted and
fewer than `max_tokens` tokens were used; an admitted request's completion is capped at
the tokens remaining at admission. Requests already in flight may end past the budget.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"]


@dataclass(frozen=True)
class Budget:
    max_requests: int | None = None
    max_tokens: int | None = None  # prompt + completion, summed over the job


@dataclass(frozen=True)
class UsageRecord:
    request_index: int  # 0-based, over every chat-completion request the gateway saw
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    status: int  # HTTP status given to the sandbox; 499 = it went away mid-stream
    error: str | None = None
    estimated: bool = False  # the upstream reported no usage; counts are ~4 chars/token
    stream: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class BackgroundServer:
    """uvicorn serving an ASGI app from a daemon thread, on a socket bound here so that
    bind errors surface in `start()` and port 0 yields a free port without a race."""

    def __init__(self, app: Any, sock: socket.socket, name: str = "asgi-server") -> None:
        self._sock = sock
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            ws="none",
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=name, daemon=True
        )

    @classmethod
    def tcp(cls, app: Any, host: str = "127.0.0.1", port: int = 0) -> BackgroundServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        return cls(app, sock, name=f"asgi-{host}:{sock.getsockname()[1]}")

    @classmethod
    def unix(cls, app: Any, path: Path) -> BackgroundServer:
        if path.exists() or path.is_symlink():
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise FileExistsError(f"{path} exists and is not a socket; refusing to replace")
            path.unlink()  # stale socket from a crashed run
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
        except OSError as exc:
            sock.close()
            raise OSError(
                f"cannot bind Unix socket {path} ({len(str(path))} chars): {exc}"
            ) from exc
        # The sandbox runs as another uid (65534); connecting needs write permission.
        os.chmod(path, 0o666)  # noqa: S103 - the socket only, by design
        return cls(app, sock, name=f"asgi-unix:{path.name}")

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def start(self, timeout: float = 15.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self._thread.name} did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()


class _ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": None, "code": None}}
        return JSONResponse(body, status_code=self.status)


def _estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _prompt_text(body: dict[str, Any]) -> str:
    return json.dumps(body.get("messages", []))


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
        self.budget = budget or Budget()
        self._sink = usage_sink
        self._timeout = httpx.Timeout(timeout_s, connect=10.0)
        self._lock = threading.Lock()
        self._seen = self._admitted = self._tokens = 0
        self._records: list[UsageRecord] = []
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

    # -- accounting ----------------------------------------------------------------
    @property
    def records(self) -> list[UsageRecord]:
        with self._lock:
            return list(self._records)

    @property
    def tokens_used(self) -> int:
        with self._lock:
            return self._tokens

    def _note(
        self,
        index: int,
        started: float,
        status: int,
        error: str | None = None,
        tokens: tuple[int, int] = (0, 0),
        *,
        estimated: bool = False,
        stream: bool = False,
    ) -> None:
        latency = time.monotonic() - started
        self._record(UsageRecord(index, *tokens, latency, status, error, estimated, stream))

    def _record(self, record: UsageRecord) -> None:
        with self._lock:
            self._records.append(record)
            self._tokens += record.total_tokens
        if self._sink is not None:
            try:
                self._sink(record)
            except Exception:  # a broken sink must not break the evaluation
                logger.exception("usage sink failed for request %d", record.request_index)

    def _admit(self) -> int | None:
        """Count the request against the budget; return the completion-token cap."""
        with self._lock:
            if self.budget.max_requests is not None and self._admitted >= self.budget.max_requests:
                raise _ApiError(
                    429,
                    f"request budget of {self.budget.max_requests} exhausted",
                    "budget_exceeded",
                )
            if self.budget.max_tokens is not None and self._tokens >= self.budget.max_tokens:
                raise _ApiError(
                    429,
                    f"token budget of {self.budget.max_tokens} exhausted ({self._tokens} used)",
                    "budget_exceeded",
                )
            self._admitted += 1
            return None if self.budget.max_tokens is None else self.budget.max_tokens - self._tokens

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
        with self._lock:
            index, self._seen = self._seen, self._seen + 1
        body: dict[str, Any] = {}
        try:
            body = await self._read_body(request)
            cap = self._admit()
        except _ApiError as refusal:
            stream = body.get("stream") is True
            self._note(index, started, refusal.status, refusal.message, stream=stream)
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
            self._note(index, started, upstream.status_code, _error_message(upstream.content))
        else:
            try:
                payload = upstream.json()
            except ValueError:
                payload = None
            usage = _usage_of(payload) if isinstance(payload, dict) else None
            tokens = usage or (
                _estimate_tokens(_prompt_text(body)),
                _estimate_tokens(upstream.text),
            )
            self._note(index, started, 200, None, tokens, estimated=usage is None)
        media = upstream.headers.get("content-type", "application/json")
        return Response(upstream.content, upstream.status_code, media_type=media)

    def _upstream_failed(
        self, index: int, exc: Exception, started: float, stream: bool
    ) -> Response:
        status = 504 if isinstance(exc, httpx.TimeoutException) else 502
        refusal = _ApiError(status, f"upstream model provider failed: {exc!r}", "upstream_error")
        self._note(index, started, status, refusal.message, stream=stream)
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
            self._note(index, started, upstream.status_code, _error_message(content), stream=True)
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
                        usage = _usage_of(payload) or usage
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
            estimate = (_estimate_tokens(_prompt_text(body)), _estimate_tokens("".join(text)))
            tokens = usage or estimate
            self._note(index, started, status, error, tokens, estimated=usage is None, stream=True)
            with anyio.CancelScope(shield=True):  # close even when the client vanished
                await upstream.aclose()


def _usage_of(payload: dict[str, Any]) -> tuple[int, int] | None:
    """(prompt, completion) tokens from an OpenAI `usage` object, if it has them."""
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    try:
        return int(usage["prompt_tokens"]), int(usage["completion_tokens"])
    except (KeyError, TypeError, ValueError):
        return None


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
