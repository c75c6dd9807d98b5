"""Sandbox limits, hit on purpose with REAL bubblewrap: wall clock, CPU, file size,
memory, pids (a fork bomb), an output flood, and ending a run (kill from another thread,
background processes that try to outlive it).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.support import procs
from tests.workers.sandbox_helpers import MiB, make_spec, run_py, wait_for
from workers.sandbox import BubblewrapBackend, argv_for


def test_wall_clock_timeout_kills_and_flags(backend: BubblewrapBackend, tmp_path: Path) -> None:
    result, _ = run_py(backend, tmp_path, "import time; time.sleep(120)", timeout_s=2,
                       kill_grace_s=1)
    assert result.timed_out
    assert result.exit_code is None
    assert not result.ok
    assert result.killed_by_signal == signal.SIGKILL
    assert 1.9 <= result.duration_s < 10


def test_cpu_limit(backend: BubblewrapBackend, tmp_path: Path) -> None:
    result, _ = run_py(backend, tmp_path, "while True: pass", cpu_s=1, timeout_s=60)
    assert not result.timed_out
    assert result.killed_by_signal in (signal.SIGXCPU, signal.SIGKILL)
    assert result.duration_s < 20


def test_file_size_limit(backend: BubblewrapBackend, tmp_path: Path) -> None:
    code = """import errno, json
try:
    with open('/out/big', 'wb') as f:
        f.write(b'x' * (2 * 1024 * 1024))
    r = 'ok'
except OSError as e:
    r = errno.errorcode[e.errno]
print('RESULT ' + json.dumps(r))"""
    result, r = run_py(backend, tmp_path, code, max_file_bytes=MiB)
    assert result.exit_code == 0, result.log_tail
    assert r == "EFBIG"
    assert (tmp_path / "out" / "big").stat().st_size <= MiB


# Holds 16 MiB blocks of non-zero bytes (touched pages, not just address space) until it
# has 1 GiB or dies; prints RESULT only if it survived.
MEMORY_BOMB = """import json
held = []
try:
    for i in range(64):
        held.append(bytes([1]) * (16 << 20))
        print('held', 16 * len(held), 'MiB', flush=True)
    r = 'survived'
except MemoryError:
    r = 'MemoryError'
print('RESULT ' + json.dumps(r))"""


def test_memory_limit_and_honest_reporting(backend: BubblewrapBackend, tmp_path: Path) -> None:
    result, r = run_py(backend, tmp_path, MEMORY_BOMB, memory_bytes=256 * MiB)
    assert r != "survived"
    caps = backend.capabilities
    if caps.cgroup_memory:
        assert "memory_bytes" not in result.unenforced
        assert result.oom_killed, result.log_tail
    else:  # never pretend: the result and the log both say it
        assert r == "MemoryError"
        assert "memory_bytes" in result.unenforced
        assert "NOT ENFORCED" in (tmp_path / "job.log").read_text()


def _require_cgroup_limit(backend: BubblewrapBackend, what: str) -> None:
    caps = backend.capabilities
    if not (caps.cgroup_pids if what == "max_pids" else caps.cgroup_memory):
        pytest.skip(f"this host enforces no cgroup {what} ({caps.cgroup_reason}): running "
                    "the bomb would be unsafe; see docs/design/sandbox.md")


def test_fork_bomb_is_contained_by_the_pids_limit(backend: BubblewrapBackend,
                                                   tmp_path: Path) -> None:
    _require_cgroup_limit(backend, "max_pids")
    marker = f"envhub-forkbomb-{os.getpid()}-{time.time_ns()}"
    # Every process forks as fast as it can, forever; the first one reports after 4 s of
    # bombing (how many forks worked, how they failed) and exits, which ends the run.
    # It waits for /out/go: the test starts the bomb only after it has seen the limit in
    # place with its own eyes (never an unbounded fork bomb on a shared machine).
    code = f"""import errno, json, os, sys, time
print('ready', flush=True)
while not os.path.exists('/out/go'):
    time.sleep(0.02)
forked, failures, seen = 0, 0, set()
start = time.monotonic()
while time.monotonic() - start < 4:
    try:
        pid = os.fork()
    except OSError as e:
        failures += 1
        seen.add(errno.errorcode[e.errno])
        time.sleep(0.002)
        continue
    if pid == 0:
        while True:  # every child is a bomb too
            try:
                os.fork()
            except OSError:
                time.sleep(0.002)
    forked += 1
print('RESULT ' + json.dumps({{'forked': forked, 'failures': failures,
                                'errors': sorted(seen)}}), flush=True)
os._exit(0)
# {marker}"""
    before = procs.count()
    log = tmp_path / "job.log"
    handle = backend.start(make_spec(tmp_path, code, max_pids=64, timeout_s=30,
                                     kill_grace_s=1), log)
    try:
        wait_for(log, "ready", handle)
        cgroup = handle.cgroup
        assert cgroup is not None
        assert cgroup.limits()["max_pids"] == 64
        assert handle.pid in cgroup.members()  # the sandbox's supervisor joined it
        (tmp_path / "out" / "go").touch()
        result = handle.wait(timeout=60)
    finally:
        handle.kill()
    r = json.loads(next(ln[7:] for ln in log.read_text().splitlines()
                        if ln.startswith("RESULT ")))
    assert r["failures"] > 0 and r["errors"] == ["EAGAIN"], r
    assert 0 < r["forked"] < 64, r
    assert result.exit_code == 0 and not result.timed_out, result.log_tail
    assert result.pids_limit_hit
    assert result.unenforced == ()
    assert result.peak_pids is None or result.peak_pids <= 64
    deadline = time.monotonic() + 10
    while _marker_alive(marker) or procs.count() > before + 40:
        assert time.monotonic() < deadline, "the fork bomb outlived its run"
        time.sleep(0.1)


def test_memory_bomb_is_killed_by_the_cgroup(backend: BubblewrapBackend, tmp_path: Path) -> None:
    _require_cgroup_limit(backend, "memory_bytes")
    spec = make_spec(tmp_path, MEMORY_BOMB, memory_bytes=256 * MiB, timeout_s=60)
    assert "--as=" not in " ".join(argv_for(spec, address_space_limit=False))
    result = backend.run(spec, tmp_path / "job.log")
    log = (tmp_path / "job.log").read_text()
    assert "RESULT" not in log  # neither survived nor got a MemoryError: it was killed
    assert result.oom_killed
    assert result.killed_by_signal == signal.SIGKILL
    assert not result.timed_out and result.exit_code is None
    held = [int(ln.split()[1]) for ln in log.splitlines() if ln.startswith("held ")]
    assert held and max(held) <= 256  # the kernel killed it at the limit, not later
    assert result.peak_memory_bytes is None or result.peak_memory_bytes <= 256 * MiB
    assert "limits by cgroup" in log and "oom=True" in log


def test_output_flood_is_capped(backend: BubblewrapBackend, tmp_path: Path) -> None:
    # Tries to write 3 GiB to stdout (the job log), ignoring every error.
    code = """import sys
block, written, failed = b'x' * (1 << 20), 0, 0
for _ in range(3 * 1024):
    try:
        sys.stdout.buffer.write(block)
        sys.stdout.buffer.flush()
        written += 1
    except OSError:
        failed += 1
sys.exit(7)"""
    started = time.monotonic()
    result = backend.run(make_spec(tmp_path, code, max_file_bytes=64 * MiB, timeout_s=60),
                         tmp_path / "job.log")
    assert time.monotonic() - started < 30
    assert not result.timed_out
    # It ends on its own (exit 7), or on SIGXFSZ if it had not ignored it.
    assert result.exit_code == 7 or result.killed_by_signal == signal.SIGXFSZ, result
    size = (tmp_path / "job.log").stat().st_size
    assert 64 * MiB <= size < 64 * MiB + 4096  # the cap, plus the sandbox's own last lines
    assert "exit_code=7" in result.log_tail


def _marker_alive(marker: str) -> bool:
    return any(marker.encode() in cmdline for _, cmdline in procs.cmdlines())


def test_kill_from_another_thread_ends_whole_tree(backend: BubblewrapBackend,
                                                   tmp_path: Path) -> None:
    marker = f"envhub-orphan-{os.getpid()}-{time.time_ns()}"
    # A grandchild that double-forks and setsid()s, as a daemon trying to outlive the job.
    code = f"""import os, subprocess, time
subprocess.Popen(['python', '-c', 'import time; time.sleep(600)', {marker!r}],
                 start_new_session=True)
print('ready', flush=True)
time.sleep(600)"""
    handle = backend.start(make_spec(tmp_path, code), tmp_path / "job.log")
    deadline = time.monotonic() + 30
    while "ready" not in (tmp_path / "job.log").read_text():
        assert time.monotonic() < deadline, "sandbox never became ready"
        time.sleep(0.05)
    assert _marker_alive(marker)
    killer = threading.Thread(target=handle.kill)
    t0 = time.monotonic()
    killer.start()
    result = handle.wait(timeout=10)
    killer.join()
    assert time.monotonic() - t0 < 5
    assert result.cancelled
    assert not result.timed_out
    assert not result.ok
    deadline = time.monotonic() + 5
    while _marker_alive(marker):
        assert time.monotonic() < deadline, "a sandboxed process survived kill()"
        time.sleep(0.05)


def test_background_processes_die_with_the_job(backend: BubblewrapBackend,
                                               tmp_path: Path) -> None:
    marker = f"envhub-bg-{os.getpid()}-{time.time_ns()}"
    code = f"""import subprocess
subprocess.Popen(['python', '-c', 'import time; time.sleep(600)', {marker!r}],
                 start_new_session=True)"""
    result, _ = run_py(backend, tmp_path, code)
    assert result.exit_code == 0
    deadline = time.monotonic() + 5
    while _marker_alive(marker):
        assert time.monotonic() < deadline, "a background process outlived its job"
        time.sleep(0.05)
