"""The model gateway against a real upstream HTTP server (a stub OpenAI app on 127.0.0.1).

The stub stands in for a provider only; the client talks to the gateway over its Unix
socket exactly as code inside the sandbox does.
"""

from __future__ import annotations

import json
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from workers.gateway import BackgroundServer, Budget, ModelGateway, UsageRecord

JOB_MODEL = "job-model"
PROVIDER_KEY = "sk-provider-secret"


@dataclass
class Stub:
    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    omit_usage: bool = False
    gate: threading.Event | None = None  # when set up, the stream pauses after chunk 1
    gate_opened_in_time: bool | None = None
    stream_closed: threading.Event = field(default_factory=threading.Event)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": JOB_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def stub_app(current: Callable[[], Stub]) -> Starlette:
    async def chat(request: Request) -> Response:
        stub = current()
        stub.headers.append(dict(request.headers))
        body = await request.json()
        stub.bodies.append(body)
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        if not body.get("stream"):
            payload: dict[str, Any] = {
                "id": "c1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Hello"},
                        "finish_reason": "stop",
                    }
                ],
            }
            if not stub.omit_usage:
                payload["usage"] = usage
            return JSONResponse(payload)

        async def events() -> AsyncIterator[bytes]:
            try:
                yield _chunk({"role": "assistant", "content": ""})
                yield _chunk({"content": "Hel"})
                if stub.gate is not None:
                    stub.gate_opened_in_time = await anyio.to_thread.run_sync(stub.gate.wait, 5)
                yield _chunk({"content": "lo"})
                yield _chunk({}, "stop")
                wants = (body.get("stream_options") or {}).get("include_usage")
                if wants and not stub.omit_usage:
                    usage_chunk = {
                        "id": "c1",
                        "object": "chat.completion.chunk",
                        "choices": [],
                        "usage": usage,
                    }
                    yield f"data: {json.dumps(usage_chunk)}\n\n".encode()
                yield b"data: [DONE]\n\n"
            finally:
                stub.stream_closed.set()

        return StreamingResponse(events(), media_type="text/event-stream")

    async def models(request: Request) -> Response:
        stub = current()
        stub.headers.append(dict(request.headers))
        data = [{"id": m, "object": "model", "owned_by": "stub"} for m in ("other", JOB_MODEL)]
        return JSONResponse({"object": "list", "data": data})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, list[Stub]]]:
    holder = [Stub()]  # one server for the module; each test swaps in a fresh Stub
    server = BackgroundServer.tcp(stub_app(lambda: holder[0]))
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/v1", holder
    finally:
        server.stop()


@pytest.fixture
def stub(upstream: tuple[str, list[Stub]]) -> Stub:
    upstream[1][0] = Stub()
    return upstream[1][0]


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # Unix socket paths are limited to 107 bytes: pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="gw-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Setup:
    gateway: ModelGateway
    client: httpx.Client
    sunk: list[UsageRecord]


@pytest.fixture
def make(upstream: tuple[str, list[Stub]], sock_dir: Path) -> Iterator[Any]:
    made: list[Setup] = []

    def factory(
        budget: Budget | None = None, key: str | None = PROVIDER_KEY, url: str | None = None
    ) -> Setup:
        sunk: list[UsageRecord] = []
        gateway = ModelGateway(
            sock_dir / f"gw{len(made)}.sock",
            url or upstream[0],
            key,
            JOB_MODEL,
            budget or Budget(),
            sunk.append,
        )
        gateway.start()
        client = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(gateway.socket_path)),
            base_url="http://gateway",
            timeout=30,
        )
        made.append(Setup(gateway, client, sunk))
        return made[-1]

    yield factory
    for setup in made:
        setup.client.close()
        setup.gateway.stop()


def chat(client: httpx.Client, **extra: Any) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": "hi"}], **extra}
    return client.post(
        "/v1/chat/completions", json=body, headers={"Authorization": "Bearer sandbox-made-this-up"}
    )


def test_injects_provider_key_drops_client_authorization_and_pins_model(
    make: Any, stub: Stub
) -> None:
    s: Setup = make()
    response = chat(s.client)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Hello"
    assert stub.headers[0]["authorization"] == f"Bearer {PROVIDER_KEY}"
    assert stub.bodies[0]["model"] == JOB_MODEL
    [record] = s.gateway.records
    assert (record.request_index, record.prompt_tokens, record.completion_tokens) == (0, 11, 7)
    assert (record.status, record.error, record.estimated, record.stream) == (
        200,
        None,
        False,
        False,
    )
    assert record.latency_s > 0
    assert s.sunk == [record]
    assert chat(s.client, model=JOB_MODEL).status_code == 200  # naming it is fine too


def test_without_a_provider_key_no_authorization_goes_upstream(make: Any, stub: Stub) -> None:
    s: Setup = make(key=None)
    assert chat(s.client).status_code == 200
    assert "authorization" not in stub.headers[0]


def test_streaming_passes_chunks_through_as_they_arrive(make: Any, stub: Stub) -> None:
    s: Setup = make()
    stub.gate = threading.Event()
    seen: list[str] = []
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True}
    with s.client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            seen.append(line[6:])
            if '"Hel"' in line:
                # the upstream is now paused mid-stream: this chunk came through on its own
                assert not stub.stream_closed.is_set()
                stub.gate.set()
    assert stub.gate_opened_in_time is True
    assert seen[-1] == "[DONE]"
    chunks = [json.loads(d) for d in seen[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Hello"
    assert all(c["choices"] for c in chunks)  # the usage chunk was not asked for: dropped
    assert stub.bodies[0]["stream_options"] == {"include_usage": True}
    [record] = s.gateway.records
    assert (record.prompt_tokens, record.completion_tokens, record.estimated) == (11, 7, False)
    assert (record.status, record.stream) == (200, True)


def test_streaming_keeps_the_usage_chunk_when_the_client_asked(make: Any, stub: Stub) -> None:
    s: Setup = make()
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with s.client.stream("POST", "/v1/chat/completions", json=body) as response:
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    usage_chunks = [json.loads(d) for d in data[:-1] if json.loads(d)["choices"] == []]
    assert usage_chunks[0]["usage"]["total_tokens"] == 18


def test_missing_usage_is_estimated_and_marked(make: Any, stub: Stub) -> None:
    s: Setup = make()
    stub.omit_usage = True
    assert chat(s.client).status_code == 200
    with s.client.stream(
        "POST",
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "stream": True},
    ) as response:
        response.read()
    once, streamed = s.gateway.records
    assert (once.estimated, streamed.estimated) == (True, True)
    assert once.prompt_tokens > 0
    assert once.completion_tokens > 0
    assert streamed.completion_tokens == 2  # "Hello" is 5 characters: ~4 per token
    assert s.gateway.tokens_used == once.total_tokens + streamed.total_tokens


def test_request_budget_is_enforced(make: Any, stub: Stub) -> None:
    s: Setup = make(Budget(max_requests=2))
    assert [chat(s.client).status_code for _ in range(2)] == [200, 200]
    refused = chat(s.client)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "budget_exceeded"
    assert "request budget" in refused.json()["error"]["message"]
    assert len(stub.bodies) == 2  # the refused request never reached the provider
    assert [r.status for r in s.gateway.records] == [200, 200, 429]
    assert [r.request_index for r in s.sunk] == [0, 1, 2]


def test_token_budget_caps_completions_then_refuses(make: Any, stub: Stub) -> None:
    s: Setup = make(Budget(max_tokens=25))
    assert chat(s.client, max_tokens=100).status_code == 200
    assert stub.bodies[0]["max_tokens"] == 25  # capped to what the budget had left
    assert chat(s.client, max_completion_tokens=3).status_code == 200  # 18 used, 7 left
    assert stub.bodies[1]["max_completion_tokens"] == 3
    refused = chat(s.client, stream=True)  # 36 >= 25 used
    assert refused.status_code == 429
    assert refused.json() == {
        "error": {
            "message": "token budget of 25 exhausted (36 used)",
            "type": "budget_exceeded",
            "param": None,
            "code": None,
        }
    }
    assert s.gateway.records[-1].stream is True
    assert len(stub.bodies) == 2


def test_other_models_are_refused(make: Any, stub: Stub) -> None:
    s: Setup = make()
    refused = chat(s.client, model="gpt-4o")
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "model_not_allowed"
    assert stub.bodies == []
    assert s.gateway.records[0].status == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/embeddings"),
        ("POST", "/v1/completions"),
        ("GET", "/admin"),
        ("DELETE", "/v1/models"),
        ("GET", "/v1/chat/completions"),
        ("POST", "/v1/files"),
    ],
)
def test_everything_else_is_404(make: Any, stub: Stub, method: str, path: str) -> None:
    s: Setup = make()
    response = s.client.request(method, path)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"
    assert stub.headers == []


def test_models_lists_only_the_job_model(make: Any, stub: Stub) -> None:
    s: Setup = make()
    response = s.client.get("/v1/models", headers={"Authorization": "Bearer x"})
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == [JOB_MODEL]
    assert stub.headers[0]["authorization"] == f"Bearer {PROVIDER_KEY}"


def test_bad_bodies_are_refused_and_recorded(make: Any, stub: Stub) -> None:
    s: Setup = make()
    assert s.client.post("/v1/chat/completions", content=b"{nope").status_code == 400
    assert s.client.post("/v1/chat/completions", json={"model": JOB_MODEL}).status_code == 400
    assert [r.status for r in s.gateway.records] == [400, 400]
    assert stub.bodies == []


def test_unreachable_upstream_is_a_502(make: Any, stub: Stub) -> None:
    s: Setup = make(url="http://127.0.0.1:9/v1")  # discard port: nothing listens there
    response = chat(s.client)
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "upstream_error"
    assert s.gateway.records[0].status == 502


def test_client_leaving_mid_stream_is_recorded(make: Any, stub: Stub) -> None:
    s: Setup = make()
    stub.gate = threading.Event()
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True}
    with s.client.stream("POST", "/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if '"Hel"' in line:
                break  # leave while the upstream is still streaming
    deadline = time.monotonic() + 10
    while not s.gateway.records and time.monotonic() < deadline:
        time.sleep(0.05)
    stub.gate.set()
    [record] = s.gateway.records
    assert (record.status, record.error) == (499, "client disconnected mid-stream")
    assert stub.stream_closed.wait(10)  # the upstream request was closed too


def test_socket_is_world_writable_and_stale_sockets_are_replaced(
    upstream: tuple[str, list[Stub]], sock_dir: Path
) -> None:
    path = sock_dir / "gw.sock"
    with ModelGateway(path, upstream[0], None, JOB_MODEL, Budget(), None):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666  # the sandbox runs as uid 65534
    assert not path.exists()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # leaves the file behind, like a crashed run
    with ModelGateway(path, upstream[0], None, JOB_MODEL, Budget(), None) as gateway:
        transport = httpx.HTTPTransport(uds=str(path))
        with httpx.Client(transport=transport, base_url="http://gateway") as client:
            assert client.get("/v1/models").status_code == 200
        assert gateway.records == []
    regular = sock_dir / "not-a-socket"
    regular.write_text("keep me")
    with pytest.raises(FileExistsError):
        ModelGateway(regular, upstream[0], None, JOB_MODEL, Budget(), None).start()
    assert regular.read_text() == "keep me"


def test_usage_logger_writes_one_line_per_request(tmp_path: Path) -> None:
    from workers.gateway import UsageRecord
    from workers.tasks import _usage_logger

    log = tmp_path / "job.log"
    write = _usage_logger(log)
    write(UsageRecord(request_index=0, prompt_tokens=12, completion_tokens=5, latency_s=0.5,
                      status=200))
    write(UsageRecord(request_index=1, prompt_tokens=3, completion_tokens=0, latency_s=0.1,
                      status=429, error="budget_exceeded", estimated=True))
    lines = log.read_text().splitlines()
    assert lines[0] == "[gateway] request 0: HTTP 200, 12+5 tokens, 0.50s"
    assert lines[1] == ("[gateway] request 1: HTTP 429, 3+0 tokens (estimated), 0.10s,"
                        " budget_exceeded")
