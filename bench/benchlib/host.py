"""The machine and the versions of what ran, for the Machine and Versions sections."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

from .core import PEER_VENV, PG_ADMIN_DSN, ROOT
from .procfs import loadavg, meminfo_kb

HUB_PACKAGES = ["fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy",
                "psycopg", "pydantic", "httpx"]
PEER_VERSION_PACKAGES = ["pypiserver", "gunicorn", "gevent", "watchdog", "py-spy"]


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = meminfo_kb("MemTotal")
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "os": _os_release(),
        "python": platform.python_version(),
        "loadavg_at_start": loadavg(),
    }


def _os_release() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return platform.system()
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)', text, re.M)
    return m.group(1) if m else platform.system()


def pip_versions(python: Path, names: list[str]) -> dict[str, str]:
    code = (
        "import json, sys\nfrom importlib.metadata import version, PackageNotFoundError\n"
        "out = {}\nfor n in sys.argv[1:]:\n    try:\n        out[n] = version(n)\n"
        "    except PackageNotFoundError:\n        out[n] = 'not installed'\nprint(json.dumps(out))"
    )
    res = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True,
                         check=True)
    return dict(json.loads(res.stdout))


def hub_versions() -> dict[str, str]:
    out = {"envhub commit": head_commit()}
    out |= pip_versions(Path(sys.executable), HUB_PACKAGES)
    out["postgresql"] = _pg_version()
    return out


def head_commit() -> str:
    """HEAD's commit, read from .git (the working tree may hold uncommitted changes)."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            path = git / ref
            if path.exists():
                return path.read_text().strip()[:12]
            for line in (git / "packed-refs").read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0][:12]
            return "unknown"
        return head[:12]
    except OSError:
        return "unknown"


def _pg_version() -> str:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "unknown"
    except Exception:
        return "unavailable"


def peer_versions() -> dict[str, str]:
    """The peer venv's packages; empty if no benchmark has created that venv yet."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        return {}
    return pip_versions(python, PEER_VERSION_PACKAGES)


def wrk_version() -> str:
    try:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    except OSError:
        return "not installed"
    return (out.stdout + out.stderr).splitlines()[0].strip()
