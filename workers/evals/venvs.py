"""Prepared virtualenvs for evaluations, cached by environment content hash.

One cache entry per (distribution, version, content hash, runtime, interpreter):

    <cache>/entries/<key>/venv/          the env installed from the hub's own index
    <cache>/entries/<key>/wheelhouse/    wheels the v1 harness program installs at run time
    <cache>/entries/<key>/empty-index/   an empty dir: UV_DEFAULT_INDEX inside the sandbox
    <cache>/entries/<key>/manifest.json  what is in it (written last, before publishing)

An entry is built in `<cache>/tmp/<key>-<random>/` and published with one `rename()`, so
a reader sees a complete entry or none; a per-key `flock` makes concurrent preparers on
one host wait for the first instead of building twice (and a preparer that loses a
rename race on a shared filesystem discards its copy). The venv is made with
`uv venv --relocatable` so it keeps working after the rename, and its bytecode is
compiled with the FINAL path as the source prefix: the venv is read-only in the
sandbox, and tracebacks should name files that exist.

Installation: `uv pip install --no-config --index-url <extra_index_url>
--extra-index-url <hub package index> "<dist>==<version>"`. uv's default index strategy
takes a name from the first index that has it, and extra indexes come first: the
environment's own name always resolves on the hub, never on PyPI.

Offline run time (v1): verifiers 0.4's subprocess runtime `uv sync --script`s its chat
program (PEP 723 deps: openai, mcp, httpx, ...) before each harness runs. The venv gets
`uv` itself, the wheelhouse gets those deps (read from the installed verifiers source,
not guessed), and the sandbox gets UV_FIND_LINKS=<wheelhouse> and
UV_DEFAULT_INDEX=file://<empty-index>: uv resolves from the wheelhouse and can reach
nothing else (the sandbox has no network anyway; this makes it fail fast and clearly).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from workers.evals.spec import EvalRunSpec

CACHE_FORMAT = 1  # bump when the entry layout or what goes into it changes
# The PEP 723 header of verifiers 0.4's chat program (bash and null harnesses), used if
# it cannot be read from the installed source.
V1_HARNESS_DEPS_FALLBACK = ("openai", "mcp==2.0.0", "httpx", "httpx2", "tenacity", "certifi")
_PEP723_DEPS = re.compile(r"#\s*dependencies\s*=\s*(\[[^\]\n]*\])")
_TRANSIENT = re.compile(r"(?i)(timed? ?out|connection (refused|reset)|temporar|dns|"
                        r"network is unreachable|failed to fetch|503|502|504|429)")


class VenvPrepareError(Exception):
    """The venv could not be prepared. `transient` says whether retrying may help (the
    index or PyPI was unreachable) or not (no such version, unresolvable dependencies,
    wrong verifiers generation)."""

    def __init__(self, code: str, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient


_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")


def redact_url(text: str) -> str:
    """`https://user:token@host/x` -> `https://***@host/x`, anywhere in `text` (index URLs
    may embed a token; tool output may echo them)."""
    return _CREDENTIALS.sub(r"\1***@", text)


@dataclass(frozen=True)
class PreparedVenv:
    root: Path
    key: str
    runtime: str
    verifiers_version: str | None

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def wheelhouse(self) -> Path:
        return self.root / "wheelhouse"

    @property
    def empty_index(self) -> Path:
        return self.root / "empty-index"

    def sandbox_env(self) -> dict[str, str]:
        """Variables that keep every uv/pip/HF call inside the sandbox offline."""
        return {
            "UV_FIND_LINKS": str(self.wheelhouse),
            "UV_DEFAULT_INDEX": self.empty_index.as_uri(),
            "UV_INDEX_URL": self.empty_index.as_uri(),  # older uv spelling
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_PROGRESS": "1",
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(self.wheelhouse),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
        }

    def sandbox_binds(self) -> list[tuple[Path, str]]:
        """Read-only binds besides the venv itself (same path inside as outside)."""
        return [(self.wheelhouse, str(self.wheelhouse)),
                (self.empty_index, str(self.empty_index))]


def _default_uv() -> str:
    try:
        from uv import find_uv_bin  # the `uv` PyPI package, if installed

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else (shutil.which("uv") or "uv")


def _default_python() -> str:
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return str(base if base.exists() else Path(sys.executable).resolve())


class VenvCache:
    """`prepare(spec)` returns a ready `PreparedVenv`, building it at most once per key."""

    def __init__(self, root: Path, *, uv: str | None = None, python: str | None = None,
                 timeout_s: float = 1800.0, lock_timeout_s: float = 3600.0) -> None:
        self.root = Path(root)
        self.uv = uv or _default_uv()
        self.python = python or _default_python()
        self.timeout_s = timeout_s
        self.lock_timeout_s = lock_timeout_s
        for sub in ("entries", "tmp", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def key(self, spec: EvalRunSpec) -> str:
        # The index URLs are not part of the key: the content hash names the bytes.
        ident = json.dumps([CACHE_FORMAT, spec.dist_name.lower(), spec.version,
                            spec.content_hash, spec.runtime, self.python], sort_keys=True)
        return hashlib.sha256(ident.encode()).hexdigest()[:32]

    def get(self, spec: EvalRunSpec) -> PreparedVenv | None:
        return self._load(self.root / "entries" / self.key(spec))

    def prepare(self, spec: EvalRunSpec, log_path: Path | None = None) -> PreparedVenv:
        """Raises `VenvPrepareError`. Safe to call from several threads and processes."""
        key = self.key(spec)
        final = self.root / "entries" / key
        ready = self._load(final)
        if ready is not None:
            return ready
        with self._locked(key):
            ready = self._load(final)
            if ready is not None:
                return ready
            for stale in (self.root / "tmp").glob(f"{key}-*"):  # a crashed build of ours
                shutil.rmtree(stale, ignore_errors=True)
            build = self.root / "tmp" / f"{key}-{uuid.uuid4().hex[:8]}"
            try:
                self._build(spec, build, final, log_path)
                try:
                    os.rename(build, final)
                except OSError:
                    if self._load(final) is None:  # not a lost race: a real failure
                        raise
            finally:
                shutil.rmtree(build, ignore_errors=True)
        ready = self._load(final)
        if ready is None:
            raise VenvPrepareError("venv_broken", f"cache entry {final} is incomplete")
        return ready

    # -- internals -------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        with (self.root / "locks" / f"{key}.lock").open("a") as fh:
            deadline = time.monotonic() + self.lock_timeout_s
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise VenvPrepareError("venv_lock_timeout", "another worker has been "
                                               f"preparing {key} for too long",
                                               transient=True) from None
                    time.sleep(0.5)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @staticmethod
    def _load(root: Path) -> PreparedVenv | None:
        try:
            manifest = json.loads((root / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
        if manifest.get("format") != CACHE_FORMAT or not (root / "venv" / "bin").is_dir():
            return None
        return PreparedVenv(root=root, key=root.name, runtime=str(manifest["runtime"]),
                            verifiers_version=manifest.get("verifiers_version"))

    def _run(self, argv: list[str], log_path: Path | None, what: str, *,
             must_succeed: bool = True) -> None:
        shown = " ".join(redact_url(a) for a in argv)
        # The worker's own pip/uv configuration must not change what gets installed.
        full_env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=full_env,
                                  timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise VenvPrepareError("venv_timeout", f"{what} took over {self.timeout_s:g}s",
                                   transient=True) from exc
        except OSError as exc:
            raise VenvPrepareError("venv_tool_missing", f"{what}: {exc}") from exc
        output = redact_url(proc.stdout + proc.stderr)
        if log_path is not None:
            with log_path.open("a") as log:
                log.write(f"[envhub-venv] $ {shown}\n{output}\n")
        if proc.returncode != 0 and must_succeed:
            tail = output[-3000:]
            raise VenvPrepareError("install_failed", f"{what} failed: {tail}",
                                   transient=bool(_TRANSIENT.search(tail)))

    def _build(self, spec: EvalRunSpec, build: Path, final: Path,
               log_path: Path | None) -> None:
        started = time.monotonic()
        venv = build / "venv"
        (build / "wheelhouse").mkdir(parents=True)
        (build / "empty-index").mkdir()
        self._run([self.uv, "venv", "--no-config", "--relocatable", "--quiet",
                   "--python", self.python, str(venv)], log_path, "creating the venv")
        python = str(venv / "bin" / "python")
        requirement = f"{spec.dist_name}=={spec.version}"
        self._run([self.uv, "pip", "install", "--no-config", "--python", python,
                   "--index-url", spec.extra_index_url, "--extra-index-url", spec.index_url,
                   requirement], log_path, f"installing {requirement}")
        verifiers = _installed_version(venv, "verifiers")
        _check_generation(spec, verifiers)
        if spec.runtime == "v1":
            # `uv` for the runtime's `uv sync --script`; `pip` for the download below.
            self._run([self.uv, "pip", "install", "--no-config", "--python", python,
                       "--index-url", spec.extra_index_url, "uv", "pip"], log_path,
                      "installing uv into the venv")
            deps = v1_harness_requirements(venv)
            # The venv's own pip, so the wheels match its interpreter's tags.
            self._run([python, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
                       "--index-url", spec.extra_index_url, "--dest",
                       str(build / "wheelhouse"), "uv", *deps], log_path,
                      "downloading the harness wheelhouse")
        # Bytecode with the final path as source prefix (see the module docstring). Some
        # packages ship files that do not compile (templates, py2 tests): not fatal.
        # -j 0: one process per core; compiling is most of a cold prepare.
        self._run([python, "-m", "compileall", "-q", "-j", "0", "-s", str(venv), "-p",
                   str(final / "venv"), str(venv / "lib")], log_path, "compiling bytecode",
                  must_succeed=False)
        manifest = {"format": CACHE_FORMAT, "dist_name": spec.dist_name,
                    "version": spec.version, "content_hash": spec.content_hash,
                    "runtime": spec.runtime, "verifiers_version": verifiers,
                    "python": self.python, "built_s": round(time.monotonic() - started, 1),
                    "wheelhouse": sorted(p.name for p in (build / "wheelhouse").iterdir())}
        (build / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _site_packages(venv: Path) -> list[Path]:
    return sorted((venv / "lib").glob("python*/site-packages"))


def _installed_version(venv: Path, dist: str) -> str | None:
    """Read from dist-info directory names: nothing from the venv is executed."""
    wanted = re.sub(r"[-_.]+", "_", dist).lower()
    for site in _site_packages(venv):
        for info in site.glob("*.dist-info"):
            name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
            if re.sub(r"[-_.]+", "_", name).lower() == wanted:
                return version
    return None


def _check_generation(spec: EvalRunSpec, verifiers: str | None) -> None:
    if verifiers is None:
        raise VenvPrepareError("not_a_verifiers_env",
                               f"{spec.dist_name} does not depend on verifiers")
    major_minor = tuple(int(p) for p in re.findall(r"\d+", verifiers)[:2])
    is_v1 = major_minor >= (0, 4)
    if is_v1 != (spec.runtime == "v1"):
        raise VenvPrepareError(
            "runtime_mismatch", f"{spec.dist_name} installs verifiers {verifiers}, which is "
            f"not the {spec.runtime} generation the version was registered as")


def v1_harness_requirements(venv: Path) -> list[str]:
    """The PEP 723 dependencies of verifiers 0.4's chat program (what its subprocess
    runtime `uv sync`s at run time), read from the installed source."""
    deps: list[str] = []
    for site in _site_packages(venv):
        launch = site / "verifiers" / "v1" / "harnesses" / "utils" / "launch.py"
        if launch.exists():
            for match in _PEP723_DEPS.finditer(launch.read_text(encoding="utf-8")):
                with contextlib.suppress(ValueError):
                    found = json.loads(match.group(1))
                    deps += [d for d in found if isinstance(d, str) and "{" not in d]
    return sorted(set(deps)) or list(V1_HARNESS_DEPS_FALLBACK)
