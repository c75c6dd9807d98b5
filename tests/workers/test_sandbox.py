"""The sandbox, tested with REAL bubblewrap running real Python inside.

Every isolation claim in docs/design/sandbox.md has a test here that tries to break it
from inside. A host without bwrap FAILS these tests (it must not pass a sandbox untested).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from workers.sandbox import (
    BubblewrapBackend,
    SandboxCeilings,
    SandboxResult,
    SandboxSpec,
    SandboxSpecError,
    SandboxUnavailableError,
    argv_for,
    probe_host,
)
from workers.sandbox.bubblewrap import ETC_ALLOWLIST, BubblewrapHandle, interpreter_prefix
from workers.sandbox.cgroups import (
    RunCgroupV1,
    RunCgroupV2,
    cgroup_mounts,
    own_cgroups,
    sweep_stale_leaves,
    v1_own_dir,
    v2_location,
)
from workers.sandbox.probe import HostCapabilities, ensure_cgroup_parent

VENV = Path(sys.prefix)
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def backend() -> BubblewrapBackend:
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap is not installed: run `apt-get install -y bubblewrap`")
    caps = probe_host()
    if not caps.can_sandbox:
        pytest.fail(f"bubblewrap cannot sandbox on this host: {caps.bwrap_error} "
                    "(apt-get install -y bubblewrap)")
    return BubblewrapBackend(caps)


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


def try_op(name: str, expr: str) -> str:
    """Inner-code snippet recording whether `expr` raised (and which errno)."""
    return (f"try:\n    {expr}\n    r[{name!r}] = 'ok'\n"
            f"except OSError as e:\n    r[{name!r}] = e.errno\n")


def test_argv_for_is_pure_and_complete(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "pass", cpu_s=7, max_file_bytes=MiB, memory_bytes=512 * MiB,
                     max_open_files=99, timeout_s=30, kill_grace_s=2)
    argv = argv_for(spec)
    assert argv[:4] == ["timeout", "-k", "2", "30"]
    assert {"--cpu=7:8", f"--fsize={MiB}", f"--as={512 * MiB}", "--nofile=99"} <= set(argv)
    bw = argv[argv.index("bwrap"):]
    for flag in ("--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
                 "--disable-userns"):
        assert flag in bw
    assert bw[bw.index("--uid") + 1] == "65534"
    assert bw[bw.index("--cap-drop") + 1] == "ALL"
    assert "/etc/shadow" not in argv
    assert "/etc" not in argv
    assert "/root" not in argv
    joined = " ".join(argv)
    assert "--proc /proc --remount-ro /proc" in joined
    assert f"--bind {spec.output_dir.resolve()} /out" in joined
    assert argv[-4:] == ["--", "python", "-c", "pass"]


def test_spec_validation(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "pass")
    with pytest.raises(SandboxSpecError):
        replace(spec, output_dest="out").validate()
    with pytest.raises(SandboxSpecError):
        replace(spec, ro_binds=[(tmp_path, "/a/../etc")]).validate()
    with pytest.raises(SandboxSpecError):
        replace(spec, output_dir=tmp_path / "missing").validate()
    with pytest.raises(SandboxSpecError):
        replace(spec, cpu_s=0).validate()


def test_missing_bwrap_is_unavailable_with_install_hint(tmp_path: Path) -> None:
    caps = HostCapabilities(None, None, False, "bwrap not found: apt-get install -y bubblewrap",
                            None, None, None, None, (), None, False, False, "n/a", ())
    with pytest.raises(SandboxUnavailableError, match="apt-get install -y bubblewrap"):
        BubblewrapBackend(caps).start(make_spec(tmp_path, "pass"), tmp_path / "log")


def test_identity_capabilities_and_exit_code(backend: BubblewrapBackend, tmp_path: Path) -> None:
    code = """import json, os, sys
st = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)
print('RESULT ' + json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'euid': os.geteuid(),
      'capeff': st['CapEff'], 'capbnd': st['CapBnd'], 'capprm': st['CapPrm']}))
sys.exit(3)"""
    result, r = run_py(backend, tmp_path, code)
    assert result.exit_code == 3
    assert not result.timed_out
    assert result.killed_by_signal is None
    assert (r["uid"], r["gid"], r["euid"]) == (65534, 65534, 65534)
    assert int(r["capeff"], 16) == 0
    assert int(r["capprm"], 16) == 0
    assert int(r["capbnd"], 16) == 0


def test_worker_environment_does_not_leak(backend: BubblewrapBackend, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVHUB_DATABASE_URL", "postgresql://secret")
    code = "import json, os; print('RESULT ' + json.dumps(dict(os.environ)))"
    _, env = run_py(backend, tmp_path, code, env={"JOB": "1"})
    assert "ENVHUB_DATABASE_URL" not in env
    assert env["JOB"] == "1"
    assert env["HOME"] == "/tmp"


def test_no_network(backend: BubblewrapBackend, tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # proves the host side is listening
    port = listener.getsockname()[1]
    try:
        code = f"""import json, socket
r = {{'ifaces': socket.if_nameindex()}}
for port in (6379, {port}):
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect(('127.0.0.1', port)); r[str(port)] = 'connected'
    except OSError as e:
        r[str(port)] = type(e).__name__
try:
    socket.getaddrinfo('pypi.org', 443); r['dns'] = 'resolved'
except OSError as e:
    r['dns'] = type(e).__name__
print('RESULT ' + json.dumps(r))"""
        result, r = run_py(backend, tmp_path, code)
    finally:
        listener.close()
    assert result.exit_code == 0, result.log_tail
    assert r["ifaces"] == [[1, "lo"]]
    assert r["6379"] != "connected"
    assert r[str(port)] != "connected"
    assert r["dns"] != "resolved"


def test_filesystem_is_read_only_except_output(backend: BubblewrapBackend,
                                                 tmp_path: Path) -> None:
    venv = VENV.absolute()
    code = "import json, os\nr = {}\n" + "".join([
        try_op("root", "open('/evil', 'w')"),
        try_op("usr", "open('/usr/evil', 'w')"),
        try_op("venv", f"open('{venv}/evil', 'w')"),
        try_op("venv_bin", f"open('{venv}/bin/python', 'a')"),
        try_op("etc", "open('/etc/passwd', 'a')"),
        try_op("dev", "open('/dev/evil', 'w')"),
        # Opening for write is enough to prove it; nothing is ever written to these.
        try_op("sysctl", "os.close(os.open('/proc/sys/vm/drop_caches', os.O_WRONLY))"),
        try_op("sysrq", "os.close(os.open('/proc/sysrq-trigger', os.O_WRONLY))"),
        try_op("chmod_venv", f"os.chmod('{venv}/bin', 0o777)"),
        try_op("out", "open('/out/result.txt', 'w').write('fine')"),
        try_op("devnull", "open('/dev/null', 'w').write('x')"),
    ]) + "print('RESULT ' + json.dumps(r))"
    result, r = run_py(backend, tmp_path, code)
    assert result.exit_code == 0, result.log_tail
    for key in ("root", "usr", "venv", "venv_bin", "etc", "dev", "sysctl", "sysrq",
                "chmod_venv"):
        assert r[key] != "ok", key
    assert r["out"] == "ok"
    assert r["devnull"] == "ok"
    assert (tmp_path / "out" / "result.txt").read_text() == "fine"
    assert not (venv / "evil").exists()


def test_tmp_is_a_size_capped_tmpfs(backend: BubblewrapBackend, tmp_path: Path) -> None:
    code = """import errno, json
fs = [l.split(' - ')[1].split()[0] for l in open('/proc/self/mountinfo')
      if l.split()[4] == '/tmp']
r = {'fstype': fs}
try:
    with open('/tmp/big', 'wb') as f:
        for _ in range(16):
            f.write(b'x' * (1024 * 1024))
    r['write'] = 'ok'
except OSError as e:
    r['write'] = errno.errorcode[e.errno]
print('RESULT ' + json.dumps(r))"""
    result, r = run_py(backend, tmp_path, code, tmpfs_bytes=8 * MiB)
    assert result.exit_code == 0, result.log_tail
    assert r["fstype"] == ["tmpfs"]
    assert r["write"] == "ENOSPC"


def test_host_files_are_not_visible(backend: BubblewrapBackend, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("s3cr3t")
    code = f"""import json, os
r = {{'shadow': os.path.exists('/etc/shadow'), 'gshadow': os.path.exists('/etc/gshadow'),
      'secret': os.path.exists({str(secret)!r}), 'top': sorted(os.listdir('/')),
      'etc': sorted(os.listdir('/etc')), 'ssh': os.path.exists('/root/.ssh'),
      'repo': os.path.exists({str(Path(__file__).resolve())!r}),
      'root': sorted(os.listdir('/root')) if os.path.isdir('/root') else []}}
print('RESULT ' + json.dumps(r))"""
    result, r = run_py(backend, tmp_path, code)
    assert result.exit_code == 0, result.log_tail
    assert not r["shadow"]
    assert not r["gshadow"]
    assert not r["secret"]
    assert not r["ssh"]
    assert not r["repo"]
    assert set(r["etc"]) <= {name.split("/")[0] for name in ETC_ALLOWLIST}
    assert set(r["root"]) <= {".pyenv"}  # only the path down to the interpreter, if any
    # Besides the fixed skeleton, only the first components of the two binds the sandbox
    # needs (venv, interpreter prefix) may appear: wherever this checkout happens to live.
    bound = {Path(p).resolve().parts[1] for p in (VENV, interpreter_prefix(VENV))}
    assert set(r["top"]) <= {"bin", "dev", "etc", "lib", "lib64", "out", "proc", "sbin",
                             "tmp", "usr"} | bound


def test_nested_user_namespace_is_refused(backend: BubblewrapBackend, tmp_path: Path) -> None:
    code = """import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.unshare(0x10000000)  # CLONE_NEWUSER
print('RESULT ' + json.dumps({'rc': rc, 'errno': ctypes.get_errno()}))"""
    result, r = run_py(backend, tmp_path, code)
    assert result.exit_code == 0, result.log_tail
    assert r["rc"] == -1
    assert r["errno"] != 0


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


def _host_pids() -> set[int]:
    return {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}


def _wait_for(log: Path, text: str, handle: BubblewrapHandle, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in (log.read_text(errors="replace") if log.exists() else ""):
        assert not handle.poll(), log.read_text(errors="replace")
        assert time.monotonic() < deadline, f"never saw {text!r}"
        time.sleep(0.05)


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
    before = len(_host_pids())
    log = tmp_path / "job.log"
    handle = backend.start(make_spec(tmp_path, code, max_pids=64, timeout_s=30,
                                     kill_grace_s=1), log)
    try:
        _wait_for(log, "ready", handle)
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
    while _marker_alive(marker) or len(_host_pids()) > before + 40:
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
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False


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


@pytest.fixture
def gateway_socket(tmp_path: Path) -> Iterator[Path]:
    """A tiny unix-socket server on the host: the shape of the model gateway."""
    path = tmp_path / "gateway.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    server.settimeout(30)

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.sendall(b"pong:" + conn.recv(100))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path
    server.close()
    thread.join(timeout=5)


def test_bound_unix_socket_is_reachable(backend: BubblewrapBackend, tmp_path: Path,
                                        gateway_socket: Path) -> None:
    code = """import json, socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(10)
s.connect('/run/gateway.sock'); s.sendall(b'ping')
print('RESULT ' + json.dumps(s.recv(100).decode()))"""
    result, r = run_py(backend, tmp_path, code, sockets=[(gateway_socket, "/run/gateway.sock")])
    assert result.exit_code == 0, result.log_tail
    assert r == "pong:ping"


def test_logs_stream_while_running(backend: BubblewrapBackend, tmp_path: Path) -> None:
    code = """import sys, time
for i in range(40):
    print('line', i); print('err', i, file=sys.stderr); time.sleep(0.1)"""
    log = tmp_path / "job.log"
    handle = backend.start(make_spec(tmp_path, code), log)
    deadline = time.monotonic() + 30
    while "line 2\n" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "no streamed output"
        time.sleep(0.05)
    assert not handle.poll(), "output only appeared after the process ended"
    assert "err 1" in log.read_text()  # stderr goes to the same log
    result = handle.wait()
    assert result.exit_code == 0
    assert "line 39" in result.log_tail


def test_output_is_sanitized_after_run(backend: BubblewrapBackend, tmp_path: Path) -> None:
    code = """import os
os.symlink('/etc/shadow', '/out/link')
open('/out/tool', 'w').write('#!/bin/sh\\n'); os.chmod('/out/tool', 0o4755)
open('/out/data.json', 'w').write('{}')"""
    result, _ = run_py(backend, tmp_path, code)
    assert result.exit_code == 0, result.log_tail
    out = tmp_path / "out"
    assert not (out / "link").is_symlink()
    assert not (out / "tool").stat().st_mode & stat.S_ISUID
    assert (out / "data.json").read_text() == "{}"


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
        _wait_for(log, "ready", handle)
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
        _wait_for(log, "ready", handle)
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
