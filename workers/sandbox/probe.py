"""What this host can enforce, measured rather than assumed.

`probe_host()` runs at worker start: the worker logs the result, and the bubblewrap backend
uses it to decide which limits are real. A limit the host cannot enforce is reported as
such in every result (`SandboxResult.unenforced`), never silently dropped.

`python -c "from workers.sandbox.probe import main; main()"` prints them as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

# Flags every sandbox gets; the probe runs a trivial command with exactly these so that
# "bwrap works" means "our bwrap invocation works", not just "the binary exists".
ISOLATION_FLAGS: tuple[str, ...] = (
    "--unshare-all",
    "--unshare-user",
    "--die-with-parent",
    "--new-session",
    "--uid",
    "65534",
    "--gid",
    "65534",
    "--cap-drop",
    "ALL",
    "--disable-userns",
)
CGROUP_PARENT_NAME = "envhub-sandbox"
_NEEDED_CONTROLLERS = ("memory", "pids")


@dataclass(frozen=True)
class HostCapabilities:
    bwrap_path: str | None
    bwrap_version: str | None
    bwrap_works: bool
    bwrap_error: str | None
    max_user_namespaces: int | None
    prlimit_path: str | None
    timeout_path: str | None
    cgroup_v2_mount: str | None
    cgroup_v2_controllers: tuple[str, ...]  # available in the worker's own cgroup
    cgroup_parent: str | None  # where per-run cgroups are created, when usable
    cgroup_memory: bool
    cgroup_pids: bool
    cgroup_reason: str | None  # why memory/pids are not enforced, when they are not
    cgroup_v1_controllers: tuple[str, ...]  # informational: v1 hierarchies are not used

    @property
    def user_namespaces(self) -> bool:
        return bool(self.max_user_namespaces)

    @property
    def can_sandbox(self) -> bool:
        return self.bwrap_works and self.prlimit_path is not None and self.timeout_path is not None

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "user_namespaces": self.user_namespaces,
                "can_sandbox": self.can_sandbox}


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _cgroup_v2_location() -> tuple[Path, Path] | None:
    """(mount point, the worker's own cgroup dir) of the unified hierarchy, if mounted."""
    mountinfo = _read(Path("/proc/self/mountinfo")) or ""
    mount: Path | None = None
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "cgroup2":
            mount = Path(left.split()[4])
            break
    own = next((ln[3:] for ln in (_read(Path("/proc/self/cgroup")) or "").splitlines()
                if ln.startswith("0::")), None)
    if mount is None or own is None:
        return None
    return mount, mount / own.lstrip("/")


def ensure_cgroup_parent(own_dir: Path) -> tuple[Path | None, str | None]:
    """Create (idempotently) `<own cgroup>/envhub-sandbox` with memory+pids delegated to its
    children. Returns (parent dir, None) or (None, reason). Writing is the only honest test:
    `os.access` says nothing about delegation or the no-internal-processes rule."""
    available = set((_read(own_dir / "cgroup.controllers") or "").split())
    missing = [c for c in _NEEDED_CONTROLLERS if c not in available]
    if missing:
        return None, f"cgroup v2 controllers {missing} not available in {own_dir}"
    parent = own_dir / CGROUP_PARENT_NAME
    try:
        # A cgroup that holds processes (other than the root) may not delegate controllers;
        # this raises EBUSY then, and we report it rather than move the worker around.
        enabled = set((_read(own_dir / "cgroup.subtree_control") or "").split())
        if not set(_NEEDED_CONTROLLERS) <= enabled:
            (own_dir / "cgroup.subtree_control").write_text("+memory +pids")
        parent.mkdir(exist_ok=True)
        enabled = set((_read(parent / "cgroup.subtree_control") or "").split())
        if not set(_NEEDED_CONTROLLERS) <= enabled:
            (parent / "cgroup.subtree_control").write_text("+memory +pids")
    except OSError as exc:
        return None, f"cannot delegate memory+pids under {own_dir}: {exc}"
    return parent, None


def _probe_bwrap(bwrap: str) -> tuple[bool, str | None]:
    argv = [bwrap, *ISOLATION_FLAGS, "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev",
            "--", "/usr/bin/true"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if proc.returncode != 0:
        return False, proc.stderr.strip() or f"exit {proc.returncode}"
    return True, None


def probe_host() -> HostCapabilities:
    bwrap = shutil.which("bwrap")
    version: str | None = None
    works: bool = False
    error: str | None = "bwrap not found: apt-get install -y bubblewrap"
    if bwrap is not None:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, check=False)
        version = out.stdout.strip() or None
        works, error = _probe_bwrap(bwrap)
    max_userns_text = _read(Path("/proc/sys/user/max_user_namespaces"))
    v1 = sorted({c for ln in (_read(Path("/proc/self/cgroup")) or "").splitlines()
                 if not ln.startswith("0::")
                 for c in ln.split(":")[1].split(",") if c and not c.startswith("name=")})
    location = _cgroup_v2_location()
    controllers: tuple[str, ...] = ()
    parent: Path | None = None
    reason: str | None = "no cgroup v2 (unified) hierarchy mounted"
    if location is not None:
        controllers = tuple((_read(location[1] / "cgroup.controllers") or "").split())
        parent, reason = ensure_cgroup_parent(location[1])
    return HostCapabilities(
        bwrap_path=bwrap,
        bwrap_version=version,
        bwrap_works=works,
        bwrap_error=error,
        max_user_namespaces=int(max_userns_text) if max_userns_text else None,
        prlimit_path=shutil.which("prlimit"),
        timeout_path=shutil.which("timeout"),
        cgroup_v2_mount=str(location[0]) if location else None,
        cgroup_v2_controllers=controllers,
        cgroup_parent=str(parent) if parent else None,
        cgroup_memory=parent is not None,
        cgroup_pids=parent is not None,
        cgroup_reason=reason,
        cgroup_v1_controllers=tuple(v1),
    )


def main() -> None:
    """Print the capabilities as JSON; exit 1 if this host cannot sandbox at all."""
    caps = probe_host()
    print(json.dumps(caps.as_dict(), indent=2))
    raise SystemExit(0 if caps.can_sandbox else 1)
