"""Sandbox cgroup plumbing: the host probe, per-run leaves (joined, limited, killed,
removed) on this host, v1/v2 setup on fake trees, stale-leaf sweeping, mountinfo
parsing, and the operator's ceilings.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.workers.sandbox_helpers import MiB, make_spec, wait_for
from workers.sandbox import (
    BubblewrapBackend,
    SandboxCeilings,
    SandboxSpecError,
    SandboxUnavailableError,
)
from workers.sandbox.cgroups import (
    RunCgroupV1,
    RunCgroupV2,
    cgroup_mounts,
    own_cgroups,
    sweep_stale_leaves,
    v1_own_dir,
    v2_location,
)
from workers.sandbox.probe import ensure_cgroup_parent


def test_probe_reports_this_host(backend: BubblewrapBackend) -> None:
    caps = backend.capabilities
    assert caps.bwrap_works
    assert caps.user_namespaces
    assert caps.can_sandbox
    assert caps.cgroup_memory == (caps.cgroup_parent is not None
                                  or caps.cgroup_v1_memory is not None)
    assert caps.cgroup_pids == (caps.cgroup_parent is not None
                                or caps.cgroup_v1_pids is not None)
    if not (caps.cgroup_memory and caps.cgroup_pids):
        assert caps.cgroup_reason
    else:
        assert caps.cgroup_reason is None
        assert caps.cgroup_version in ("v1", "v2")
    json.dumps(caps.as_dict())


def test_cgroup_leaves_are_joined_and_removed(backend: BubblewrapBackend,
                                              tmp_path: Path) -> None:
    if backend.capabilities.cgroup_version is None:
        pytest.skip(f"no usable cgroup here: {backend.capabilities.cgroup_reason}")
    log = tmp_path / "job.log"
    handle = backend.start(make_spec(tmp_path, "import time; print('ready', flush=True); "
                                     "time.sleep(60)", memory_bytes=300 * MiB, max_pids=77),
                           log)
    try:
        wait_for(log, "ready", handle)
        cgroup = handle.cgroup
        assert cgroup is not None
        assert cgroup.limits() == {"memory_bytes": 300 * MiB, "max_pids": 77}
        members = cgroup.members()
        assert handle.pid in members and len(members) >= 3  # timeout, bwrap x2, python
        files = cgroup.procs_files()
        for procs in files:  # every hierarchy: the same processes
            assert sorted(int(p) for p in procs.read_text().split()) == sorted(members)
        # The cgroup alone (no process-group kill) ends the run: cgroup.kill on v2;
        # freeze + SIGKILL each member on v1.
        cgroup.kill()
        result = handle.wait(timeout=20)
    finally:
        handle.kill()
    assert result.killed_by_signal == signal.SIGKILL
    assert not any(p.parent.exists() for p in files)
    assert "limits by cgroup" in log.read_text()


def test_require_cgroup_accepts_this_hosts_cgroups(tmp_path: Path,
                                                   backend: BubblewrapBackend) -> None:
    caps = backend.capabilities
    strict = BubblewrapBackend(caps, require_cgroup=True)
    spec = make_spec(tmp_path, "print('hi')", memory_bytes=256 * MiB, max_pids=64)
    if caps.cgroup_memory and caps.cgroup_pids:
        result = strict.run(spec, tmp_path / "job.log")
        assert result.ok and result.unenforced == ()
    else:
        with pytest.raises(SandboxUnavailableError, match="cgroup limits required"):
            strict.start(spec, tmp_path / "job.log")
    none = replace(caps, cgroup_parent=None, cgroup_memory=False, cgroup_pids=False,
                   cgroup_v1_memory=None, cgroup_v1_pids=None, cgroup_v1_freezer=None,
                   cgroup_reason="no cgroups (test)")
    with pytest.raises(SandboxUnavailableError, match="no cgroups"):
        BubblewrapBackend(none, require_cgroup=True).start(spec, tmp_path / "job.log")
    result = BubblewrapBackend(none).run(spec, tmp_path / "job.log")
    assert result.ok and set(result.unenforced) == {"memory_bytes", "max_pids"}


def test_cgroup_v1_kill_without_freezer(backend: BubblewrapBackend, tmp_path: Path) -> None:
    caps = backend.capabilities
    if caps.cgroup_version != "v1" or caps.cgroup_v1_pids is None:
        pytest.skip("needs a cgroup v1 pids hierarchy")
    no_freezer = BubblewrapBackend(replace(caps, cgroup_v1_freezer=None))
    log = tmp_path / "job.log"
    code = """import subprocess, time
subprocess.Popen(['python', '-c', 'import time; time.sleep(60)'], start_new_session=True)
print('ready', flush=True); time.sleep(60)"""
    handle = no_freezer.start(make_spec(tmp_path, code, max_pids=32), log)
    try:
        wait_for(log, "ready", handle)
        cgroup = handle.cgroup
        assert isinstance(cgroup, RunCgroupV1) and cgroup.freezer is None
        cgroup.kill()  # pidfd-checked SIGKILL of each member, in a loop
        result = handle.wait(timeout=20)
        assert cgroup.members() == []
    finally:
        handle.kill()
    assert result.killed_by_signal == signal.SIGKILL


def test_cgroup_v2_setup_on_a_fake_tree(tmp_path: Path) -> None:
    own = tmp_path / "cg"
    own.mkdir()
    (own / "cgroup.controllers").write_text("cpu memory pids\n")
    (own / "cgroup.subtree_control").write_text("")
    parent, reason = ensure_cgroup_parent(own)
    assert reason is None
    assert parent == own / "envhub-sandbox"
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids"
    run = RunCgroupV2(parent, 256 * MiB, 64)
    assert (run.path / "memory.max").read_text() == str(256 * MiB)
    assert (run.path / "pids.max").read_text() == "64"
    assert run.limits() == {"memory_bytes": 256 * MiB, "max_pids": 64}
    assert not run.oom_killed()
    assert not run.pids_limit_hit()
    (run.path / "memory.events").write_text("oom 1\noom_kill 1\n")
    (run.path / "pids.events").write_text("max 3\n")
    assert run.oom_killed()
    assert run.pids_limit_hit()
    (own / "cgroup.controllers").write_text("hugetlb\n")
    assert ensure_cgroup_parent(own)[0] is None


def test_cgroup_v1_setup_on_a_fake_tree(tmp_path: Path) -> None:
    dirs = {c: tmp_path / c for c in ("memory", "pids", "freezer")}
    for d in dirs.values():
        d.mkdir()
    run = RunCgroupV1(memory_dir=dirs["memory"], pids_dir=dirs["pids"],
                      freezer_dir=dirs["freezer"], memory_bytes=256 * MiB, max_pids=64)
    assert run.memory is not None and run.pids is not None and run.freezer is not None
    assert (run.memory / "memory.limit_in_bytes").read_text() == str(256 * MiB)
    assert (run.memory / "memory.memsw.limit_in_bytes").read_text() == str(256 * MiB)
    assert (run.pids / "pids.max").read_text() == "64"
    assert run.procs_files() == [run.memory / "cgroup.procs", run.pids / "cgroup.procs",
                                 run.freezer / "cgroup.procs"]
    assert not run.oom_killed() and not run.pids_limit_hit()
    (run.memory / "memory.oom_control").write_text(
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (run.pids / "pids.events").write_text("max 5\n")
    assert run.oom_killed() and run.pids_limit_hit()
    # Only what was asked for: no memory limit -> no memory leaf.
    only_pids = RunCgroupV1(memory_dir=dirs["memory"], pids_dir=dirs["pids"],
                            freezer_dir=None, memory_bytes=None, max_pids=8)
    assert only_pids.memory is None and only_pids.procs_files() == [
        only_pids.pids / "cgroup.procs"]  # type: ignore[operator]


def test_stale_empty_leaves_are_swept(tmp_path: Path) -> None:
    old = time.time() - 3600
    for name in ("envhub-run-dead", "envhub-run-busy", "envhub-run-fresh", "other"):
        (tmp_path / name).mkdir()
    (tmp_path / "envhub-run-busy" / "cgroup.procs").write_text(f"{os.getpid()}\n")
    for name in ("envhub-run-dead", "envhub-run-busy", "other"):
        os.utime(tmp_path / name, (old, old))
    assert sweep_stale_leaves(tmp_path, "envhub-run-") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "envhub-run-busy", "envhub-run-fresh", "other"]


def test_cgroup_paths_from_mountinfo() -> None:
    mountinfo = (
        "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "31 25 0:27 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
        "32 25 0:28 /ns /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer\n"
        "33 25 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        "34 25 0:30 / /proc rw - proc proc rw\n")
    own = own_cgroups("9:name=systemd:/\n8:pids:/\n6:freezer:/ns/x\n"
                      "4:memory:/process_api/abc\n0::/user.slice\n")
    assert own == {"name=systemd": "/", "pids": "/", "freezer": "/ns/x",
                   "memory": "/process_api/abc", "": "/user.slice"}
    mounts = cgroup_mounts(mountinfo)
    assert [m.fstype for m in mounts] == ["cgroup"] * 3 + ["cgroup2"]
    assert v2_location(mounts, own) == (Path("/sys/fs/cgroup/unified"),
                                        Path("/sys/fs/cgroup/unified/user.slice"))
    assert v1_own_dir("pids", mounts, own) == Path("/sys/fs/cgroup/pids")
    assert v1_own_dir("blkio", mounts, own) is None  # not mounted
    assert v1_own_dir("cpu", mounts, own) is None  # not a hierarchy we are in


def test_ceilings_cap_every_spec(backend: BubblewrapBackend, tmp_path: Path) -> None:
    env = {"HUB_SANDBOX_MEMORY_BYTES": str(300 * MiB), "HUB_SANDBOX_MAX_PIDS": "40",
           "HUB_SANDBOX_MAX_FILE_BYTES": str(MiB), "HUB_SANDBOX_TIMEOUT_S": "9.5"}
    ceilings = SandboxCeilings.from_env(env)
    assert ceilings == SandboxCeilings(memory_bytes=300 * MiB, max_pids=40,
                                       max_file_bytes=MiB, timeout_s=9.5)
    assert SandboxCeilings.from_env({}) == SandboxCeilings()
    with pytest.raises(SandboxSpecError, match="HUB_SANDBOX_MAX_PIDS"):
        SandboxCeilings.from_env({"HUB_SANDBOX_MAX_PIDS": "lots"})
    spec = make_spec(tmp_path, "pass", memory_bytes=None, max_pids=512, cpu_s=5)
    capped, notes = ceilings.apply(spec)
    assert (capped.memory_bytes, capped.max_pids, capped.max_file_bytes, capped.timeout_s,
            capped.cpu_s) == (300 * MiB, 40, MiB, 9.5, 5)
    assert len(notes) == 4
    result = BubblewrapBackend(backend.capabilities, ceilings=ceilings).run(
        make_spec(tmp_path, "print('ok')", timeout_s=600), tmp_path / "job.log")
    assert result.ok
    log = (tmp_path / "job.log").read_text()
    assert "timeout_s lowered to the worker's ceiling 9.5" in log
