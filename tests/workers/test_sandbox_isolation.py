"""Sandbox isolation, tried from inside with REAL bubblewrap: identity and capabilities,
the environment, the network, the filesystem (read-only, /tmp, hidden host files, /proc)
and user namespaces.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.workers.sandbox_helpers import VENV, MiB, run_py
from workers.sandbox import BubblewrapBackend
from workers.sandbox.bubblewrap import ETC_ALLOWLIST, interpreter_prefix


def try_op(name: str, expr: str) -> str:
    """Inner-code snippet recording whether `expr` raised (and which errno)."""
    return (f"try:\n    {expr}\n    r[{name!r}] = 'ok'\n"
            f"except OSError as e:\n    r[{name!r}] = e.errno\n")


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
