"""A real hub served by uvicorn in a subprocess, on PostgreSQL, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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
               extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env) | {"HUB_URL": self.url} | (extra_env or {})
        if token:
            env["HUB_TOKEN"] = token
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "envhub"), *args], env=env, cwd=cwd,
            input=input_text, capture_output=True, text=True, timeout=600,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"envhub {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def admin_token(self, user: str, *, scope: str = "write", admin: bool = False) -> str:
        args = ["admin", "create-user", user] + (["--admin"] if admin else [])
        self.envhub(*args)
        return self.envhub("admin", "create-token", user, "--scope", scope).stdout.strip()


def start_hub(tmp: Path, database_url: str, extra_env: dict[str, str] | None = None
              ) -> tuple[subprocess.Popen[bytes], LiveHub]:
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
    } | (extra_env or {})
    log = tmp / "hub.log"
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "envhub"), "serve", "--port", str(port),
         "--no-worker", "--no-local-model"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    hub = LiveHub(url=url, env=env, data_dir=tmp / "data", log=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the hub exited at start:\n{log.read_text()}", pytrace=False)
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return proc, hub
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.terminate()
    pytest.fail(f"the hub did not answer within 60 s:\n{log.read_text()}", pytrace=False)


def stop_hub(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def live_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    url = create_database("envhub_live")
    proc, hub = start_hub(tmp_path_factory.mktemp("live"), url)
    yield hub
    stop_hub(proc)
    drop_database(url)
