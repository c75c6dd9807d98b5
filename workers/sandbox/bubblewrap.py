"""Bubblewrap backend: namespaces + read-only binds inside, rlimits + cgroup from outside.

Process tree of one run (all in one host process group, so `kill()` reaches every layer):

    [sh: joins the run's cgroup, then exec]  ->  timeout -k GRACE T  ->  prlimit ... (exec)
        -> bwrap (outer monitor)  ->  [pid ns] bwrap init (pid 1)  ->  the command

When the outer bwrap dies, --die-with-parent SIGKILLs pid 1 and the kernel then kills every
process of the pid namespace, including ones that called setsid() or double-forked.
bwrap runs as host root (it must: the interpreter lives under /root, mode 0700), so inside
the sandbox the process is uid 65534 in its own user namespace but host kuid 0 with no
capabilities: every bound path is read-only except the output dir, /etc is an allowlist,
and the output dir is sanitized after the run (no symlinks, no setuid bits).
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from workers.sandbox.base import (
    SandboxBackend,
    SandboxCeilings,
    SandboxError,
    SandboxHandle,
    SandboxResult,
    SandboxSpec,
    SandboxSpecError,
    SandboxUnavailableError,
    read_tail,
)
from workers.sandbox.cgroups import RunCgroup, RunCgroupV1, RunCgroupV2
from workers.sandbox.probe import ISOLATION_FLAGS, HostCapabilities, probe_host

# Host /etc entries a Python process may need (libc loader, name service files for
# localhost, time zone, CA bundle). Never all of /etc: the sandbox is host kuid 0, so a
# root-owned 0600 file such as /etc/shadow would be readable if it were bound in.
ETC_ALLOWLIST = ("passwd", "group", "hosts", "nsswitch.conf", "host.conf", "ld.so.cache",
                 "ld.so.conf", "ld.so.conf.d", "localtime", "mime.types", "ssl/certs")
LOG_PREFIX = "[envhub-sandbox]"
SHM_BYTES = 64 * 1024 * 1024
SANDBOX_TMP = "/tmp"  # noqa: S108 - the sandbox's own private tmpfs, not the host's /tmp
# Directories of the worker that an interpreter prefix must never contain (see
# interpreter_prefix); their defaults live under the working directory or the home.
PROTECTED_DIR_VARIABLES = ("HUB_DATA_DIR", "HUB_VENV_CACHE_DIR", "HUB_WORKER_DIR")


def interpreter_prefix(venv: Path) -> Path:
    """The base interpreter's prefix, read from the venv's pyvenv.cfg (the venv may have been
    built by another interpreter than the worker's); falls back to sys.base_prefix.

    The whole prefix is bound into the sandbox, and pyvenv.cfg sits in a directory that
    installed packages write to: a prefix that would expose more than an interpreter is
    refused with `SandboxSpecError` (`/`, the venv itself or any ancestor of it, of the
    worker's home, working directory, data, venv-cache or work dirs), as is a `home`
    that is not an absolute path."""
    prefix: Path | None = None
    try:
        for line in (venv / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                home = Path(value.strip())
                if not home.is_absolute():
                    raise SandboxSpecError(f"{venv}/pyvenv.cfg: home={value.strip()!r} is "
                                           "not an absolute path")
                prefix = (home.parent if home.name == "bin" else home).resolve()
                break
    except OSError:
        pass
    if prefix is None:
        prefix = Path(sys.base_prefix).resolve()
    protected = [venv.absolute(), Path.home(), Path.cwd()]
    protected += [Path(os.environ[name]) for name in PROTECTED_DIR_VARIABLES
                  if os.environ.get(name)]
    storage = os.environ.get("HUB_STORAGE_URL", "")
    if storage.startswith("file://"):
        protected.append(Path(storage.removeprefix("file://")))
    for path in protected:
        resolved = path.resolve()
        if prefix == Path("/") or resolved == prefix or resolved.is_relative_to(prefix):
            raise SandboxSpecError(
                f"{venv}/pyvenv.cfg names the interpreter prefix {prefix}, which contains "
                f"{path}: refusing to bind it into the sandbox (a tampered venv?)")
    return prefix


def _bind(flag: str, host: Path, dest: str) -> list[str]:
    # Sources are resolved on the host; destinations keep the path the caller named.
    return [flag, str(host.resolve()), dest]


def argv_for(spec: SandboxSpec, *, bwrap: str = "bwrap", prlimit: str = "prlimit",
             timeout: str = "timeout", address_space_limit: bool = True) -> list[str]:
    """The full host command for `spec` (timeout -> prlimit -> bwrap -> argv). Pure apart
    from reading pyvenv.cfg and checking which /etc allowlist entries exist.

    `address_space_limit=False` leaves out RLIMIT_AS: the backend does that when a cgroup
    enforces `memory_bytes` (address space is not memory: it would fail allocations long
    before the real limit, and hide an OOM kill behind a MemoryError)."""
    spec.validate()
    venv = spec.venv.absolute()
    cmd = [timeout, "-k", f"{spec.kill_grace_s:g}", f"{spec.timeout_s:g}", prlimit,
           f"--nofile={spec.max_open_files}"]
    if spec.cpu_s is not None:
        # soft < hard: the process first gets SIGXCPU (a readable cause), SIGKILL 1 s later.
        cmd.append(f"--cpu={spec.cpu_s}:{spec.cpu_s + 1}")
    if spec.max_file_bytes is not None:
        cmd.append(f"--fsize={spec.max_file_bytes}")
    if spec.memory_bytes is not None and address_space_limit:
        cmd.append(f"--as={spec.memory_bytes}")
    cmd += ["--", bwrap, *ISOLATION_FLAGS, "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/sbin", "/sbin"]
    for name in ETC_ALLOWLIST:
        if Path("/etc", name).exists():
            cmd += _bind("--ro-bind", Path("/etc", name), f"/etc/{name}")
    # tmpfs before every bind below, so a bind destination under /tmp (a venv or an
    # interpreter living there, a user bind) is not hidden by it.
    cmd += ["--size", str(spec.tmpfs_bytes), "--tmpfs", SANDBOX_TMP]
    prefix = interpreter_prefix(venv)
    if not prefix.is_relative_to("/usr"):
        cmd += _bind("--ro-bind", prefix, str(prefix))
    cmd += _bind("--ro-bind", venv, str(venv))
    # /proc read-only: bwrap only covers /proc/sys when its access(W_OK) probe says it is
    # writable, which it does not for the directory, yet its 0644 files ARE writable to host
    # kuid 0 (sysctl checks euid, not capabilities): measured here, a sandboxed write to
    # /proc/sys/vm/drop_caches succeeded. Same for /proc/sysrq-trigger.
    cmd += ["--proc", "/proc", "--remount-ro", "/proc"]
    # /dev is bwrap's own uncapped tmpfs: read-only, plus a small /dev/shm for POSIX
    # semaphores (multiprocessing); device nodes are separate binds and stay usable.
    cmd += ["--dev", "/dev", "--size", str(min(spec.tmpfs_bytes, SHM_BYTES)),
            "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]  # noqa: S108 - sandbox-private
    for host, dest in spec.ro_binds:
        cmd += _bind("--ro-bind", host, dest)
    cmd += _bind("--bind", spec.output_dir, spec.output_dest)
    for host, dest in spec.sockets:
        # connect() needs no write access to the mount: a read-only bind suffices.
        cmd += _bind("--ro-bind", host, dest)
    cmd += ["--remount-ro", "/", "--chdir", spec.cwd or spec.output_dest, "--", *spec.argv]
    return cmd


def env_for(spec: SandboxSpec) -> dict[str, str]:
    """The sandbox's whole environment: never the worker's (it holds DB/S3 secrets)."""
    venv = str(spec.venv.absolute())
    env = {"PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin", "HOME": SANDBOX_TMP,
           "TMPDIR": SANDBOX_TMP, "LANG": "C.UTF-8", "USER": "nobody", "VIRTUAL_ENV": venv,
           "PYTHONUNBUFFERED": "1"}
    env.update(spec.env)
    return env


def sanitize_output(root: Path) -> list[str]:
    """Make the output dir safe for the host to read: remove symlinks and special files
    (a symlink written inside resolves against the HOST filesystem outside) and clear
    setuid/setgid bits (files are host-root owned). Returns what was changed."""
    changed: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode) or not (stat.S_ISREG(st.st_mode)
                                                 or stat.S_ISDIR(st.st_mode)):
                path.unlink()
                changed.append(f"removed {path}")
            elif st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                path.chmod(stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
                changed.append(f"cleared setid bits on {path}")
    return changed


# The run's first process joins its cgroup leaves, then becomes the sandbox. argv:
# sh -c JOIN_SCRIPT envhub-cgroup-join N procs_file_1 .. procs_file_N command...
JOIN_SCRIPT = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do '
    'echo $$ > "$1" || { echo "[envhub-sandbox] could not join cgroup $1" >&2; exit 125; }; '
    'shift; n=$((n - 1)); done; exec "$@"')


def join_argv(procs_files: list[Path], argv: list[str]) -> list[str]:
    return ["/bin/sh", "-c", JOIN_SCRIPT, "envhub-cgroup-join", str(len(procs_files)),
            *(str(p) for p in procs_files), *argv]


def run_cgroup_for(caps: HostCapabilities, memory_bytes: int | None,
                   max_pids: int | None) -> RunCgroup | None:
    """A fresh cgroup for one run where the host has one (raises OSError if creating it
    fails), else None."""
    if memory_bytes is None and max_pids is None:
        return None
    if caps.cgroup_parent is not None:
        return RunCgroupV2(Path(caps.cgroup_parent), memory_bytes, max_pids)
    memory_dir = Path(caps.cgroup_v1_memory) if caps.cgroup_v1_memory else None
    pids_dir = Path(caps.cgroup_v1_pids) if caps.cgroup_v1_pids else None
    if (memory_dir is None or memory_bytes is None) and (pids_dir is None or max_pids is None):
        return None
    freezer = Path(caps.cgroup_v1_freezer) if caps.cgroup_v1_freezer else None
    return RunCgroupV1(memory_dir=memory_dir, pids_dir=pids_dir, freezer_dir=freezer,
                       memory_bytes=memory_bytes, max_pids=max_pids)


def _cgroup_enforces(cgroup: RunCgroup | None, caps: HostCapabilities) -> dict[str, bool]:
    if cgroup is None:
        return {"memory_bytes": False, "max_pids": False}
    if isinstance(cgroup, RunCgroupV1):
        return {"memory_bytes": cgroup.memory is not None, "max_pids": cgroup.pids is not None}
    return {"memory_bytes": caps.cgroup_memory, "max_pids": caps.cgroup_pids}


class BubblewrapHandle(SandboxHandle):
    def __init__(self, proc: subprocess.Popen[bytes], spec: SandboxSpec, log_path: Path,
                 cgroup: RunCgroup | None, unenforced: tuple[str, ...]) -> None:
        self._proc = proc
        self._spec = spec
        self._log_path = log_path
        self._cgroup = cgroup
        self._unenforced = unenforced
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._cancelled = False
        self._timed_out = False
        self._result: SandboxResult | None = None

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def cgroup(self) -> RunCgroup | None:
        """The run's cgroup (None where the host has none): its limits, its members."""
        return self._cgroup

    def poll(self) -> bool:
        return self._proc.poll() is not None

    def kill(self) -> None:
        with self._lock:
            if self._result is None and self._proc.returncode is None:
                self._cancelled = True
            self._kill_tree()

    def _kill_tree(self) -> None:
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        if self._cgroup is not None:
            self._cgroup.kill()

    def wait(self, timeout: float | None = None) -> SandboxResult:
        # Backstop in case `timeout` itself is stopped or wedged: our own wall clock.
        backstop = self._started + self._spec.timeout_s + self._spec.kill_grace_s + 5.0
        caller_deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            now = time.monotonic()
            limit = backstop if caller_deadline is None else min(backstop, caller_deadline)
            try:
                self._proc.wait(timeout=max(0.0, limit - now))
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() >= backstop:
                    with self._lock:
                        self._timed_out = True
                        self._kill_tree()
                    self._proc.wait()
                    break
                if caller_deadline is not None and time.monotonic() >= caller_deadline:
                    raise TimeoutError("sandbox still running") from None
        return self._finish()

    def _finish(self) -> SandboxResult:
        with self._lock:
            if self._result is not None:
                return self._result
            duration = time.monotonic() - self._started
            rc = self._proc.returncode
            assert rc is not None
            exit_code: int | None = None
            sig: int | None = None
            # `timeout` exits 124 after TERM, 137 after KILL; an inner exit 124 is told
            # apart by the clock. bwrap reports a signal death as 128 + signal number.
            timed_out = self._timed_out or (
                rc in (124, 137) and duration >= self._spec.timeout_s - 0.05)
            # rc < 0: our killpg hit the supervising `timeout`; a process that had already
            # exited on its own when kill() came keeps its own exit code.
            cancelled = self._cancelled and rc < 0 and not timed_out
            if rc < 0 or timed_out:
                sig = signal.SIGKILL  # pid 1 of the sandbox gets SIGKILL via die-with-parent
            elif rc > 128:
                sig = rc - 128
            else:
                exit_code = rc
            oom = self._cgroup.oom_killed() if self._cgroup else False
            pids_hit = self._cgroup.pids_limit_hit() if self._cgroup else False
            peaks = self._cgroup.peaks() if self._cgroup else {}
            if self._cgroup is not None:
                self._cgroup.remove()
            unenforced = self._unenforced
            try:
                changes = sanitize_output(self._spec.output_dir)
            except OSError as exc:  # never pretend: the caller must not trust the output
                changes = [f"FAILED ({exc}); do not read this output"]
                unenforced = (*unenforced, "output_sanitized")
            with self._log_path.open("a") as log:
                for change in changes:
                    log.write(f"{LOG_PREFIX} output sanitized: {change}\n")
                used = "".join(f" peak_{k}={v}" for k, v in peaks.items() if v is not None)
                log.write(f"{LOG_PREFIX} exit_code={exit_code} signal={sig} "
                          f"timed_out={timed_out} cancelled={cancelled} oom={oom} "
                          f"pids_limit_hit={pids_hit}{used} duration={duration:.2f}s\n")
            self._result = SandboxResult(
                exit_code=exit_code, timed_out=timed_out, killed_by_signal=sig,
                cancelled=cancelled, duration_s=duration,
                log_path=self._log_path, log_tail=read_tail(self._log_path),
                unenforced=unenforced, oom_killed=oom, pids_limit_hit=pids_hit,
                peak_memory_bytes=peaks.get("memory_bytes"), peak_pids=peaks.get("pids"))
            return self._result


class BubblewrapBackend(SandboxBackend):
    """`require_cgroup=True` refuses to run (SandboxUnavailableError) where memory/pids cannot
    be enforced by a cgroup (v2 or v1), instead of running with only the rlimit backstops.
    `ceilings` (default: `SandboxCeilings.from_env()`, the HUB_SANDBOX_* variables) caps
    every spec's limits."""

    name = "bubblewrap"

    def __init__(self, capabilities: HostCapabilities | None = None, *,
                 require_cgroup: bool = False, ceilings: SandboxCeilings | None = None) -> None:
        self.capabilities = capabilities if capabilities is not None else probe_host()
        self.require_cgroup = require_cgroup
        self.ceilings = ceilings if ceilings is not None else SandboxCeilings.from_env()

    def start(self, spec: SandboxSpec, log_path: Path) -> BubblewrapHandle:
        caps = self.capabilities
        if not caps.can_sandbox or caps.bwrap_path is None:
            raise SandboxUnavailableError(
                f"bubblewrap sandbox unusable: {caps.bwrap_error or 'prlimit/timeout missing'}"
                " (apt-get install -y bubblewrap util-linux coreutils)")
        spec.validate()
        spec, notes = self.ceilings.apply(spec)
        wants = [n for n, v in (("memory_bytes", spec.memory_bytes),
                                ("max_pids", spec.max_pids)) if v is not None]
        cgroup: RunCgroup | None = None
        try:
            cgroup = run_cgroup_for(caps, spec.memory_bytes, spec.max_pids)
        except OSError as exc:
            notes.append(f"could not create run cgroup: {exc}")
        enforced = _cgroup_enforces(cgroup, caps)
        unenforced = [n for n in wants if not enforced[n]]
        if unenforced and self.require_cgroup:
            if cgroup is not None:
                cgroup.remove()
            raise SandboxUnavailableError(
                f"cgroup limits required but unavailable for {', '.join(unenforced)}: "
                f"{caps.cgroup_reason or notes}")
        argv = argv_for(spec, bwrap=caps.bwrap_path, prlimit=caps.prlimit_path or "prlimit",
                        timeout=caps.timeout_path or "timeout",
                        address_space_limit=not enforced["memory_bytes"])
        if cgroup is not None:
            # Join the cgroup before exec so no sandboxed process ever runs outside it.
            argv = join_argv(cgroup.procs_files(), argv)
            shown = [f"{n}={getattr(spec, n)}" for n in wants if enforced[n]]
            notes.append(f"limits by {cgroup.describe()}: {', '.join(shown)}")
        if unenforced:
            notes.append(f"NOT ENFORCED: {', '.join(unenforced)} (no cgroup: "
                         f"{caps.cgroup_reason})"
                         + ("; memory is capped per process by RLIMIT_AS only"
                            if "memory_bytes" in unenforced else ""))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with log_path.open("ab") as log:
                for note in notes:
                    log.write(f"{LOG_PREFIX} {note}\n".encode())
                log.flush()
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, env=env_for(spec),
                                        start_new_session=True)
        except OSError as exc:
            if cgroup is not None:
                cgroup.remove()
            raise SandboxError(f"could not start sandbox: {exc}") from exc
        return BubblewrapHandle(proc, spec, log_path, cgroup, tuple(unenforced))
