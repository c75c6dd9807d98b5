"""`envhub serve` in a scratch data dir, and the environment both sides evaluate."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from benchlib import VENV_BIN, free_port, stop, wait_http

from . import ENV_NAME, OWNER


@dataclass
class WorkerHub:
    """`envhub serve` with its embedded worker and local model (the single-machine default)."""

    url: str
    model_url: str  # the local provider's OpenAI-compatible base URL (TCP, loopback)
    data_dir: Path
    env: dict[str, str]
    command: list[str]
    token: str = ""

    def envhub(self, *args: str) -> str:
        env = self.env | {"HUB_URL": self.url} | ({"HUB_TOKEN": self.token} if self.token else {})
        proc = subprocess.run([str(VENV_BIN / "envhub"), *args], env=env,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"envhub {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.data_dir / "logs" / name
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _wait_for(what: str, ready: Callable[[], bool], proc: subprocess.Popen[bytes],
              timeout: float) -> float:
    started = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"envhub serve exited while waiting for {what}")
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what} not ready within {timeout:.0f} s")
        time.sleep(0.5)
    return round(time.monotonic() - started, 1)


def _model_loaded(model_url: str) -> bool:
    try:
        r = httpx.get(model_url.removesuffix("/v1") + "/health", timeout=5)
        return r.status_code == 200 and r.json().get("loaded") is True
    except httpx.HTTPError:
        return False


@contextmanager
def worker_hub(work: Path) -> Iterator[tuple[WorkerHub, dict[str, float]]]:
    """Start the hub in `work` (wiped first, so the venv cache starts empty)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    port, model_port = free_port(), free_port()
    url, model_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{model_port}/v1"
    hub_env = {"HUB_DATA_DIR": str(work / "data"), "HUB_SECRET_KEY": secrets.token_urlsafe(32),
               "HUB_PUBLIC_URL": url, "HUB_LOCAL_MODEL_PORT": str(model_port),
               "HUB_LOCAL_MODEL_URL": model_url}
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | hub_env
    env["XDG_CONFIG_HOME"] = str(work / "config")
    command = [str(VENV_BIN / "envhub"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    logfile = work / "hub.log"
    with logfile.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=work)
    hub = WorkerHub(url=url, model_url=model_url, data_dir=work / "data", env=env,
                    command=command)
    try:
        started = time.monotonic()
        wait_http(f"{url}/api/v1/health", proc, logfile)
        worker_log = hub.data_dir / "logs" / "worker.log"
        startup = {
            "api_s": round(time.monotonic() - started, 1),
            # The first load of the GGUF takes minutes on busy cores; later ones use the
            # converted-weights cache in ~/.cache/envhub.
            "model_s": _wait_for("the local model", lambda: _model_loaded(model_url), proc, 900),
            "worker_s": _wait_for("the worker", lambda: worker_log.exists()
                                  and b" ready." in worker_log.read_bytes(), proc, 180),
        }
        yield hub, startup
    finally:
        stop(proc)


def publish(hub: WorkerHub, work: Path) -> dict[str, Any]:
    """An admin write token, then the e2e test's environment: `envhub init --v0` + push."""
    hub.token = hub.envhub("admin", "create-token", OWNER, "--scope", "write").strip()
    src = work / "src"
    hub.envhub("init", ENV_NAME, "--v0", "--path", str(src))
    started = time.monotonic()
    hub.envhub("push", str(src / ENV_NAME))
    return {"push_s": round(time.monotonic() - started, 1),
            "commands": [f"envhub admin create-token {OWNER} --scope write",
                         f"envhub init {ENV_NAME} --v0 --path SRC",
                         f"envhub push SRC/{ENV_NAME}"]}
