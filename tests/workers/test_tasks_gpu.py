"""The GPU queue's vLLM lifecycle, without a GPU: the command line, readiness, failure to
start, timeouts, stopping (with escalation) — with fake processes, and once with a real
process that impersonates `python -m vllm.entrypoints.openai.api_server`."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.jobs.settings import JobSettings
from workers.gpu import Process, VllmConfig, VllmServer, VllmStartError, serving


def test_command_line() -> None:
    jobs = JobSettings(vllm_tensor_parallel_size=2, vllm_gpu_memory_utilization=0.85,
                       vllm_max_model_len=8192,
                       vllm_extra_args="--enforce-eager --max-num-seqs 16")
    config = VllmConfig.for_model("Qwen/Qwen2.5-0.5B-Instruct", jobs, port=9123)
    cmd = config.command()
    assert cmd[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    pairs = dict(zip(cmd[3::2], cmd[4::2], strict=False))
    assert pairs["--model"] == pairs["--served-model-name"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert (pairs["--host"], pairs["--port"]) == ("127.0.0.1", "9123")
    assert pairs["--tensor-parallel-size"] == "2" and pairs["--gpu-memory-utilization"] == "0.85"
    assert pairs["--max-model-len"] == "8192"
    assert cmd[-3:] == ["--enforce-eager", "--max-num-seqs", "16"]
    assert config.api_key not in " ".join(cmd)  # the key goes by environment only
    assert config.env()["VLLM_API_KEY"] == config.api_key
    assert config.base_url == "http://127.0.0.1:9123/v1"


class FakeProc:
    def __init__(self, exit_after: int | None = None, stubborn: bool = False) -> None:
        self.pid = 4242
        self.code: int | None = None
        self.polls = 0
        self.exit_after = exit_after
        self.stubborn = stubborn
        self.signals: list[int] = []

    def poll(self) -> int | None:
        self.polls += 1
        if self.exit_after is not None and self.polls > self.exit_after:
            self.code = 1
        return self.code

    def wait(self, timeout: float | None = None) -> int:
        if self.code is None:
            if self.stubborn and signal.SIGKILL not in self.signals:
                raise subprocess.TimeoutExpired("vllm", timeout or 0)
            self.code = -self.signals[-1]
        return self.code


def make(tmp_path: Path, proc: FakeProc, answers: list[int], timeout: float = 100.0
         ) -> tuple[VllmServer, list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []
    clock = iter(range(0, 10_000, 10))

    def popen(cmd: list[str], **kw: Any) -> FakeProc:
        calls.append({"cmd": cmd, **kw})
        return proc

    def probe(url: str, headers: dict[str, str]) -> int:
        return answers.pop(0) if answers else 0

    def kill(p: Process, sig: int) -> None:
        proc.signals.append(sig)

    config = VllmConfig(model="m", port=1234, api_key="secret")
    server = VllmServer(config, tmp_path / "vllm.log", popen=popen, probe=probe, kill=kill,
                        startup_timeout_s=timeout, poll_s=0, clock=lambda: float(next(clock)),
                        sleep=lambda _s: None)
    return server, calls


def test_lifecycle_ready_then_stopped(tmp_path: Path) -> None:
    proc = FakeProc()
    server, calls = make(tmp_path, proc, [0, 503, 200])
    server.start()
    assert calls[0]["start_new_session"] is True and calls[0]["env"]["VLLM_API_KEY"] == "secret"
    assert server.wait_ready() == "http://127.0.0.1:1234/v1"
    server.stop()
    assert proc.signals == [signal.SIGTERM] and server.proc is None
    server.stop()  # idempotent


def test_exit_while_starting_and_timeout(tmp_path: Path) -> None:
    server, _ = make(tmp_path, FakeProc(exit_after=2), [503] * 10)
    server.start()
    (tmp_path / "vllm.log").write_text("CUDA out of memory")
    with pytest.raises(VllmStartError) as err:
        server.wait_ready()
    assert "exited with code 1" in str(err.value) and "CUDA" in err.value.log_tail
    slow, _ = make(tmp_path, FakeProc(), [503] * 100, timeout=30)
    slow.start()
    with pytest.raises(VllmStartError, match="did not answer within 30"):
        slow.wait_ready()


def test_stop_escalates_and_cancel_while_starting(tmp_path: Path) -> None:
    proc = FakeProc(stubborn=True)
    server, _ = make(tmp_path, proc, [])
    server.start()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(VllmStartError, match="cancelled"):
        server.wait_ready(cancel)
    server.stop(grace_s=0.01)
    assert proc.signals == [signal.SIGTERM, signal.SIGKILL]


FAKE_VLLM = '''
import argparse, json, os
from http.server import BaseHTTPRequestHandler, HTTPServer
p = argparse.ArgumentParser()
for flag in ("--model", "--served-model-name", "--host", "--port", "--tensor-parallel-size",
             "--gpu-memory-utilization"):
    p.add_argument(flag)
a = p.parse_args()
key = os.environ["VLLM_API_KEY"]
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.headers.get("Authorization") == f"Bearer {key}"
        body = json.dumps({"data": [{"id": a.served_model_name}]}).encode()
        self.send_response(200 if ok else 401)
        self.end_headers()
        self.wfile.write(body if ok else b"{}")
    def log_message(self, *args):
        pass
HTTPServer((a.host, int(a.port)), H).serve_forever()
'''


def test_real_process_impersonating_vllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    pkg = tmp_path / "fake" / "vllm" / "entrypoints" / "openai"
    pkg.mkdir(parents=True)
    for d in (pkg, pkg.parent, pkg.parent.parent):
        (d / "__init__.py").write_text("")
    (pkg / "api_server.py").write_text(FAKE_VLLM)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "fake"))
    with serving("tiny/model", JobSettings(vllm_startup_timeout_s=30), tmp_path / "v.log",
                 poll_s=0.1) as config:
        r = httpx.get(f"{config.base_url}/models",
                      headers={"Authorization": f"Bearer {config.api_key}"})
        assert r.json() == {"data": [{"id": "tiny/model"}]}
        assert httpx.get(f"{config.base_url}/models").status_code == 401
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{config.base_url}/models", timeout=2)  # stopped with the block
