"""The real, unmodified `prime` CLI (PyPI prime==0.18.0) run as a subprocess against a hub.

The client is installed once into `.cache/prime-cli-0.18.0/` at the repository root
(python -m venv + pip) and reused while its marker file is there; if that install fails
the tests fail, they never skip. Each run gets its own HOME (prime keeps its config in
~/.prime), a tools directory with `uv` (the client builds wheels with `uv build` and
installs with `uv pip`), and optionally a target virtualenv: first on PATH (so `pip` is
its pip) and VIRTUAL_ENV (so `uv pip` installs into it).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PRIME_VERSION = "0.18.0"
REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / f"prime-cli-{PRIME_VERSION}"
_MARKER = CACHE / ".installed-ok"
_PATH_TAIL = "/usr/local/bin:/usr/bin:/bin"


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)  # type: ignore[call-overload, no-any-return]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # two test runs must not build the venv at once
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def install_prime() -> Path:
    """The `prime` executable of an isolated venv holding exactly prime==0.18.0."""
    exe = CACHE / "bin" / "prime"
    with _locked(CACHE.parent / f".prime-cli-{PRIME_VERSION}.lock"):
        if _MARKER.exists() and exe.exists():
            return exe
        shutil.rmtree(CACHE, ignore_errors=True)
        steps = [[sys.executable, "-m", "venv", str(CACHE)],
                 [str(CACHE / "bin" / "python"), "-m", "pip", "install", "--quiet",
                  f"prime=={PRIME_VERSION}"]]
        for cmd in steps:
            result = _run(cmd)
            if result.returncode != 0:
                pytest.fail(f"installing prime=={PRIME_VERSION} failed ({' '.join(cmd)}):\n"
                            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}", pytrace=False)
        version = _run([str(exe), "--version"])
        if PRIME_VERSION not in version.stdout:
            pytest.fail(f"unexpected prime version: {version.stdout}{version.stderr}",
                        pytrace=False)
        _MARKER.write_text(PRIME_VERSION)
    return exe


def uv_binary() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    assert Path(found).exists(), "uv is a dev dependency of the hub; install '.[dev]'"
    return found


def _uv_cache_dir() -> str:
    # Resolved before HOME is replaced, so installs reuse the machine's uv cache.
    return _run([uv_binary(), "cache", "dir"]).stdout.strip()


def make_venv(path: Path) -> Path:
    """A plain venv (with pip) for `prime env install` to install into."""
    result = _run([sys.executable, "-m", "venv", str(path)])
    assert result.returncode == 0, result.stderr
    return path


@dataclass
class Prime:
    exe: Path
    hub_url: str
    home: Path
    tools: Path
    uv_cache: str
    log: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, tmp: Path, hub_url: str) -> Prime:
        tools = tmp / "tools"
        tools.mkdir(parents=True, exist_ok=True)
        (tools / "uv").symlink_to(uv_binary())
        return cls(exe=install_prime(), hub_url=hub_url, home=tmp / "home", tools=tools,
                   uv_cache=_uv_cache_dir())

    def env(self, token: str | None, venv: Path | None) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("PRIME_", "UV_", "VIRTUAL_ENV", "HUB_", "PYTHON"))}
        path = f"{self.tools}:{_PATH_TAIL}"
        env = keep | {
            "HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config"),
            "PATH": f"{venv / 'bin'}:{path}" if venv else path,
            "PRIME_BASE_URL": self.hub_url, "PRIME_FRONTEND_URL": self.hub_url,
            "PRIME_DISABLE_VERSION_CHECK": "1", "UV_CACHE_DIR": self.uv_cache,
            "COLUMNS": "400",  # rich wraps at 80 columns otherwise; commands must stay whole
        }
        if token:
            env["PRIME_API_KEY"] = token
        if venv:
            env["VIRTUAL_ENV"] = str(venv)
        return env

    def __call__(self, *args: str, token: str | None = None, cwd: Path | None = None,
                 venv: Path | None = None, ok: bool = True, stdin: str | None = None
                 ) -> subprocess.CompletedProcess[str]:
        self.home.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([str(self.exe), *args], env=self.env(token, venv), cwd=cwd,
                                input=stdin, capture_output=True, text=True, timeout=900)
        self.log.append(f"$ prime {' '.join(args)} -> {result.returncode}")
        if ok and result.returncode != 0:
            raise AssertionError(f"prime {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        if not ok and result.returncode == 0:
            raise AssertionError(f"prime {' '.join(args)} unexpectedly succeeded:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result
