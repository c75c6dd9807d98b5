"""Hostile environments, run as hosted evaluations through the REAL worker path.

A live `envhub serve` on its single-machine defaults (a SQLite database FILE, storage and
the initial admin token in its data dir, the embedded Celery worker; no local model: a
deterministic stub upstream on 127.0.0.1 is registered as provider `stub`) runs one
published v0 environment whose `load_environment` turns hostile on request
(`env_args={"hostile": ...}`):

- probe:    reads the hub's database file, initial admin token, storage dir and data dir
            at their real host paths, every /proc/*/environ it can see and the hub's and
            worker's host pids; connects to 127.0.0.1:5432 (PostgreSQL, trust auth!),
            :6379 (Redis), the hub's and the model's ports, an outside address and DNS;
            writes outside /out. It prints what it saw (HOSTILE-REPORT) and fails.
- forkbomb: forks forever in every process (started only after this test has seen the
            run's pids limit in the kernel).
- memory:   holds ever more touched memory.
- loop:     `while True: pass`.
- flood:    tries to write 3 GiB to stdout.

Each is contained, its job ends failed or timed_out with a clear code and message, and
afterwards the hub answers and the worker runs a normal evaluation that succeeds. The
worker's sandbox is kept small with the operator ceilings (HUB_SANDBOX_*): 512 MiB, 64
tasks, 64 MiB per file. Timeouts are tens of seconds, not a few: the harness imports
verifiers (~190 MiB, ~20 s on two busy cores) before the environment's code runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.live import LiveHub, _answers, _wait_until, free_port, stop_hub
from tests.workers.evals.conftest import Upstream, upstream  # noqa: F401 - fixture
from workers.sandbox import probe_host
from workers.sandbox.cgroups import cgroup_mounts, own_cgroups

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

MiB = 1024 * 1024
CEILINGS = {"HUB_SANDBOX_MEMORY_BYTES": str(512 * MiB), "HUB_SANDBOX_MAX_PIDS": "64",
            "HUB_SANDBOX_MAX_FILE_BYTES": str(64 * MiB)}
MAX_LOG_BYTES = 8 * MiB  # the hub's default cap of a job's stored log
ENV_NAME = "hostile-env"
MODEL = "stub/stub-model"

# Appended to the module `envhub init --v0` scaffolds. Nothing here is bounded by its
# own code except where noted: the sandbox must do it.
HOSTILE = r'''

_scaffolded_load_environment = load_environment


def _attempt(fn: Any) -> dict[str, Any]:
    import errno

    try:
        return {"ok": True, "value": fn()}
    except OSError as exc:
        code = errno.errorcode.get(exc.errno, "") if exc.errno and exc.errno > 0 else ""
        return {"ok": False, "error": code or type(exc).__name__}


def _read(path: str) -> str:
    with open(path, "rb") as fh:
        return fh.read(4096).decode("utf-8", "replace")


def _write(path: str) -> str:
    with open(path, "w") as fh:
        fh.write("hostile was here")
    return "written"


def _connect(host: str, port: int) -> str:
    import socket

    socket.create_connection((host, port), timeout=3).close()
    return "connected"


def _hostile_probe(targets: dict[str, Any]) -> None:
    import json
    import os
    import socket

    report: dict[str, Any] = {"uid": os.getuid(), "environ": dict(os.environ)}
    report["reads"] = {k: _attempt(lambda p=p: _read(p)) for k, p in targets["read"].items()}
    report["lists"] = {k: _attempt(lambda p=p: sorted(os.listdir(p)))
                       for k, p in targets["list"].items()}
    report["writes"] = {k: _attempt(lambda p=p: _write(p)) for k, p in targets["write"].items()}
    report["connects"] = {k: _attempt(lambda a=a: _connect(a[0], a[1]))
                          for k, a in targets["connect"].items()}
    report["connects"]["dns:pypi.org"] = _attempt(
        lambda: str(socket.getaddrinfo("pypi.org", 443)[0][4]))
    report["proc"] = {}  # every process it can see, and the host pids it was told
    for entry in [e for e in os.listdir("/proc") if e.isdigit()]:
        report["proc"][entry] = {
            "cmdline": _attempt(lambda e=entry: _read(f"/proc/{e}/cmdline")),
            "environ": _attempt(lambda e=entry: _read(f"/proc/{e}/environ"))}
    report["host_proc"] = {str(p): _attempt(lambda p=p: _read(f"/proc/{p}/environ"))
                           for p in targets["host_pids"]}
    print("HOSTILE-REPORT " + json.dumps(report), flush=True)
    raise RuntimeError("hostile probe finished: see HOSTILE-REPORT in the log")


def _hostile_forkbomb() -> None:
    import os
    import time

    print("HOSTILE forkbomb armed", flush=True)
    waited = time.monotonic()
    while not os.path.exists("/out/go"):  # the test says go once it saw the pids limit
        if time.monotonic() - waited > 600:
            raise RuntimeError("the fork bomb never got the go")
        time.sleep(0.05)
    print("HOSTILE forkbomb started", flush=True)
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.01)


def _hostile_memory() -> None:
    held = []
    for _ in range(512):  # stops at 8 GiB if nothing else stopped it
        held.append(bytes([1]) * (16 << 20))
        print(f"HOSTILE memory held {16 * len(held)} MiB", flush=True)
    raise RuntimeError("the memory bomb was never stopped")


def _hostile_flood() -> None:
    import os

    block, refused = b"x" * (1 << 20), 0
    for _ in range(3 * 1024):
        try:
            os.write(1, block)
        except OSError:
            refused += 1
    raise RuntimeError(f"the flood is over ({refused} writes refused)")


def load_environment(num_examples: int = -1, hostile: str | None = None,
                     targets: dict[str, Any] | None = None, **kwargs: Any) -> vf.Environment:
    if hostile == "probe":
        _hostile_probe(targets or {})
    elif hostile == "forkbomb":
        _hostile_forkbomb()
    elif hostile == "memory":
        _hostile_memory()
    elif hostile == "loop":
        while True:
            pass
    elif hostile == "flood":
        _hostile_flood()
    return _scaffolded_load_environment(num_examples, **kwargs)
'''


@dataclass
class HostileHub:
    hub: LiveHub
    proc: subprocess.Popen[bytes]
    token: str  # write token of the environment's owner
    admin_token: str  # read from the initial-admin-token file, as an operator would
    secret_key: str
    provider_key: str
    owner: str
    upstream: Upstream
    worker_pid: int
    port: int

    @property
    def data_dir(self) -> Path:
        return self.hub.data_dir

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.hub.url}/api/v1", timeout=60,
                            headers={"Authorization": f"Bearer {self.token}"})

    def start_eval(self, env_args: dict[str, Any], timeout_s: float, n: int = 1,
                   r: int = 1) -> str:
        body = {"environment": f"{self.owner}/{ENV_NAME}", "model": MODEL,
                "num_examples": n, "rollouts_per_example": r, "env_args": env_args,
                "timeout_s": timeout_s, "sampling_args": {"max_tokens": 32}}
        with self.api() as api:
            created = api.post("/evals", json=body)
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def get(self, eval_id: str) -> dict[str, Any]:
        with self.api() as api:
            found: dict[str, Any] = api.get(f"/evals/{eval_id}").json()
            return found

    def wait(self, eval_id: str, timeout: float = 900) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            ev = self.get(eval_id)
            if ev["job"] and ev["job"]["state"] in ("succeeded", "failed", "timed_out",
                                                    "cancelled"):
                return ev
            assert self.proc.poll() is None, f"the hub died:\n{self.hub.log_tails()}"
            assert time.monotonic() < deadline, f"{ev}\n{self.hub.log_tails()}"
            time.sleep(1)

    def log(self, eval_id: str) -> str:
        parts, offset = [], 0
        with self.api() as api:
            while True:
                piece = api.get(f"/evals/{eval_id}/logs",
                                params={"offset": offset, "limit": 4 << 20}).json()
                parts.append(piece["text"])
                if piece["next_offset"] <= offset or not piece["text"]:
                    return "".join(parts)
                offset = piece["next_offset"]

    def run(self, env_args: dict[str, Any], timeout_s: float) -> tuple[dict[str, Any], str]:
        eval_id = self.start_eval(env_args, timeout_s)
        ev = self.wait(eval_id)
        return ev, self.log(eval_id)

    def job_dirs(self, eval_id: str) -> list[Path]:
        job_id = self.get(eval_id)["job"]["id"]
        return sorted((self.data_dir / "work" / job_id).glob("*"))


def _worker_pid(data_dir: Path) -> int | None:
    """The embedded Celery worker's main process: its beat schedule is in our data dir."""
    schedule = str(data_dir.resolve() / "celerybeat-schedule").encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"celery" in cmdline and schedule in cmdline:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if b"celery" not in (Path(f"/proc/{parent}/cmdline").read_bytes()
                                     if Path(f"/proc/{parent}/cmdline").exists() else b""):
                    return int(entry.name)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory,
            upstream: Upstream) -> Iterator[HostileHub]:  # noqa: F811
    tmp = tmp_path_factory.mktemp("hostile")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    secret = f"hostile-test-secret-{uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | {
        # No database or storage URL: the embedded defaults, a SQLite file and a blob dir
        # in the data dir, next to the venvs and work dirs the sandbox does see parts of.
        "HUB_DATA_DIR": str(tmp / "data"), "HUB_SECRET_KEY": secret, "HUB_PUBLIC_URL": url,
        "HUB_LOCAL_MODEL_URL": "", "HUB_HEARTBEAT_INTERVAL_S": "1",
        "XDG_CONFIG_HOME": str(tmp / "config"), **CEILINGS}
    if keep := os.environ.get("ENVHUB_TEST_VENV_CACHE"):
        env["HUB_VENV_CACHE_DIR"] = keep
    log = tmp / "hub.log"
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "envhub"), "serve", "--port", str(port),
         "--no-local-model", "--no-access-log"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    hub = LiveHub(url=url, env=env, data_dir=tmp / "data", log=log)
    try:
        _wait_until(proc, hub, 120, "the API", lambda: _answers(f"{url}/api/v1/health"))
        worker_log = hub.data_dir / "logs" / "worker.log"
        _wait_until(proc, hub, 180, "the embedded worker",
                    lambda: worker_log.exists() and b" ready." in worker_log.read_bytes())
        admin_token = (hub.data_dir / "initial-admin-token").read_text().strip()
        provider_key = f"sk-hostile-provider-{uuid.uuid4().hex}"
        added = httpx.post(f"{url}/api/v1/providers", timeout=30,
                           headers={"Authorization": f"Bearer {admin_token}"},
                           json={"name": "stub", "base_url": upstream.base_url,
                                 "models": ["stub-model"], "api_key": provider_key})
        assert added.status_code == 201, added.text
        owner = "mallory"
        hub.envhub("admin", "create-user", owner)
        token = hub.envhub("admin", "create-token", owner, "--scope", "write").stdout.strip()
        src = tmp / "src"
        hub.envhub("init", ENV_NAME, "--v0", "--path", str(src))
        module = src / ENV_NAME / f"{ENV_NAME.replace('-', '_')}.py"
        module.write_text(module.read_text() + HOSTILE)
        hub.envhub("push", str(src / ENV_NAME), token=token)
        worker_pid = _worker_pid(hub.data_dir)
        assert worker_pid is not None, hub.log_tails()
        yield HostileHub(hub=hub, proc=proc, token=token, admin_token=admin_token,
                         secret_key=secret, provider_key=provider_key, owner=owner,
                         upstream=upstream, worker_pid=worker_pid, port=port)
    finally:
        stop_hub(proc, timeout=60)


def _assert_normal_eval_succeeds(h: HostileHub) -> dict[str, Any]:
    eval_id = h.start_eval({}, timeout_s=600, n=2, r=1)
    ev = h.wait(eval_id, timeout=1200)
    assert ev["status"] == "succeeded", (ev, h.log(eval_id)[-4000:], h.hub.log_tails())
    assert ev["aggregates"]["n_samples"] == 2 and ev["aggregates"]["n_errors"] == 0
    return ev


def _show(ev: dict[str, Any], log: str = "") -> None:
    """What the user sees: the job's end, and the sandbox's own account of the run."""
    job = ev["job"] or {}
    print(f"\n  -> {ev['status']} [{ev['error_code']}] {ev['error_message']!r} "
          f"(started {job.get('started_at')}, finished {job.get('finished_at')})")
    for line in log.splitlines():
        if line.startswith("[envhub-sandbox]") and "output sanitized" not in line:
            print(f"     {line[:220]}")


def test_a_normal_evaluation_succeeds_first(hostile: HostileHub) -> None:
    # Also prepares the environment's venv (once), so the hostile runs below start fast.
    ev = _assert_normal_eval_succeeds(hostile)
    log = hostile.log(ev["id"])
    _show(ev, log)
    assert "[envhub-sandbox] limits by cgroup" in log or "NOT ENFORCED" in log


def _venv_dir(h: HostileHub) -> Path:
    root = Path(os.environ.get("ENVHUB_TEST_VENV_CACHE") or h.data_dir / "venvs")
    found = sorted(root.glob("entries/*/venv"))
    assert found, f"no prepared venv under {root}"
    return max(found, key=lambda p: (p.parent / "manifest.json").stat().st_mtime)


def test_probe_reads_no_secrets_and_reaches_no_service(hostile: HostileHub) -> None:
    h, data = hostile, hostile.data_dir.resolve()
    marker = uuid.uuid4().hex
    outside_writes = {"data_dir": data / f"hostile-{marker}",
                      "blobs": data / "blobs" / f"hostile-{marker}",
                      "venv": _venv_dir(h) / f"hostile-{marker}",
                      "host_tmp": Path("/tmp") / f"hostile-{marker}",
                      "repo": Path(__file__).resolve().parents[2] / f"hostile-{marker}"}
    targets: dict[str, Any] = {
        "read": {"database_file": str(data / "hub.sqlite3"),
                 "admin_token_file": str(data / "initial-admin-token"),
                 "worker_log": str(data / "logs" / "worker.log"),
                 "hub_environ": f"/proc/{h.proc.pid}/environ",
                 "worker_environ": f"/proc/{h.worker_pid}/environ",
                 "etc_shadow": "/etc/shadow"},
        "list": {"data_dir": str(data), "storage_dir": str(data / "blobs"),
                 "postgres_data": "/var/lib/postgresql", "root_home": "/root"},
        "write": {k: str(v) for k, v in outside_writes.items()},
        "connect": {"postgres": ["127.0.0.1", 5432], "redis": ["127.0.0.1", 6379],
                    "hub_api": ["127.0.0.1", h.port],
                    "model_upstream": ["127.0.0.1", h.upstream.port],
                    "outside": ["1.1.1.1", 443]},
        "host_pids": [h.proc.pid, h.worker_pid, os.getpid()],
    }
    ev, log = h.run({"hostile": "probe", "targets": targets}, timeout_s=180)
    assert ev["status"] == "failed", ev
    assert ev["error_code"] == "env-load-failed", ev
    assert "hostile probe finished" in ev["error_message"]
    line = next((ln for ln in log.splitlines() if ln.startswith("HOSTILE-REPORT ")), None)
    assert line is not None, log[-3000:]
    report = json.loads(line.removeprefix("HOSTILE-REPORT "))
    print("\nwhat the hostile probe saw from inside the sandbox:")
    for group in ("reads", "lists", "writes", "connects"):
        for name, seen in report[group].items():
            shown = seen.get("error") or json.dumps(seen.get("value"))[:120]
            print(f"  {group[:-1]:8} {name:18} {'OK' if seen['ok'] else 'refused'}: {shown}")
    print(f"  /proc pids visible inside: {sorted(report['proc'], key=int)}; host pids "
          f"{targets['host_pids']}: {[v.get('error') for v in report['host_proc'].values()]}")
    _show(ev)

    for name, seen in report["reads"].items():
        assert not seen["ok"], (name, seen)
        assert seen["error"] == "ENOENT", (name, seen)  # not even there: never bound
    for name in ("storage_dir", "postgres_data"):
        assert report["lists"][name] == {"ok": False, "error": "ENOENT"}, name
    # The data dir exists inside only as the path down to the bound venv, if at all.
    listed = report["lists"]["data_dir"]
    assert not listed["ok"] or set(listed["value"]) <= {"venvs"}, listed
    assert not report["lists"]["root_home"]["ok"] or \
        set(report["lists"]["root_home"]["value"]) <= {".pyenv"}
    for name, seen in report["writes"].items():
        # Inside, /tmp is the sandbox's own tmpfs (the test's data dir lives under the
        # host's /tmp): a write there succeeds in private and never reaches the host.
        if seen["ok"]:
            assert outside_writes[name].is_relative_to("/tmp"), (name, seen)
        else:
            assert seen["error"] in ("EROFS", "ENOENT", "EACCES"), (name, seen)
    for path in outside_writes.values():
        assert not path.exists(), f"the sandbox wrote {path} on the host"
    for name, seen in report["connects"].items():
        assert not seen["ok"], (name, seen)
    assert report["connects"]["postgres"]["error"] == "ECONNREFUSED"  # its own empty lo
    assert report["connects"]["outside"]["error"] == "ENETUNREACH"
    # Only the sandbox's own processes are visible, and no host pid resolves.
    assert all(not seen["ok"] for seen in report["host_proc"].values())
    assert len(report["proc"]) <= 4, report["proc"]  # bwrap's init, the harness (+ forks)
    # Whatever it read or was given, none of the hub's secrets is in what it printed.
    for secret in (h.secret_key, h.admin_token, h.token, h.provider_key):
        assert secret not in log
    assert not any(k.startswith("HUB_") for k in report["environ"])
    assert report["uid"] == 65534


def _process_pids_max(pid: int) -> int | None:
    """pids.max of the cgroup `pid` is in, read on the host (v1 pids or v2 unified)."""
    own = own_cgroups(Path(f"/proc/{pid}/cgroup").read_text())
    for mount in cgroup_mounts():
        key = "pids" if mount.fstype == "cgroup" and "pids" in mount.options else \
            "" if mount.fstype == "cgroup2" else None
        if key is None or key not in own or not own[key].startswith(mount.root):
            continue
        limit = mount.mountpoint / own[key][len(mount.root.rstrip("/")):].lstrip("/") / \
            "pids.max"
        if limit.exists():
            text = limit.read_text().strip()
            return int(text) if text.isdigit() else None
    return None


def _sandbox_supervisor(job_id: str) -> int | None:
    """The `timeout` process at the top of the job's sandbox (its argv names the job)."""
    needle = f"/work/{job_id}/".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"timeout") and any(needle in a for a in argv):
                return int(entry.name)
    return None


def _sandbox_processes(worker_pid: int) -> list[int]:
    """Descendants of the worker that are not Celery itself: whatever its sandboxes
    left running (a fork bomb's orphans are re-parented inside their pid namespace, so
    they stay descendants)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = []
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor and ancestor != worker_pid:
            ancestor = parents.get(ancestor)
        if ancestor == worker_pid:
            try:
                if b"celery" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
            except OSError:
                continue
    return found


def test_fork_bomb_is_contained(hostile: HostileHub) -> None:
    caps = probe_host()
    if not caps.cgroup_pids:
        pytest.skip(f"no pids cgroup on this host ({caps.cgroup_reason}): a fork bomb "
                    "would be bounded only by the wall clock; not run")
    h = hostile
    before = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit())
    eval_id = h.start_eval({"hostile": "forkbomb"}, timeout_s=60)
    job_id = h.get(eval_id)["job"]["id"]
    # Never an unbounded fork bomb on a shared machine: see the limit in the kernel first.
    deadline = time.monotonic() + 600
    supervisor = None
    while True:
        logs = [d / "job.log" for d in h.job_dirs(eval_id)]
        text = "".join(p.read_text(errors="replace") for p in logs if p.exists())
        if "HOSTILE forkbomb armed" in text:
            supervisor = _sandbox_supervisor(job_id)
            break
        assert h.get(eval_id)["job"]["state"] in ("queued", "running"), text[-2000:]
        assert time.monotonic() < deadline, text[-2000:]
        time.sleep(0.5)
    assert supervisor is not None
    assert _process_pids_max(supervisor) == 64, "the run's pids limit is not in place"
    assert "max_pids=64" in text
    outs = [d / "run" / "out" for d in h.job_dirs(eval_id)]
    for out in outs:
        (out / "go").touch()
    ev = h.wait(eval_id)
    log = h.log(eval_id)
    _show(ev, log)
    assert "HOSTILE forkbomb started" in log
    assert ev["status"] == "timed_out", ev
    assert ev["error_code"] == "timeout", ev
    assert "process limit" in ev["error_message"], ev
    assert "pids_limit_hit=True" in log
    deadline = time.monotonic() + 15
    while _sandbox_processes(h.worker_pid) or \
            sum(1 for p in Path("/proc").iterdir() if p.name.isdigit()) > before + 40:
        assert time.monotonic() < deadline, "the fork bomb outlived its job"
        time.sleep(0.2)


def test_memory_bomb_is_killed(hostile: HostileHub) -> None:
    ev, log = hostile.run({"hostile": "memory"}, timeout_s=180)
    _show(ev, log)
    assert ev["status"] == "failed", ev
    held = [int(ln.split()[3]) for ln in log.splitlines()
            if ln.startswith("HOSTILE memory held")]
    assert held and max(held) <= 512, log[-2000:]
    if probe_host().cgroup_memory:
        assert ev["error_code"] == "out-of-memory", ev
        assert "ran out of memory" in ev["error_message"]
        assert "oom=True" in log
    else:  # RLIMIT_AS only: the allocation fails inside the environment
        assert ev["error_code"] == "env-load-failed" and "MemoryError" in ev["error_message"]


def test_infinite_loop_times_out(hostile: HostileHub) -> None:
    ev, log = hostile.run({"hostile": "loop"}, timeout_s=45)
    _show(ev, log)
    assert ev["status"] == "timed_out", ev
    assert ev["error_code"] == "timeout", ev
    assert "time limit" in ev["error_message"]
    assert "timed_out=True" in log


def test_output_flood_is_capped(hostile: HostileHub) -> None:
    eval_id = hostile.start_eval({"hostile": "flood"}, timeout_s=180)
    ev = hostile.wait(eval_id)
    assert ev["status"] == "failed", ev
    assert ev["error_code"] == "env-load-failed", ev
    assert "the flood is over" in ev["error_message"]
    assert ev["job"]["log_bytes"] <= MAX_LOG_BYTES + 200
    log = hostile.log(eval_id)
    _show(ev, log)
    assert f"log truncated at {MAX_LOG_BYTES} bytes" in log
    # The worker's own copy (64 MiB at most: the sandbox's file size cap) is gone with
    # the job's work dir.
    job_dir = hostile.data_dir / "work" / ev["job"]["id"]
    assert sum(f.stat().st_size for f in job_dir.rglob("*") if f.is_file()) == 0


def test_hub_and_worker_stay_healthy(hostile: HostileHub) -> None:
    h = hostile
    assert h.proc.poll() is None
    assert httpx.get(f"{h.hub.url}/api/v1/health", timeout=10).json() == {"status": "ok"}
    assert _alive(h.worker_pid), "the worker process died"
    assert _worker_pid(h.data_dir) == h.worker_pid
    _assert_normal_eval_succeeds(h)
    worker_log = (h.data_dir / "logs" / "worker.log").read_text(errors="replace")
    assert "WorkerLostError" not in worker_log, worker_log[-3000:]
    # Nothing left running from any sandbox, and no leaked run cgroups.
    assert _sandbox_processes(h.worker_pid) == []
    caps = probe_host()
    for parent in (caps.cgroup_v1_pids, caps.cgroup_v1_memory, caps.cgroup_v1_freezer,
                   caps.cgroup_parent):
        if parent:
            leaves = [p for p in Path(parent).glob("*run-*") if p.is_dir()]
            assert not leaves, leaves
