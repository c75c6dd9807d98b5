"""Per-run cgroups for the sandbox: cgroup v2 (unified) or cgroup v1 hierarchies.

Where the limits live:

- v2: `<worker's own cgroup>/envhub-sandbox/run-<id>` with `memory.max`,
  `memory.swap.max=0` and `pids.max`. The parent delegates `+memory +pids` to its children
  (the kernel refuses that, EBUSY, when the worker's own cgroup holds processes).
- v1: one leaf per controller hierarchy, `<worker's own cgroup in it>/envhub-run-<id>`:
  `memory.limit_in_bytes` (+ `memory.memsw.limit_in_bytes` when swap accounting exists, so
  swap cannot bypass it) in the memory hierarchy, `pids.max` in the pids hierarchy, and a
  leaf in the freezer hierarchy (when mounted and writable) so a kill can stop a fork bomb
  before signalling it. v1 has no "no internal processes" rule, so no parent is needed and
  nothing is left behind after a run.

Either way the run's first process (a `sh` wrapper) writes its own pid into every leaf's
`cgroup.procs` before it `exec`s the sandbox, so no sandboxed process ever runs outside;
the leaves are killed and removed after the run. Only the worker's OWN cgroup (read from
/proc/self/cgroup, mapped through /proc/self/mountinfo) is ever written under.
"""

from __future__ import annotations

import abc
import contextlib
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CGROUP_PARENT_NAME = "envhub-sandbox"  # v2: the delegated parent of the run leaves
V1_LEAF_PREFIX = "envhub-run-"  # v1: run leaves directly under the worker's own cgroup
NEEDED_CONTROLLERS = ("memory", "pids")
STALE_LEAF_S = 600.0  # an empty leaf this old was left by a worker that died mid-run


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


@dataclass(frozen=True)
class CgroupMount:
    root: str  # the hierarchy path mounted here (not "/" inside a cgroup namespace)
    mountpoint: Path
    fstype: str  # cgroup | cgroup2
    options: frozenset[str]  # super options: the v1 controllers bound to this hierarchy


def cgroup_mounts(mountinfo: str | None = None) -> list[CgroupMount]:
    """The cgroup and cgroup2 mounts visible to this process."""
    text = mountinfo if mountinfo is not None else (read(Path("/proc/self/mountinfo")) or "")
    found = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        found.append(CgroupMount(root=fields[3], mountpoint=Path(fields[4]), fstype=tail[0],
                                 options=frozenset(tail[2].split(","))))
    return found


def own_cgroups(proc_cgroup: str | None = None) -> dict[str, str]:
    """This process's cgroup per v1 controller, and under "" its v2 (unified) cgroup."""
    text = proc_cgroup if proc_cgroup is not None else (read(Path("/proc/self/cgroup")) or "")
    own: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            own[""] = path
        for controller in controllers.split(","):
            if controller:
                own[controller] = path
    return own


def _under(mount: CgroupMount, path: str) -> Path | None:
    """The directory of hierarchy path `path` through `mount`, if the mount shows it."""
    root = mount.root.rstrip("/")
    if path != root and not path.startswith(root + "/"):
        return None
    return mount.mountpoint / path[len(root):].lstrip("/")


def v2_location(mounts: list[CgroupMount] | None = None,
                own: dict[str, str] | None = None) -> tuple[Path, Path] | None:
    """(mount point, the worker's own cgroup dir) of the unified hierarchy, if mounted."""
    mounts = cgroup_mounts() if mounts is None else mounts
    own = own_cgroups() if own is None else own
    mount = next((m for m in mounts if m.fstype == "cgroup2"), None)
    if mount is None or "" not in own:
        return None
    directory = _under(mount, own[""])
    return (mount.mountpoint, directory) if directory is not None else None


def v1_own_dir(controller: str, mounts: list[CgroupMount] | None = None,
               own: dict[str, str] | None = None) -> Path | None:
    """The worker's own cgroup dir in the v1 hierarchy of `controller`, if mounted."""
    mounts = cgroup_mounts() if mounts is None else mounts
    own = own_cgroups() if own is None else own
    if controller not in own:
        return None
    for mount in mounts:
        if mount.fstype == "cgroup" and controller in mount.options:
            directory = _under(mount, own[controller])
            if directory is not None and directory.is_dir():
                return directory
    return None


def ensure_cgroup_parent(own_dir: Path) -> tuple[Path | None, str | None]:
    """v2: create (idempotently) `<own cgroup>/envhub-sandbox` with memory+pids delegated to
    its children. Returns (parent dir, None) or (None, reason). Writing is the only honest
    test: `os.access` says nothing about delegation or the no-internal-processes rule."""
    available = set((read(own_dir / "cgroup.controllers") or "").split())
    missing = [c for c in NEEDED_CONTROLLERS if c not in available]
    if missing:
        return None, f"cgroup v2 controllers {missing} not available in {own_dir}"
    parent = own_dir / CGROUP_PARENT_NAME
    try:
        # A cgroup that holds processes (other than the root) may not delegate controllers;
        # this raises EBUSY then, and we report it rather than move the worker around.
        enabled = set((read(own_dir / "cgroup.subtree_control") or "").split())
        if not set(NEEDED_CONTROLLERS) <= enabled:
            (own_dir / "cgroup.subtree_control").write_text("+memory +pids")
        parent.mkdir(exist_ok=True)
        sweep_stale_leaves(parent, "run-")
        enabled = set((read(parent / "cgroup.subtree_control") or "").split())
        if not set(NEEDED_CONTROLLERS) <= enabled:
            (parent / "cgroup.subtree_control").write_text("+memory +pids")
    except OSError as exc:
        return None, f"cannot delegate memory+pids under {own_dir}: {exc}"
    return parent, None


# The file whose write proves a v1 leaf is usable (the limit itself, for the controllers
# that have one); the probe creates a leaf, writes it, and removes the leaf again.
_V1_PROBE_FILE = {"memory": ("memory.limit_in_bytes", "268435456"),
                  "pids": ("pids.max", "64"), "freezer": ("freezer.state", "THAWED")}


def probe_v1(controller: str, own_dir: Path | None) -> tuple[Path | None, str | None]:
    """v1: can run leaves be created under `own_dir` (the worker's own cgroup in the
    `controller` hierarchy)? Returns (own_dir, None) or (None, reason)."""
    if own_dir is None:
        return None, f"no cgroup v1 {controller} hierarchy mounted"
    sweep_stale_leaves(own_dir, V1_LEAF_PREFIX)
    name, value = _V1_PROBE_FILE[controller]
    leaf = own_dir / f"{V1_LEAF_PREFIX}probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        leaf.mkdir()
        try:
            (leaf / name).write_text(value)
        finally:
            leaf.rmdir()
    except OSError as exc:
        return None, f"cannot create cgroup v1 {controller} leaves under {own_dir}: {exc}"
    return own_dir, None


def sweep_stale_leaves(parent: Path, prefix: str, older_than_s: float = STALE_LEAF_S) -> int:
    """Remove empty run leaves left by a worker that died mid-run. Only old ones: a fresh
    empty leaf may belong to a run that is about to join it. rmdir of a cgroup that still
    has tasks fails (EBUSY), so a live run is never touched."""
    removed = 0
    now = time.time()
    with contextlib.suppress(OSError):
        for leaf in parent.iterdir():
            if not leaf.name.startswith(prefix) or not leaf.is_dir():
                continue
            with contextlib.suppress(OSError):
                if now - leaf.stat().st_mtime > older_than_s and not _tasks(leaf):
                    leaf.rmdir()
                    removed += 1
    return removed


def _tasks(leaf: Path) -> list[int]:
    return [int(p) for p in (read(leaf / "cgroup.procs") or "").split() if p.isdigit()]


class RunCgroup(abc.ABC):
    """The cgroup leaf (or leaves) of one run."""

    version: str

    @abc.abstractmethod
    def procs_files(self) -> list[Path]:
        """The `cgroup.procs` files the run's first process must join, in order."""

    @abc.abstractmethod
    def oom_killed(self) -> bool:
        """The kernel OOM-killed a process of the run (its memory limit)."""

    @abc.abstractmethod
    def pids_limit_hit(self) -> bool:
        """A fork or clone of the run failed on its process limit."""

    @abc.abstractmethod
    def limits(self) -> dict[str, int | None]:
        """The limits as the kernel reports them now (memory_bytes, max_pids; None =
        unlimited or not in this cgroup): proof that a limit is really in place."""

    @abc.abstractmethod
    def peaks(self) -> dict[str, int | None]:
        """Highest use so far (memory_bytes, pids; None = this kernel does not say), to
        size limits from real runs."""

    @abc.abstractmethod
    def members(self) -> list[int]:
        """Host pids of the processes in the run's cgroup now."""

    @abc.abstractmethod
    def kill(self) -> None:
        """SIGKILL every process still in the run's cgroup. Never raises."""

    @abc.abstractmethod
    def remove(self) -> None:
        """Kill what is left and remove the leaves. Never raises."""

    def describe(self) -> str:
        return f"cgroup {self.version}"


def _count(path: Path, key: str) -> int:
    """The value of `key` in a flat-keyed cgroup file (`memory.events`, `pids.events`)."""
    for line in (read(path) or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def _number(path: Path | None) -> int | None:
    text = (read(path) or "").strip() if path is not None else ""
    return int(text) if text.isdigit() and int(text) < (1 << 62) else None


def _rmdir_when_empty(leaf: Path, kill: Callable[[], None]) -> bool:
    """rmdir fails with EBUSY until the last task is reaped: kill and retry for ~2.5 s."""
    for _ in range(50):
        try:
            leaf.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            kill()
            time.sleep(0.05)
    return False


class RunCgroupV2(RunCgroup):
    """A per-run cgroup v2 leaf with memory.max / pids.max, removed after the run."""

    version = "v2"

    def __init__(self, parent: Path, memory_bytes: int | None, max_pids: int | None) -> None:
        self.path = parent / f"run-{uuid.uuid4().hex[:12]}"
        self.path.mkdir()
        try:
            if memory_bytes is not None:
                (self.path / "memory.max").write_text(str(memory_bytes))
                with contextlib.suppress(FileNotFoundError):  # absent without swap accounting
                    (self.path / "memory.swap.max").write_text("0")
            if max_pids is not None:
                (self.path / "pids.max").write_text(str(max_pids))
        except OSError:
            self.remove()
            raise

    def procs_files(self) -> list[Path]:
        return [self.path / "cgroup.procs"]

    def limits(self) -> dict[str, int | None]:
        return {"memory_bytes": _number(self.path / "memory.max"),
                "max_pids": _number(self.path / "pids.max")}

    def peaks(self) -> dict[str, int | None]:
        return {"memory_bytes": _number(self.path / "memory.peak"),  # Linux >= 5.19
                "pids": _number(self.path / "pids.peak")}  # Linux >= 6.1

    def members(self) -> list[int]:
        return _tasks(self.path)

    def oom_killed(self) -> bool:
        return _count(self.path / "memory.events", "oom_kill") > 0

    def pids_limit_hit(self) -> bool:
        return _count(self.path / "pids.events", "max") > 0

    def kill(self) -> None:
        with contextlib.suppress(OSError):  # cgroup.kill exists from Linux 5.14
            (self.path / "cgroup.kill").write_text("1")

    def remove(self) -> None:
        _rmdir_when_empty(self.path, self.kill)


def _kill_pid_in(pid: int, leaf: Path) -> None:
    """SIGKILL `pid` only if it is (still) in `leaf`: a pidfd pins the process, so a pid
    recycled between reading cgroup.procs and signalling is never hit."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return  # gone already
    try:
        rel = "/" + leaf.name
        member = read(Path(f"/proc/{pid}/cgroup")) or ""
        if any(line.rstrip().endswith(rel) for line in member.splitlines()):
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
    finally:
        os.close(fd)


class RunCgroupV1(RunCgroup):
    """Per-run leaves in the v1 memory / pids (/ freezer) hierarchies."""

    version = "v1"

    def __init__(self, *, memory_dir: Path | None, pids_dir: Path | None,
                 freezer_dir: Path | None, memory_bytes: int | None,
                 max_pids: int | None) -> None:
        name = f"{V1_LEAF_PREFIX}{uuid.uuid4().hex[:12]}"
        self.memory = memory_dir / name if memory_dir and memory_bytes is not None else None
        self.pids = pids_dir / name if pids_dir and max_pids is not None else None
        self.freezer = freezer_dir / name if freezer_dir else None
        self.leaves: list[Path] = []
        try:
            if self.memory is not None:
                self._make(self.memory)
                (self.memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
                # memsw = memory + swap; it must be >= the memory limit, hence set second.
                with contextlib.suppress(FileNotFoundError):  # no swap accounting
                    (self.memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
            if self.pids is not None:
                self._make(self.pids)
                (self.pids / "pids.max").write_text(str(max_pids))
            if self.freezer is not None and self.leaves:
                try:
                    self._make(self.freezer)
                except OSError:
                    self.freezer = None  # kill falls back to signalling in a loop
        except OSError:
            self.remove()
            raise

    def _make(self, leaf: Path) -> None:
        leaf.mkdir()
        self.leaves.append(leaf)

    def procs_files(self) -> list[Path]:
        return [leaf / "cgroup.procs" for leaf in self.leaves]

    def limits(self) -> dict[str, int | None]:
        return {"memory_bytes": _number(self.memory / "memory.limit_in_bytes"
                                        if self.memory else None),
                "max_pids": _number(self.pids / "pids.max" if self.pids else None)}

    def peaks(self) -> dict[str, int | None]:
        return {"memory_bytes": _number(self.memory / "memory.max_usage_in_bytes"
                                        if self.memory else None),
                "pids": _number(self.pids / "pids.peak" if self.pids else None)}

    def members(self) -> list[int]:
        found = self._members()
        return found[1] if found else []

    def oom_killed(self) -> bool:
        if self.memory is None:
            return False
        oom_control = self.memory / "memory.oom_control"
        if "oom_kill " in (read(oom_control) or ""):  # Linux >= 4.13
            return _count(oom_control, "oom_kill") > 0
        # Older kernels have no OOM-kill counter: the limit was hit at least once.
        return (read(self.memory / "memory.failcnt") or "0").strip() not in ("", "0")

    def pids_limit_hit(self) -> bool:
        return self.pids is not None and _count(self.pids / "pids.events", "max") > 0

    def _members(self) -> tuple[Path, list[int]] | None:
        for leaf in self.leaves:
            tasks = _tasks(leaf)
            if tasks:
                return leaf, tasks
        return None

    def kill(self) -> None:
        # v1 has no cgroup.kill. Freeze first when we can (a fork bomb cannot outrun a
        # frozen cgroup), signal every member, thaw so the SIGKILLs are delivered.
        for _ in range(20):
            members = self._members()
            if members is None:
                return
            frozen = self._set_freezer("FROZEN")
            for pid in members[1]:
                _kill_pid_in(pid, members[0])
            if frozen:
                self._set_freezer("THAWED")
            time.sleep(0.01)

    def _set_freezer(self, state: str) -> bool:
        if self.freezer is None:
            return False
        state_file = self.freezer / "freezer.state"
        try:
            state_file.write_text(state)
        except OSError:
            return False
        deadline = time.monotonic() + 1.0
        while (read(state_file) or "").strip() == "FREEZING" and time.monotonic() < deadline:
            time.sleep(0.01)
        return True

    def remove(self) -> None:
        self.kill()
        for leaf in reversed(self.leaves):
            _rmdir_when_empty(leaf, self.kill)
