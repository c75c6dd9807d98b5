"""Servers under test and their tools: `envhub serve`, pypiserver, PostgreSQL, wrk, py-spy.

Everything listens on 127.0.0.1 only; scratch state lives under bench/results/.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .core import (
    PEER_GUNICORN_ARGS,
    PEER_PACKAGES,
    PEER_VENV,
    PG_ADMIN_DSN,
    ROOT,
    VENV_BIN,
    cmd_out,
    free_port,
    log,
)


def wait_http(url: str, proc: subprocess.Popen[bytes], logfile: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited at start:\n{logfile.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop(proc)
    tail = logfile.read_text()[-4000:]
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s:\n{tail}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# --- tools --------------------------------------------------------------------------------

def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing wrk (Debian package) ...")
        res = subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True)
        if res.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: `apt-get install -y wrk` (Debian/Ubuntu).")


def ensure_peer_venv() -> Path:
    """A virtualenv apart from the project's, holding pypiserver and py-spy."""
    py = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / ".bench-installed"
    wanted = " ".join(PEER_PACKAGES)
    if stamp.exists() and stamp.read_text() == wanted:
        return PEER_VENV
    log(f"creating {PEER_VENV.relative_to(ROOT)} with: {wanted}")
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", *PEER_PACKAGES],
                   check=True)
    stamp.write_text(wanted)
    return PEER_VENV


# --- PostgreSQL scratch databases ---------------------------------------------------------

def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except Exception:
        return False


@contextmanager
def scratch_pg() -> Iterator[str]:
    import psycopg

    name = f"envhub_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- a live hub ---------------------------------------------------------------------------

@dataclass
class LiveHub:
    url: str
    proc: subprocess.Popen[bytes]
    token: str
    workdir: Path
    log: Path
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def serve_quiet_flags() -> list[str]:
    """Flags that keep `envhub serve` to the API alone (no embedded worker or local model
    competing for the CPU), for the versions of `serve` that have them."""
    env = dict(os.environ) | {"COLUMNS": "300", "TERM": "dumb", "NO_COLOR": "1"}
    help_text = cmd_out([str(VENV_BIN / "envhub"), "serve", "--help"], env)
    return [f for f in ("--no-worker", "--no-local-model") if f in help_text]


@contextmanager
def live_hub(workdir: Path, database_url: str | None) -> Iterator[LiveHub]:
    """`envhub serve` exactly as an operator runs it; SQLite in the data dir by default."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    hub_env = {
        "HUB_DATA_DIR": str(workdir / "data"),
        "HUB_SECRET_KEY": secrets.token_urlsafe(32),
        "HUB_PUBLIC_URL": url,
    }
    if database_url:
        hub_env["HUB_DATABASE_URL"] = database_url
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | hub_env
    env["XDG_CONFIG_HOME"] = str(workdir / "config")
    command = [str(VENV_BIN / "envhub"), "serve", "--host", "127.0.0.1", "--port", str(port),
               *serve_quiet_flags()]
    logfile = workdir / "hub.log"
    with logfile.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=workdir)
    try:
        wait_http(f"{url}/api/v1/health", proc, logfile)
        token = (workdir / "data" / "initial-admin-token").read_text().strip()
        yield LiveHub(url=url, proc=proc, token=token, workdir=workdir, log=logfile,
                      command=command, env=hub_env)
    finally:
        stop(proc)


@contextmanager
def live_pypiserver(workdir: Path, packages: Path) -> Iterator[tuple[str, subprocess.Popen[bytes],
                                                                     list[str], dict[str, str]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    command = [str(PEER_VENV / "bin" / "pypi-server"), "run", "-p", str(port), "-i", "127.0.0.1",
               "--server", "gunicorn", "--backend", "cached-dir", "--disable-fallback",
               str(packages)]
    extra = {"GUNICORN_CMD_ARGS": PEER_GUNICORN_ARGS}
    env = dict(os.environ) | extra
    logfile = workdir / "pypiserver.log"
    with logfile.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=workdir)
    try:
        wait_http(f"{url}/health", proc, logfile)
        yield url, proc, command, extra
    finally:
        stop(proc)


