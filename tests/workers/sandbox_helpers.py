"""Helpers shared by the sandbox tests (test_sandbox*.py); the `backend` fixture is
in conftest.py."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from workers.sandbox import BubblewrapBackend, SandboxResult, SandboxSpec
from workers.sandbox.bubblewrap import BubblewrapHandle

VENV = Path(sys.prefix)
MiB = 1024 * 1024


def make_spec(tmp_path: Path, code: str, **kw: Any) -> SandboxSpec:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    kw.setdefault("timeout_s", 60.0)
    return SandboxSpec(argv=["python", "-c", code], venv=VENV, output_dir=out, **kw)


def run_py(backend: BubblewrapBackend, tmp_path: Path, code: str,
           **kw: Any) -> tuple[SandboxResult, Any]:
    """Run `code` in the sandbox; it reports by printing `RESULT <json>` on one line."""
    result = backend.run(make_spec(tmp_path, code, **kw), tmp_path / "job.log")
    log = (tmp_path / "job.log").read_text()
    found = [ln[7:] for ln in log.splitlines() if ln.startswith("RESULT ")]
    return result, (json.loads(found[-1]) if found else {"_log": log})


def wait_for(log: Path, text: str, handle: BubblewrapHandle, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in (log.read_text(errors="replace") if log.exists() else ""):
        assert not handle.poll(), log.read_text(errors="replace")
        assert time.monotonic() < deadline, f"never saw {text!r}"
        time.sleep(0.05)
