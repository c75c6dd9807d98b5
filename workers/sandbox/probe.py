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

from workers.sandbox.cgroups import (
    CGROUP_PARENT_NAME,
    cgroup_mounts,
    ensure_cgroup_parent,
    own_cgroups,
    probe_v1,
    read,
    v1_own_dir,
    v2_location,
)

__all__ = [
    "CGROUP_PARENT_NAME",
    "ISOLATION_FLAGS",
    "CgroupCapabilities",
    "HostCapabilities",
    "ensure_cgroup_parent",
    "main",
    "probe_cgroups",
    "probe_host",
]

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
    cgroup_parent: str | None  # v2: where per-run cgroups are created, when usable
    cgroup_memory: bool  # memory_bytes is enforced by a cgroup (v2 or v1)
    cgroup_pids: bool  # max_pids is enforced by a cgroup (v2 or v1)
    cgroup_reason: str | None  # why memory/pids are not enforced, when they are not
    cgroup_v1_controllers: tuple[str, ...]  # v1 hierarchies this process is in
    # v1, used when v2 cannot delegate memory+pids: the worker's own cgroup directory in
    # each hierarchy, where run leaves are created (None: not mounted or not writable).
    cgroup_v1_memory: str | None = None
    cgroup_v1_pids: str | None = None
    cgroup_v1_freezer: str | None = None  # only to stop a fork bomb while killing it

    @property
    def user_namespaces(self) -> bool:
        return bool(self.max_user_namespaces)

    @property
    def can_sandbox(self) -> bool:
        return self.bwrap_works and self.prlimit_path is not None and self.timeout_path is not None

    @property
    def cgroup_version(self) -> str | None:
        """Which cgroup hierarchy per-run limits go into: "v2", "v1" or None."""
        if self.cgroup_parent is not None:
            return "v2"
        if self.cgroup_v1_memory is not None or self.cgroup_v1_pids is not None:
            return "v1"
        return None

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "cgroup_version": self.cgroup_version,
                "user_namespaces": self.user_namespaces, "can_sandbox": self.can_sandbox}


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


@dataclass(frozen=True)
class CgroupCapabilities:
    """The cgroup part of `HostCapabilities` (same field names)."""

    cgroup_v2_mount: str | None
    cgroup_v2_controllers: tuple[str, ...]
    cgroup_parent: str | None
    cgroup_memory: bool
    cgroup_pids: bool
    cgroup_reason: str | None
    cgroup_v1_controllers: tuple[str, ...]
    cgroup_v1_memory: str | None
    cgroup_v1_pids: str | None
    cgroup_v1_freezer: str | None


def probe_cgroups() -> CgroupCapabilities:
    """Where per-run memory/pids limits can go: a delegated v2 parent, else v1 leaves
    (each controller on its own), else nowhere (and why)."""
    mounts, own = cgroup_mounts(), own_cgroups()
    v1_in = sorted({c for c in own if c and not c.startswith("name=")})
    location = v2_location(mounts, own)
    controllers: tuple[str, ...] = ()
    parent: Path | None = None
    reason: str | None = "no cgroup v2 (unified) hierarchy mounted"
    if location is not None:
        controllers = tuple((read(location[1] / "cgroup.controllers") or "").split())
        parent, reason = ensure_cgroup_parent(location[1])
    v1: dict[str, Path] = {}
    if parent is None:
        reasons = [reason]
        for controller in ("memory", "pids"):
            found, why = probe_v1(controller, v1_own_dir(controller, mounts, own))
            if found is not None:
                v1[controller] = found
            else:
                reasons.append(why)
        if v1:
            freezer, _ = probe_v1("freezer", v1_own_dir("freezer", mounts, own))
            if freezer is not None:
                v1["freezer"] = freezer
        reason = None if {"memory", "pids"} <= v1.keys() else \
            "; ".join(r for r in reasons if r)
    return CgroupCapabilities(
        cgroup_v2_mount=str(location[0]) if location else None,
        cgroup_v2_controllers=controllers,
        cgroup_parent=str(parent) if parent else None,
        cgroup_memory=parent is not None or "memory" in v1,
        cgroup_pids=parent is not None or "pids" in v1,
        cgroup_reason=reason,
        cgroup_v1_controllers=tuple(v1_in),
        cgroup_v1_memory=str(v1["memory"]) if "memory" in v1 else None,
        cgroup_v1_pids=str(v1["pids"]) if "pids" in v1 else None,
        cgroup_v1_freezer=str(v1["freezer"]) if "freezer" in v1 else None,
    )


def probe_host() -> HostCapabilities:
    bwrap = shutil.which("bwrap")
    version: str | None = None
    works: bool = False
    error: str | None = "bwrap not found: apt-get install -y bubblewrap"
    if bwrap is not None:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, check=False)
        version = out.stdout.strip() or None
        works, error = _probe_bwrap(bwrap)
    max_userns_text = read(Path("/proc/sys/user/max_user_namespaces"))
    return HostCapabilities(
        bwrap_path=bwrap,
        bwrap_version=version,
        bwrap_works=works,
        bwrap_error=error,
        max_user_namespaces=int(max_userns_text) if max_userns_text else None,
        prlimit_path=shutil.which("prlimit"),
        timeout_path=shutil.which("timeout"),
        **asdict(probe_cgroups()),
    )


def main() -> None:
    """Print the capabilities as JSON; exit 1 if this host cannot sandbox at all."""
    caps = probe_host()
    print(json.dumps(caps.as_dict(), indent=2))
    raise SystemExit(0 if caps.can_sandbox else 1)
