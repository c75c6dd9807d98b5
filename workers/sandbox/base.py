"""The sandbox contract: what a run asks for, what it reports, and which errors it raises.

Untrusted environment code (an evaluation of a user-published environment) only ever runs
through a `SandboxBackend`. The bubblewrap backend is the one used on CPU workers; the
interface leaves room for gVisor or container backends on production GPU nodes.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


class SandboxError(Exception):
    """Base class of every error a sandbox backend raises."""


class SandboxUnavailableError(SandboxError):
    """The host cannot run this sandbox (tool missing, namespaces refused, or a limit the
    backend was told to require cannot be enforced here)."""


class SandboxSpecError(SandboxError, ValueError):
    """The spec is invalid (relative destination, missing venv or output dir, bad limit)."""


@dataclass(frozen=True)
class SandboxSpec:
    """One sandboxed process: what it sees and what it may use.

    Paths on the left of a bind are host paths; `dest` paths are absolute paths inside the
    sandbox. Nothing from the worker's own environment leaks in: `env` is the whole
    environment of the sandboxed process (plus PATH/HOME/LANG defaults when not given).
    """

    argv: Sequence[str]
    venv: Path  # bound read-only at the same path, so its absolute shebangs keep working
    output_dir: Path  # the one writable host directory
    output_dest: str = "/out"
    env: Mapping[str, str] = field(default_factory=dict)
    ro_binds: Sequence[tuple[Path, str]] = ()
    # Unix sockets (the model gateway) as (host path, dest); the only way out of the sandbox.
    sockets: Sequence[tuple[Path, str]] = ()
    tmpfs_bytes: int = 256 * MiB
    timeout_s: float = 3600.0  # wall clock
    cpu_s: int | None = None  # RLIMIT_CPU per process; None = unlimited
    max_file_bytes: int | None = 1024 * MiB  # RLIMIT_FSIZE; caps the log file too
    max_open_files: int = 1024  # RLIMIT_NOFILE
    memory_bytes: int | None = 4096 * MiB  # cgroup memory.max + RLIMIT_AS backstop
    max_pids: int | None = 256  # cgroup pids.max (RLIMIT_NPROC is ignored for host root)
    cwd: str | None = None  # default: output_dest
    kill_grace_s: float = 5.0  # SIGTERM -> SIGKILL delay at the wall-clock timeout

    def validate(self) -> None:
        """Raise `SandboxSpecError` if the spec cannot describe a safe run."""
        if not self.argv:
            raise SandboxSpecError("argv is empty")
        dests = [self.output_dest, *(d for _, d in self.ro_binds), *(d for _, d in self.sockets)]
        for dest in dests:
            if not dest.startswith("/") or ".." in Path(dest).parts:
                raise SandboxSpecError(f"sandbox path must be absolute and normalized: {dest!r}")
        if self.cwd is not None and not self.cwd.startswith("/"):
            raise SandboxSpecError(f"cwd must be absolute: {self.cwd!r}")
        if not (self.venv / "bin").is_dir():
            raise SandboxSpecError(f"venv has no bin/: {self.venv}")
        if not self.output_dir.is_dir():
            raise SandboxSpecError(f"output dir does not exist: {self.output_dir}")
        for host, _ in (*self.ro_binds, *self.sockets):
            if not host.exists():
                raise SandboxSpecError(f"bind source does not exist: {host}")
        if self.timeout_s <= 0 or self.tmpfs_bytes <= 0 or self.max_open_files <= 0:
            raise SandboxSpecError("timeout_s, tmpfs_bytes and max_open_files must be > 0")
        for name in ("cpu_s", "max_file_bytes", "memory_bytes", "max_pids"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise SandboxSpecError(f"{name} must be > 0 or None")


@dataclass(frozen=True)
class SandboxResult:
    """How a sandboxed run ended.

    `exit_code` is the process's own code when it exited, else None. `killed_by_signal`
    is set when it died by a signal (SIGXCPU for the cpu limit, SIGKILL for memory/oom,
    timeout or `kill()`). `unenforced` names every requested limit this host could not
    enforce, so callers never mistake "not enforced" for "not exceeded". `oom_killed` and
    `pids_limit_hit` come from the run's cgroup (always False without one).
    """

    exit_code: int | None
    timed_out: bool
    killed_by_signal: int | None
    cancelled: bool
    duration_s: float
    log_path: Path
    log_tail: str
    unenforced: tuple[str, ...] = ()
    oom_killed: bool = False
    pids_limit_hit: bool = False  # a fork failed on max_pids (a fork bomb, or too many)
    peak_memory_bytes: int | None = None  # highest cgroup memory use, where known
    peak_pids: int | None = None  # most tasks (processes + threads) at once, where known

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.cancelled


@dataclass(frozen=True)
class SandboxCeilings:
    """Upper bounds a worker operator puts on every spec, whatever the caller asked for
    (size the sandbox to the host; tests keep hostile runs small). None = no ceiling.

    From the environment (`from_env`): HUB_SANDBOX_MEMORY_BYTES, HUB_SANDBOX_MAX_PIDS,
    HUB_SANDBOX_MAX_FILE_BYTES, HUB_SANDBOX_TIMEOUT_S, HUB_SANDBOX_CPU_S.
    """

    memory_bytes: int | None = None
    max_pids: int | None = None
    max_file_bytes: int | None = None
    timeout_s: float | None = None
    cpu_s: int | None = None

    ENV_PREFIX = "HUB_SANDBOX_"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxCeilings:
        """Raises `SandboxSpecError` for a value that is not a positive number."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, kind in (("memory_bytes", int), ("max_pids", int), ("max_file_bytes", int),
                           ("timeout_s", float), ("cpu_s", int)):
            raw = environ.get(cls.ENV_PREFIX + name.upper(), "").strip()
            if not raw:
                continue
            try:
                value = kind(raw)
            except ValueError:
                value = 0
            if value <= 0:
                raise SandboxSpecError(f"{cls.ENV_PREFIX}{name.upper()} must be a positive "
                                       f"{kind.__name__}, not {raw!r}")
            values[name] = value
        return cls(**values)

    def apply(self, spec: SandboxSpec) -> tuple[SandboxSpec, list[str]]:
        """`spec` with every limit at most its ceiling, and what was lowered."""
        changes: dict[str, Any] = {}
        for name in ("memory_bytes", "max_pids", "max_file_bytes", "timeout_s", "cpu_s"):
            ceiling = getattr(self, name)
            asked = getattr(spec, name)
            if ceiling is not None and (asked is None or asked > ceiling):
                changes[name] = ceiling
        notes = [f"{name} lowered to the worker's ceiling {value} (asked "
                 f"{getattr(spec, name)})" for name, value in changes.items()]
        return (replace(spec, **changes) if changes else spec), notes


class SandboxHandle(abc.ABC):
    """A running sandbox. Thread-safe: `kill()` may be called from any thread."""

    @property
    @abc.abstractmethod
    def pid(self) -> int:
        """Host pid of the outermost supervising process."""

    @abc.abstractmethod
    def poll(self) -> bool:
        """True once the sandbox has ended. Never raises."""

    @abc.abstractmethod
    def wait(self, timeout: float | None = None) -> SandboxResult:
        """Block until the sandbox ends (enforcing its wall-clock limit) and return the
        result. Raises `TimeoutError` if `timeout` (the caller's own wait bound, not the
        sandbox's limit) passes first; the sandbox keeps running in that case."""

    @abc.abstractmethod
    def kill(self) -> None:
        """Kill the whole process tree now (cancellation). Idempotent, never raises; the
        result then has `cancelled=True`."""


class SandboxBackend(abc.ABC):
    """Runs `SandboxSpec`s. Implementations must stream stdout+stderr to the caller's log
    file as the process writes them, so a job's logs can be tailed while it runs."""

    name: str = "abstract"

    @abc.abstractmethod
    def start(self, spec: SandboxSpec, log_path: Path) -> SandboxHandle:
        """Start the sandbox and return at once. Appends the process output to `log_path`.

        Raises `SandboxSpecError` for an invalid spec, `SandboxUnavailableError` when this host
        cannot run it, and `SandboxError` when starting the process fails."""

    def run(self, spec: SandboxSpec, log_path: Path) -> SandboxResult:
        """Start and wait. Raises what `start` raises."""
        return self.start(spec, log_path).wait()


def read_tail(path: Path, max_bytes: int = 8192) -> str:
    """The last `max_bytes` of a log file, decoded leniently (output is untrusted bytes)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
