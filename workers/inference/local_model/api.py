"""The OpenAI-compatible HTTP app in front of a `LocalModel`: `/v1/models`,
`/v1/chat/completions` (whole or streamed as SSE) and `/health`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from workers.inference.local_model.engine import (
    DEFAULT_MAX_TOKENS,
    GenerationResult,
    LocalModel,
    SamplingParams,
)
from workers.inference.local_model.weights import (
    MODEL_ID,
    LocalModelUnavailableError,
    default_cache_dir,
    default_threads,
)

logger = logging.getLogger(__name__)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        parts = []
        for part in self.content:
            if part.get("type") != "text":
                raise _ApiError(400, f"content part type {part.get('type')!r} is not supported")
            parts.append(str(part.get("text", "")))
        return "".join(parts)


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    # Unknown OpenAI fields (logprobs, penalties, tools...) are ignored, as most
    # OpenAI-compatible servers do, so stock clients keep working.
    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    n: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None


class _ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def _error_response(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": None}},
        status_code=status,
    )


def _sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def create_local_model_app(
    model_path: Path | None = None,
    *,
    preload: bool = False,
    threads: int | None = None,
    cache_dir: Path | None = None,
) -> FastAPI:
    """An app serving one lazily loaded model; `preload` starts loading at startup so the
    first request does not wait for it. `cache_dir` None means `default_cache_dir()`."""
    engine = LocalModel(model_path, threads or default_threads(), cache_dir or default_cache_dir())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if preload:
            threading.Thread(target=_preload, args=(engine,), daemon=True).start()
        yield

    app = FastAPI(title="envhub local model", lifespan=lifespan)
    app.state.engine = engine

    @app.exception_handler(_ApiError)
    async def api_error(_: Request, exc: _ApiError) -> JSONResponse:
        return _error_response(exc.status, exc.message, exc.kind)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error_response(
            400, f"{where}: {first.get('msg', 'invalid')}", "invalid_request_error"
        )

    @app.get("/health")
    async def health() -> dict[str, Any]:
        source = str(engine.loaded_from) if engine.loaded_from else None
        return {"status": "ok", "model": MODEL_ID, "loaded": engine.loaded,
                "load_seconds": engine.load_seconds, "loaded_from": source}  # fmt: skip

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        card = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "envhub"}
        return {"object": "list", "data": [card]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(body: ChatCompletionRequest) -> JSONResponse | StreamingResponse:
        if body.model not in (None, MODEL_ID):
            raise _ApiError(
                404, f"model {body.model!r} does not exist; use {MODEL_ID!r}", "model_not_found"
            )
        if (body.n or 1) > 1:
            raise _ApiError(400, "n > 1 is not supported by the local model; send n=1")
        messages = [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
            for m in body.messages
        ]
        try:
            prompt_ids = await run_in_threadpool(engine.encode, messages)
        except LocalModelUnavailableError as exc:
            raise _ApiError(503, str(exc), "model_unavailable") from exc
        window = engine.load().context_length
        room = window - len(prompt_ids)
        if room < 1:
            message = f"prompt is {len(prompt_ids)} tokens; the context window is {window}"
            raise _ApiError(400, message, "context_length_exceeded")
        stops = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
        params = SamplingParams(
            max_tokens=min(
                body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS, room
            ),
            temperature=1.0 if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
            seed=body.seed,
            stop=tuple(s for s in stops if s),
        )
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(
                _stream(engine, prompt_ids, params, completion_id, created, include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        result = await run_in_threadpool(engine.generate, prompt_ids, params)
        answer = {"role": "assistant", "content": result.text}
        choice = {"index": 0, "message": answer, "finish_reason": result.finish_reason}
        return JSONResponse({
            "id": completion_id, "object": "chat.completion", "created": created,
            "model": MODEL_ID, "choices": [choice], "usage": result.usage(),
        })  # fmt: skip

    return app


def _preload(engine: LocalModel) -> None:
    try:
        engine.load()
    except Exception:  # a request will report the same error to its caller
        logger.exception("preloading the local model failed")


async def _stream(
    engine: LocalModel,
    prompt_ids: list[int],
    params: SamplingParams,
    completion_id: str,
    created: int,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    """Run the decode on its own thread and relay its pieces; the thread, not this
    coroutine, holds the generation lock, so a vanished client can never leak it."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    cancel = threading.Event()

    def post(kind: str, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the event loop is gone (server shutting down)
            cancel.set()

    def work() -> None:
        try:
            post("done", engine.generate(prompt_ids, params, lambda t: post("text", t), cancel))
        except Exception as exc:
            logger.exception("streamed generation failed")
            post("error", exc)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": completion_id, "object": "chat.completion.chunk", "created": created,
            "model": MODEL_ID, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }  # fmt: skip
        if include_usage:
            payload["usage"] = None
        return payload

    threading.Thread(target=work, daemon=True, name="local-model-stream").start()
    try:
        yield _sse(chunk({"role": "assistant", "content": ""}))
        while True:
            kind, value = await queue.get()
            if kind == "text":
                yield _sse(chunk({"content": value}))
            elif kind == "error":
                yield _sse({"error": {"message": str(value), "type": "server_error"}})
                break
            else:
                result: GenerationResult = value
                yield _sse(chunk({}, result.finish_reason))
                if include_usage:
                    yield _sse({**chunk({}), "choices": [], "usage": result.usage()})
                break
        yield b"data: [DONE]\n\n"
    finally:
        cancel.set()
