"""The built-in local provider with the REAL SmolLM2-135M-Instruct weights on CPU, and the
model gateway in front of it end to end. Loading takes ~40 s, so one server per module."""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from workers.gateway import BackgroundServer, Budget, ModelGateway, UsageRecord
from workers.inference.local_model import (
    INSTALL_HINT,
    MODEL_ID,
    LocalModel,
    LocalModelUnavailableError,
    SamplingParams,
    create_local_model_app,
    default_model_path,
)

QUESTION = [{"role": "user", "content": "What is 12 + 7? Answer in one short sentence."}]


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # empty, so every run exercises the GGUF conversion; the cache test then reads it back
    return tmp_path_factory.mktemp("local-model-cache")


@pytest.fixture(scope="module")
def model_url(model_cache: Path) -> Iterator[str]:
    missing = [m for m in ("torch", "transformers", "gguf", "accelerate")
               if importlib.util.find_spec(m) is None]  # fmt: skip
    try:
        default_model_path()
    except LocalModelUnavailableError as exc:
        missing.append(str(exc))
    if missing:
        pytest.fail(f"the local model cannot run here (missing: {missing}).\n"
                    f"Install: {INSTALL_HINT}", pytrace=False)  # fmt: skip
    server = BackgroundServer.tcp(create_local_model_app(cache_dir=model_cache))
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(model_url: str) -> Iterator[httpx.Client]:
    # generous: the first request pays the model load on two shared cores
    with httpx.Client(base_url=model_url, timeout=600) as c:
        yield c


def sse_data(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


def streamed_text(data: list[str]) -> str:
    chunks = [json.loads(d) for d in data if d != "[DONE]"]
    return "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])


@pytest.fixture(scope="module")
def greedy(client: httpx.Client) -> dict[str, Any]:
    response = client.post("/v1/chat/completions", json={
        "model": MODEL_ID, "messages": QUESTION, "temperature": 0, "max_tokens": 24,
    })  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_models_lists_smollm2(client: httpx.Client) -> None:
    response = client.get("/v1/models")
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == [MODEL_ID]


def test_chat_completion_answers_with_usage(greedy: dict[str, Any]) -> None:
    assert greedy["object"] == "chat.completion"
    assert greedy["model"] == MODEL_ID
    choice = greedy["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].strip()
    assert choice["finish_reason"] in ("stop", "length")
    usage = greedy["usage"]
    assert 20 < usage["prompt_tokens"] < 80  # the chat template adds a system turn
    assert 1 <= usage["completion_tokens"] <= 24
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_streamed_completion_matches_the_greedy_answer(
    client: httpx.Client, greedy: dict[str, Any]
) -> None:
    body = {"messages": QUESTION, "temperature": 0, "max_tokens": 24, "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        data = sse_data(response)
    assert data[-1] == "[DONE]"
    assert len(data) > 4  # really token by token, not one blob
    assert streamed_text(data) == greedy["choices"][0]["message"]["content"]
    usage = json.loads(data[-2])["usage"]
    assert usage == greedy["usage"]


def test_seed_makes_sampling_reproducible(client: httpx.Client) -> None:
    body = {"messages": QUESTION, "temperature": 0.9, "top_p": 0.9, "seed": 7, "max_tokens": 12}
    first, second = (client.post("/v1/chat/completions", json=body).json() for _ in range(2))
    assert first["choices"][0]["message"] == second["choices"][0]["message"]


def test_stop_sequences_cut_the_answer(client: httpx.Client, greedy: dict[str, Any]) -> None:
    text = greedy["choices"][0]["message"]["content"]
    stop = text[3:6]  # something the model is known to say after its first few characters
    body = {"messages": QUESTION, "temperature": 0, "max_tokens": 24, "stop": [stop]}
    answer = client.post("/v1/chat/completions", json=body).json()["choices"][0]
    assert answer["message"]["content"] == text[: text.index(stop)]
    assert answer["finish_reason"] == "stop"


def test_unsupported_requests_are_refused_clearly(client: httpx.Client) -> None:
    many = client.post("/v1/chat/completions", json={"messages": QUESTION, "n": 2})
    assert many.status_code == 400
    assert "n > 1" in many.json()["error"]["message"]
    other = client.post("/v1/chat/completions", json={"messages": QUESTION, "model": "gpt-4o"})
    assert other.status_code == 404
    assert other.json()["error"]["type"] == "model_not_found"
    empty = client.post("/v1/chat/completions", json={"messages": []})
    assert empty.status_code == 400
    assert empty.json()["error"]["type"] == "invalid_request_error"


def test_gateway_in_front_of_the_real_model(model_url: str) -> None:
    sock_dir = Path(tempfile.mkdtemp(prefix="gw-", dir="/tmp"))
    sunk: list[UsageRecord] = []
    gateway = ModelGateway(sock_dir / "model.sock", f"{model_url}/v1", "local-secret", MODEL_ID,
                           Budget(max_requests=2), sunk.append)  # fmt: skip
    transport = httpx.HTTPTransport(uds=str(sock_dir / "model.sock"))
    try:
        with gateway, httpx.Client(transport=transport, base_url="http://model", timeout=600) as c:
            once = c.post("/v1/chat/completions", json={
                "messages": QUESTION, "temperature": 0, "max_tokens": 16,
            })  # fmt: skip
            assert once.status_code == 200, once.text
            assert once.json()["choices"][0]["message"]["content"].strip()
            body = {"messages": QUESTION, "max_tokens": 16, "stream": True, "seed": 1}
            with c.stream("POST", "/v1/chat/completions", json=body) as response:
                assert response.status_code == 200
                data = sse_data(response)
            assert data[-1] == "[DONE]"
            assert streamed_text(data).strip()
            # the client did not ask for usage, so the gateway's usage chunk is not shown
            assert all(json.loads(d)["choices"] for d in data[:-1])
            refused = c.post("/v1/chat/completions", json={"messages": QUESTION})
            assert refused.status_code == 429
            assert refused.json()["error"]["type"] == "budget_exceeded"
    finally:
        shutil.rmtree(sock_dir, ignore_errors=True)
    first, second, third = sunk
    assert first.prompt_tokens == once.json()["usage"]["prompt_tokens"]
    assert first.completion_tokens == once.json()["usage"]["completion_tokens"]
    assert (first.estimated, second.estimated) == (False, False)  # the real usage was read
    assert second.stream
    assert 1 <= second.completion_tokens <= 16
    assert (first.status, second.status, third.status) == (200, 200, 429)


def test_health_reports_the_gguf_load(client: httpx.Client, greedy: dict[str, Any]) -> None:
    health = client.get("/health").json()
    assert health["loaded"] is True
    assert health["loaded_from"] == str(default_model_path())
    assert health["load_seconds"] > 0


def test_converted_weights_cache_gives_the_same_answers(
    model_cache: Path, greedy: dict[str, Any]
) -> None:
    engine = LocalModel(cache_dir=model_cache)  # the server above wrote the cache
    engine.load()
    assert engine.loaded_from is not None
    assert engine.loaded_from.parent == model_cache
    result = engine.generate(engine.encode(QUESTION), SamplingParams(max_tokens=24, temperature=0))
    assert result.text == greedy["choices"][0]["message"]["content"]
    assert result.prompt_tokens == greedy["usage"]["prompt_tokens"]
