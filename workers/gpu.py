"""The GPU queue's model server: start vLLM for the job's model, evaluate, stop it.

A provider of kind `vllm` names Hugging Face model ids (or local paths) as its models
(`vllm/Qwen/Qwen2.5-0.5B-Instruct`); its jobs go to the `gpu` queue. A GPU worker
(`envhub worker -Q gpu --concurrency 1`, one per GPU set) runs each such job like any
other evaluation, except that the upstream is a vLLM OpenAI server it starts for the job
on 127.0.0.1 with a random API key, and stops afterwards (GPU memory is the scarce thing:
nothing stays resident between jobs). The sandbox still reaches it only through the
gateway. Weights must already be in the node's Hugging Face cache (set HF_HUB_OFFLINE=1
on the worker to make a missing model fail fast instead of downloading).

Settings (HUB_*): VLLM_TENSOR_PARALLEL_SIZE, VLLM_GPU_MEMORY_UTILIZATION,
VLLM_MAX_MODEL_LEN, VLLM_EXTRA_ARGS (shell-quoted), VLLM_STARTUP_TIMEOUT_S.
Everything that does not need a GPU (the command line, the lifecycle) is tested with a
fake process; see tests/workers/test_tasks_gpu.py.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from hub.jobs.settings import JobSettings


class VllmStartError(RuntimeError):
    """vLLM exited or did not answer in time; `log_tail` says why."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


@dataclass(frozen=True)
class VllmConfig:
    model: str  # HF id or path; also the name the server answers to
    port: int
    api_key: str
    host: str = "127.0.0.1"
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    extra_args: tuple[str, ...] = ()
    python: str = sys.executable

    @classmethod
    def for_model(cls, model: str, jobs: JobSettings, *, port: int | None = None
                  ) -> VllmConfig:
        return cls(model=model, port=port or free_port(), api_key=secrets.token_urlsafe(24),
                   tensor_parallel_size=jobs.vllm_tensor_parallel_size,
                   gpu_memory_utilization=jobs.vllm_gpu_memory_utilization,
                   max_model_len=jobs.vllm_max_model_len,
                   extra_args=tuple(shlex.split(jobs.vllm_extra_args)))

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [self.python, "-m", "vllm.entrypoints.openai.api_server",
               "--model", self.model, "--served-model-name", self.model,
               "--host", self.host, "--port", str(self.port),
               "--tensor-parallel-size", str(self.tensor_parallel_size),
               "--gpu-memory-utilization", f"{self.gpu_memory_utilization:g}"]
        if self.max_model_len is not None:
            cmd += ["--max-model-len", str(self.max_model_len)]
        return [*cmd, *self.extra_args]

    def env(self) -> dict[str, str]:
        # The key travels by environment, never on the command line (visible in ps).
        return dict(os.environ) | {"VLLM_API_KEY": self.api_key}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process(Protocol):
    pid: int

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...


Popen = Callable[..., Process]
Probe = Callable[[str, dict[str, str]], int]


def http_probe(url: str, headers: dict[str, str]) -> int:
    try:
        return httpx.get(url, headers=headers, timeout=5.0).status_code
    except httpx.HTTPError:
        return 0


def _signal_group(proc: Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


class VllmServer:
    """One vLLM process for one job: `start()`, `wait_ready()`, `stop()`."""

    def __init__(self, config: VllmConfig, log_path: Path, *,
                 popen: Popen = subprocess.Popen, probe: Probe = http_probe,
                 kill: Callable[[Process, int], None] = _signal_group,
                 startup_timeout_s: float = 900.0, poll_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.log_path = log_path
        self._popen, self._probe, self._kill = popen, probe, kill
        self.startup_timeout_s, self.poll_s = startup_timeout_s, poll_s
        self._clock, self._sleep = clock, sleep
        self.proc: Process | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # Own process group: stop() reaches vLLM's engine workers too.
            self.proc = self._popen(self.config.command(), stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=self.config.env(), start_new_session=True)

    def _tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def wait_ready(self, cancel: threading.Event | None = None) -> str:
        """Block until GET /v1/models answers 200; returns the base URL."""
        assert self.proc is not None, "start() first"
        deadline = self._clock() + self.startup_timeout_s
        headers = {"Authorization": f"Bearer {self.config.api_key}"}
        while True:
            code = self.proc.poll()
            if code is not None:
                raise VllmStartError(f"vLLM exited with code {code} while starting",
                                     self._tail())
            if self._probe(f"{self.config.base_url}/models", headers) == 200:
                return self.config.base_url
            if cancel is not None and cancel.is_set():
                raise VllmStartError("cancelled while vLLM was starting")
            if self._clock() > deadline:
                raise VllmStartError(f"vLLM did not answer within {self.startup_timeout_s:g}"
                                     " s", self._tail())
            self._sleep(self.poll_s)

    def stop(self, grace_s: float = 30.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        self._kill(proc, signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            self._kill(proc, signal.SIGKILL)
            proc.wait(grace_s)


@contextlib.contextmanager
def serving(model: str, jobs: JobSettings, log_path: Path,
            cancel: threading.Event | None = None, **server_kw: Any) -> Iterator[VllmConfig]:
    """vLLM serving `model` for the duration of the block; always stopped afterwards."""
    config = VllmConfig.for_model(model, jobs)
    server = VllmServer(config, log_path, startup_timeout_s=jobs.vllm_startup_timeout_s,
                        **server_kw)
    server.start()
    try:
        server.wait_ready(cancel)
        yield config
    finally:
        server.stop()
