"""Fixtures for the evaluation runner: a deterministic upstream model server, real model
gateways, and environments scaffolded by `envhub init`, built by `envhub push`'s builder
and served from a local PEP 503 index.

The upstream is a tiny real HTTP server (stdlib) that answers "What is <expr>?" with the
right boxed answer, so rewards are known in advance. The model name picks its behaviour:
`stub-model` answers, `stub-fail` returns HTTP 400, `stub-slow` answers only after
`SLOW_S` seconds (or when the server stops).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hub.cli.build import build_all
from hub.cli.scaffold import scaffold
from workers.evals.spec import EvalRunSpec
from workers.evals.venvs import PreparedVenv, VenvCache
from workers.gateway import ModelGateway, UsageRecord

SLOW_S = 60.0
USAGE = {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}

# Appended to the scaffolded v0 module: `probe_ports` makes load_environment try the
# network from inside the sandbox and write what happened to ./probe.json (cwd = /out).
V0_PROBE = '''

_scaffolded_load_environment = load_environment


def _probe(ports: list[int]) -> dict[str, str]:
    import json
    import socket
    import urllib.request

    results: dict[str, str] = {}
    for port in ports:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=3).close()
            results[f"tcp:{port}"] = "connected"
        except OSError as exc:
            results[f"tcp:{port}"] = type(exc).__name__
    try:
        socket.getaddrinfo("pypi.org", 443)
        results["dns:pypi.org"] = "resolved"
    except OSError as exc:
        results["dns:pypi.org"] = type(exc).__name__
    try:
        urllib.request.urlopen("https://pypi.org/simple/", timeout=5).close()
        results["https:pypi.org"] = "fetched"
    except OSError as exc:
        results["https:pypi.org"] = type(exc).__name__
    with open("probe.json", "w") as fh:
        json.dump(results, fh)
    return results


def load_environment(num_examples: int = -1, probe_ports: list[int] | None = None,
                     **kwargs: Any) -> vf.Environment:
    if probe_ports is not None:
        _probe(probe_ports)
    return _scaffolded_load_environment(num_examples, **kwargs)
'''


def _answer(messages: list[dict[str, Any]]) -> str:
    text = ""
    for message in messages:
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            text = message["content"]
    match = re.search(r"What is ([0-9+\-*/() ]+)\?", text)
    if match is None:
        return "I do not know."
    value = eval(match.group(1), {"__builtins__": {}})  # noqa: S307 - digits and operators only
    number = int(value) if float(value).is_integer() else value
    return f"The answer is \\boxed{{{number}}}."


@dataclass
class Upstream:
    base_url: str
    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)


def _handler(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send(200, {"object": "list", "data": []})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            upstream.requests.append(body)
            model = body.get("model")
            if model == "stub-fail":
                self._send(400, {"error": {"message": "stub refuses: bad request",
                                           "type": "invalid_request_error"}})
                return
            if model == "stub-slow":
                upstream.stopping.wait(SLOW_S)
            content = _answer(body.get("messages") or [])
            created = int(time.time())
            if body.get("stream"):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for delta, finish, usage in (({"role": "assistant", "content": content},
                                              None, None), ({}, "stop", USAGE)):
                    event: dict[str, Any] = {
                        "id": "c1", "object": "chat.completion.chunk", "created": created,
                        "model": model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                    if usage:
                        event["usage"] = usage
                    self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                self.wfile.write(b"data: [DONE]\n\n")
                return
            self._send(200, {
                "id": "c1", "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": USAGE})

    return Handler


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    holder: list[Upstream] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)  # type: ignore[arg-type]
    port = int(server.server_address[1])
    up = Upstream(base_url=f"http://127.0.0.1:{port}/v1", port=port)
    holder.append(up)
    server.RequestHandlerClass = _handler(up)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield up
    up.stopping.set()
    server.shutdown()
    server.server_close()


@dataclass
class GatewayHandle:
    socket: Path
    gateway: ModelGateway
    usage: list[UsageRecord]


@pytest.fixture
def make_gateway(upstream: Upstream) -> Iterator[Callable[[str], GatewayHandle]]:
    made: list[tuple[GatewayHandle, Path]] = []

    def factory(model: str) -> GatewayHandle:
        # Short path (sun_path is 108 bytes) in a directory of its own, as production does.
        directory = Path(tempfile.mkdtemp(prefix="gw-", dir="/tmp"))
        usage: list[UsageRecord] = []
        gateway = ModelGateway(directory / "model.sock", upstream.base_url, "sk-upstream",
                               model, usage_sink=usage.append).start()
        handle = GatewayHandle(directory / "model.sock", gateway, usage)
        made.append((handle, directory))
        return handle

    yield factory
    for handle, directory in made:
        handle.gateway.stop()
        shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True)
class BuiltEnv:
    name: str
    runtime: str
    content_hash: str
    index_url: str
    wheel_sha256: str = ""

    def spec(self, **overrides: Any) -> EvalRunSpec:
        fields: dict[str, Any] = {
            "dist_name": self.name, "version": "0.1.0", "runtime": self.runtime,
            "content_hash": self.content_hash, "index_url": self.index_url,
            "environment": f"t/{self.name}", "wheel_sha256": self.wheel_sha256,
            "model": "stub-model", "num_examples": 3, "rollouts_per_example": 2,
            "sampling_args": {"max_tokens": 64}, "max_concurrency": 4, "timeout_s": 600.0}
        fields.update(overrides)
        return EvalRunSpec(**fields)


def write_simple_index(root: Path, wheels: dict[str, list[Path]]) -> str:
    """A PEP 503 directory index (`<root>/<name>/index.html`); returns its file:// URL."""
    for name, files in wheels.items():
        project = root / name
        project.mkdir(parents=True, exist_ok=True)
        links = []
        for path in files:
            shutil.copy(path, project / path.name)
            links.append(f'<a href="{path.name}">{path.name}</a>')
        (project / "index.html").write_text("<html><body>" + "".join(links) + "</body></html>")
    return root.as_uri()


@pytest.fixture(scope="session")
def built_envs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltEnv]:
    root = tmp_path_factory.mktemp("envs")
    out: dict[str, BuiltEnv] = {}
    for name, runtime in (("arith-v0", "v0"), ("arith-v1", "v1")):
        env_dir, _ = scaffold(name, root / "src", runtime)  # type: ignore[arg-type]
        if runtime == "v0":
            module = env_dir / "arith_v0.py"
            module.write_text(module.read_text() + V0_PROBE)
        built = build_all(env_dir, root / "build" / name)
        wheel = next(f.path for f in built.files if f.kind == "wheel")
        # One package-scoped index per environment, as the hub serves them.
        url = write_simple_index(root / "index" / name, {name: [wheel]})
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        out[name] = BuiltEnv(name, runtime, built.content_hash, url, digest)
    return out


@pytest.fixture(scope="session")
def venv_cache(tmp_path_factory: pytest.TempPathFactory) -> VenvCache:
    # ENVHUB_TEST_VENV_CACHE keeps prepared venvs between local runs (keys include the
    # wheel's sha256, so a changed template still rebuilds).
    keep = os.environ.get("ENVHUB_TEST_VENV_CACHE")
    return VenvCache(Path(keep) if keep else tmp_path_factory.mktemp("venv-cache"))


@pytest.fixture(scope="session")
def v0_venv(venv_cache: VenvCache, built_envs: dict[str, BuiltEnv]) -> PreparedVenv:
    return venv_cache.prepare(built_envs["arith-v0"].spec())


@pytest.fixture(scope="session")
def v1_venv(venv_cache: VenvCache, built_envs: dict[str, BuiltEnv]) -> PreparedVenv:
    return venv_cache.prepare(built_envs["arith-v1"].spec())
