"""Paths, settings and small helpers every benchmark uses."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # so the benchmarks can import hub and tests.support

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PEER_VENV = RESULTS / ".venv-peer"
VENV_BIN = Path(sys.executable).parent
PG_ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

# What the peer venv gets: pypiserver as its Docker image runs it (gunicorn, one gevent
# worker, directory cache through watchdog), plus py-spy for profiling the hub.
PEER_PACKAGES = ["pypiserver[cache]", "gunicorn", "gevent", "py-spy"]
# pypiserver's docker/gunicorn.conf.py: preload_app = True, workers = 1,
# worker_class = "gevent". GUNICORN_CMD_ARGS says the same without a file in the cwd;
# --no-control-socket only keeps gunicorn (>= 27) from creating ~/.gunicorn/gunicorn.ctl.
PEER_GUNICORN_ARGS = "--workers 1 --worker-class gevent --preload --no-control-socket"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cmd_out(args: list[str], env: dict[str, str] | None = None) -> str:
    """A command's stripped stdout, or "unavailable" if it cannot be run."""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=60,
                              env=env).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"


def save_json(name: str, data: object) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path
