"""A real hub served by uvicorn in a subprocess, on PostgreSQL, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.db import create_database, drop_database
from tests.support.hub import SECRET


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveHub:
    url: str
    env: dict[str, str]
    data_dir: Path
    log: Path

    def envhub(self, *args: str, token: str | None = None, cwd: Path | None = None,
               input_text: str | None = None, check: bool = True,
               extra_env: dict[str, str] | None = None,
               timeout: float = 600) -> subprocess.CompletedProcess[str]:
        env = dict(self.env) | {"HUB_URL": self.url} | (extra_env or {})
        if token:
            env["HUB_TOKEN"] = token
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "envhub"), *args], env=env, cwd=cwd,
            input=input_text, capture_output=True, text=True, timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"envhub {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def admin_token(self, user: str, *, scope: str = "write", admin: bool = False) -> str:
        args = ["admin", "create-user", user] + (["--admin"] if admin else [])
        self.envhub(*args)
        return self.envhub("admin", "create-token", user, "--scope", scope).stdout.strip()

    def log_tails(self, lines: int = 60) -> str:
        """The end of the hub's log and of its children's logs (worker, local model)."""
        parts = []
        for path in (self.log, self.data_dir / "logs" / "worker.log",
                     self.data_dir / "logs" / "local-model.log"):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name} (last {len(tail)} lines) ---\n" + "\n".join(tail))
        return "\n".join(parts)


def start_hub(tmp: Path, database_url: str, extra_env: dict[str, str] | None = None, *,
              with_worker: bool = False, ready_timeout: float = 900
              ) -> tuple[subprocess.Popen[bytes], LiveHub]:
    """Start `envhub serve`. By default the API only (`--no-worker --no-local-model`).

    `with_worker=True` is the single-machine default: the embedded worker (filesystem
    broker, beat) and the built-in local model as children of `serve`. The model server
    gets a free port, and readiness waits (up to `ready_timeout`) until the model is
    loaded and the worker is consuming, so the first evaluation does not time out on them.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env |= {
        "HUB_DATABASE_URL": database_url,
        "HUB_DATA_DIR": str(tmp / "data"),
        "HUB_STORAGE_URL": f"file://{tmp / 'blobs'}",
        "HUB_SECRET_KEY": SECRET,
        "HUB_PUBLIC_URL": url,
        "XDG_CONFIG_HOME": str(tmp / "config"),
    }
    model_url = ""
    if with_worker:
        model_port = free_port()
        model_url = f"http://127.0.0.1:{model_port}/v1"
        env |= {"HUB_LOCAL_MODEL_PORT": str(model_port), "HUB_LOCAL_MODEL_URL": model_url}
    env |= extra_env or {}
    log = tmp / "hub.log"
    flags = [] if with_worker else ["--no-worker", "--no-local-model"]
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "envhub"), "serve", "--port", str(port), *flags],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    hub = LiveHub(url=url, env=env, data_dir=tmp / "data", log=log)
    try:
        _wait_until(proc, hub, 60, "the API", lambda: _answers(f"{url}/api/v1/health"))
        if with_worker:
            health = model_url.removesuffix("/v1") + "/health"
            model_log = hub.data_dir / "logs" / "local-model.log"
            _wait_until(proc, hub, ready_timeout, "the local model (GET /health: loaded)",
                        lambda: _model_loaded(health, model_log, hub))
            worker_log = hub.data_dir / "logs" / "worker.log"
            _wait_until(proc, hub, 120, "the embedded worker",
                        lambda: worker_log.exists() and b" ready." in worker_log.read_bytes())
    except BaseException:
        stop_hub(proc)
        raise
    return proc, hub


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# In the model server's log: it will never become ready, so fail now instead of at timeout.
MODEL_FATAL = ("preloading the local model failed", "Traceback (most recent call last)",
               "address already in use")


def _model_loaded(health_url: str, log: Path, hub: LiveHub) -> bool:
    try:
        r = httpx.get(health_url, timeout=5)
        if r.status_code == 200 and r.json().get("loaded") is True:
            return True
    except httpx.HTTPError:
        pass
    text = log.read_text(errors="replace") if log.exists() else ""
    if any(marker in text for marker in MODEL_FATAL):
        pytest.fail(f"the local model server failed:\n{hub.log_tails()}", pytrace=False)
    return False


def _wait_until(proc: subprocess.Popen[bytes], hub: LiveHub, timeout: float, what: str,
                ready: Callable[[], bool]) -> None:
    started = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the hub exited ({proc.returncode}) while waiting for {what}:\n"
                        f"{hub.log_tails()}", pytrace=False)
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what} was not ready within {timeout:.0f} s:\n{hub.log_tails()}",
                        pytrace=False)
        time.sleep(0.5)


def stop_hub(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def live_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    url = create_database("envhub_live")
    proc, hub = start_hub(tmp_path_factory.mktemp("live"), url)
    yield hub
    stop_hub(proc)
    drop_database(url)
