"""Shared plumbing for the benchmarks: live hubs, the pypiserver peer, wrk, /proc sampling.

Everything listens on 127.0.0.1 only. Scratch state (hub data, the peer's virtualenv,
raw results) lives under bench/results/, which git ignores.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PEER_VENV = RESULTS / ".venv-peer"
VENV_BIN = Path(sys.executable).parent
PG_ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")

# What the peer venv gets: pypiserver as its Docker image runs it (gunicorn, one gevent
# worker, directory cache through watchdog), plus py-spy for profiling the hub.
PEER_PACKAGES = ["pypiserver[cache]", "gunicorn", "gevent", "py-spy"]
# pypiserver's docker/gunicorn.conf.py: preload_app = True, workers = 1,
# worker_class = "gevent". GUNICORN_CMD_ARGS says the same without a file in the cwd;
# --no-control-socket only keeps gunicorn (>= 27) from creating ~/.gunicorn/gunicorn.ctl.
PEER_GUNICORN_ARGS = "--workers 1 --worker-class gevent --preload --no-control-socket"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], logfile: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited at start:\n{logfile.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop(proc)
    tail = logfile.read_text()[-4000:]
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s:\n{tail}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# --- /proc ------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


def rss_bytes(pid: int) -> int:
    return _status_kb(pid, "VmRSS") * 1024


def hwm_bytes(pid: int) -> int:
    """The kernel's own peak RSS for the process (since start or the last reset)."""
    return _status_kb(pid, "VmHWM") * 1024


def reset_hwm(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0, needs ptrace rights on the process)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(entry.name))
    return out


def process_tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(_children(p))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the given processes (live ones only)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- the machine and versions -------------------------------------------------------------

def _cmd_out(args: list[str], env: dict[str, str] | None = None) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=60,
                              env=env).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = _status_kb_meminfo("MemTotal")
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "os": _os_release(),
        "python": platform.python_version(),
        "loadavg_at_start": loadavg(),
    }


def _status_kb_meminfo(name: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def _os_release() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return platform.system()
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)', text, re.M)
    return m.group(1) if m else platform.system()


def pip_versions(python: Path, names: list[str]) -> dict[str, str]:
    code = (
        "import json, sys\nfrom importlib.metadata import version, PackageNotFoundError\n"
        "out = {}\nfor n in sys.argv[1:]:\n    try:\n        out[n] = version(n)\n"
        "    except PackageNotFoundError:\n        out[n] = 'not installed'\nprint(json.dumps(out))"
    )
    res = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True,
                         check=True)
    return dict(json.loads(res.stdout))


HUB_PACKAGES = ["fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy",
                "psycopg", "pydantic", "httpx"]


def hub_versions() -> dict[str, str]:
    out = {"envhub commit": head_commit()}
    out |= pip_versions(Path(sys.executable), HUB_PACKAGES)
    out["postgresql"] = _pg_version()
    return out


def head_commit() -> str:
    """HEAD's commit, read from .git (the working tree may hold uncommitted changes)."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            path = git / ref
            if path.exists():
                return path.read_text().strip()[:12]
            for line in (git / "packed-refs").read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0][:12]
            return "unknown"
        return head[:12]
    except OSError:
        return "unknown"


def _pg_version() -> str:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "unknown"
    except Exception:
        return "unavailable"


def peer_versions() -> dict[str, str]:
    return pip_versions(PEER_VENV / "bin" / "python",
                        ["pypiserver", "gunicorn", "gevent", "watchdog", "py-spy"])


def wrk_version() -> str:
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).splitlines()[0].strip()


# --- tools ------------------------------------------------------------------------------

def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing wrk (Debian package) ...")
        res = subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True)
        if res.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: `apt-get install -y wrk` (Debian/Ubuntu).")


def ensure_peer_venv() -> Path:
    """A virtualenv apart from the project's, holding pypiserver and py-spy."""
    py = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / ".bench-installed"
    wanted = " ".join(PEER_PACKAGES)
    if stamp.exists() and stamp.read_text() == wanted:
        return PEER_VENV
    log(f"creating {PEER_VENV.relative_to(ROOT)} with: {wanted}")
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", *PEER_PACKAGES],
                   check=True)
    stamp.write_text(wanted)
    return PEER_VENV


# --- PostgreSQL scratch databases ---------------------------------------------------------

def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except Exception:
        return False


@contextmanager
def scratch_pg() -> Iterator[str]:
    import psycopg

    name = f"envhub_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- a live hub ---------------------------------------------------------------------------

@dataclass
class LiveHub:
    url: str
    proc: subprocess.Popen[bytes]
    token: str
    workdir: Path
    log: Path
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def serve_quiet_flags() -> list[str]:
    """Flags that keep `envhub serve` to the API alone (no embedded worker or local model
    competing for the CPU), for the versions of `serve` that have them."""
    env = dict(os.environ) | {"COLUMNS": "300", "TERM": "dumb", "NO_COLOR": "1"}
    help_text = _cmd_out([str(VENV_BIN / "envhub"), "serve", "--help"], env)
    return [f for f in ("--no-worker", "--no-local-model") if f in help_text]


@contextmanager
def live_hub(workdir: Path, database_url: str | None) -> Iterator[LiveHub]:
    """`envhub serve` exactly as an operator runs it; SQLite in the data dir by default."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    hub_env = {
        "HUB_DATA_DIR": str(workdir / "data"),
        "HUB_SECRET_KEY": secrets.token_urlsafe(32),
        "HUB_PUBLIC_URL": url,
    }
    if database_url:
        hub_env["HUB_DATABASE_URL"] = database_url
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | hub_env
    env["XDG_CONFIG_HOME"] = str(workdir / "config")
    command = [str(VENV_BIN / "envhub"), "serve", "--host", "127.0.0.1", "--port", str(port),
               *serve_quiet_flags()]
    logfile = workdir / "hub.log"
    with logfile.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=workdir)
    try:
        wait_http(f"{url}/api/v1/health", proc, logfile)
        token = (workdir / "data" / "initial-admin-token").read_text().strip()
        yield LiveHub(url=url, proc=proc, token=token, workdir=workdir, log=logfile,
                      command=command, env=hub_env)
    finally:
        stop(proc)


@contextmanager
def live_pypiserver(workdir: Path, packages: Path) -> Iterator[tuple[str, subprocess.Popen[bytes],
                                                                     list[str], dict[str, str]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    command = [str(PEER_VENV / "bin" / "pypi-server"), "run", "-p", str(port), "-i", "127.0.0.1",
               "--server", "gunicorn", "--backend", "cached-dir", "--disable-fallback",
               str(packages)]
    extra = {"GUNICORN_CMD_ARGS": PEER_GUNICORN_ARGS}
    env = dict(os.environ) | extra
    logfile = workdir / "pypiserver.log"
    with logfile.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=workdir)
    try:
        wait_http(f"{url}/health", proc, logfile)
        yield url, proc, command, extra
    finally:
        stop(proc)


# --- wrk ----------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unparsed wrk duration {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict[str, object]:
    res: dict[str, object] = {"raw": out}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", out)
    if not rps or not total:
        raise ValueError(f"unparsed wrk output:\n{out}")
    res["requests_per_s"] = float(rps.group(1))
    res["requests"] = int(total.group(1))
    res["read"] = total.group(3)
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}_ms"] = _ms(m.group(1)) if m else None
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    sock = re.search(r"Socket errors: (.*)", out)
    res["socket_errors"] = sock.group(1).strip() if sock else "none"
    return res


def wrk_command(url: str, *, threads: int, connections: int, duration: int) -> list[str]:
    return ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
            "--timeout", "10s", "--latency", url]


def run_wrk(url: str, pids: list[int], *, threads: int, connections: int,
            duration: int) -> dict[str, object]:
    """One wrk run; also the CPU seconds the server's processes `pids` used during it."""
    load_before = loadavg()
    cpu0 = cpu_seconds(pids)
    cmd = wrk_command(url, threads=threads, connections=connections, duration=duration)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         timeout=duration + 60).stdout
    cpu = cpu_seconds(pids) - cpu0
    res = parse_wrk(out)
    res["command"] = " ".join(cmd)
    res["server_cpu_s"] = round(cpu, 2)
    res["loadavg_before"] = load_before
    res["loadavg_after"] = loadavg()
    requests = int(res["requests"])  # type: ignore[call-overload]
    res["requests_per_cpu_s"] = round(requests / cpu, 1) if cpu > 0 else None
    return res


def save_json(name: str, data: object) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path
