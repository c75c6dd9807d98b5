"""The sandbox, tested with REAL bubblewrap running real Python inside.

Every isolation claim in docs/design/sandbox.md has a test that tries to break it from
inside. This file holds the spec, its argv and the run's I/O (log streaming, bound
sockets, output sanitizing); the rest are in test_sandbox_isolation.py (what a run can
see and reach), test_sandbox_limits.py (what it may use, and how it ends) and
test_sandbox_cgroups.py (the cgroup plumbing). The shared `backend` fixture is in
conftest.py, the helpers in sandbox_helpers.py.
A host without bwrap FAILS these tests (it must not pass a sandbox untested).
"""

from __future__ import annotations

import socket
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.workers.sandbox_helpers import MiB, make_spec, run_py
from workers.sandbox import BubblewrapBackend, SandboxSpecError, SandboxUnavailableError, argv_for
from workers.sandbox.probe import HostCapabilities


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
