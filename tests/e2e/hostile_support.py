"""Setup for tests/e2e/test_hostile_envs.py (see its docstring for what it proves).

The `hostile` fixture starts a live `envhub serve` on its single-machine defaults with the
operator ceilings (HUB_SANDBOX_*), registers the stub model server (the `upstream`
fixture) as provider `stub`, and publishes the v0 environment `envhub init --v0`
scaffolds with HOSTILE appended, so `env_args={"hostile": ...}` turns it hostile.
`HostileHub` drives evaluations through the hub's API; the rest inspects, on the host,
the worker and what its sandboxes left running.
"""

from __future__ import annotations

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

from tests.support import procs
from tests.support.live import LiveHub, _answers, _wait_until, free_port, stop_hub
from tests.workers.evals.conftest import Upstream, upstream  # noqa: F401 - fixture
from workers.sandbox.cgroups import cgroup_mounts, own_cgroups

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


def find_worker_pid(data_dir: Path) -> int | None:
    """The embedded Celery worker's main process: its beat schedule is in our data dir."""
    schedule = str(data_dir.resolve() / "celerybeat-schedule").encode()
    for pid, cmdline in procs.cmdlines():
        if b"celery" in cmdline and schedule in cmdline:
            parent = procs.parent_of(pid)
            if parent is None:  # gone since its command line was read
                continue
            if b"celery" not in (procs.cmdline(parent) or b""):
                return pid
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# Named `hostile` for the tests; the function has another name so a test module can import
# it without its `hostile` parameters shadowing the import.
@pytest.fixture(scope="module", name="hostile")
def hostile_hub(tmp_path_factory: pytest.TempPathFactory,
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
        worker_pid = find_worker_pid(hub.data_dir)
        assert worker_pid is not None, hub.log_tails()
        yield HostileHub(hub=hub, proc=proc, token=token, admin_token=admin_token,
                         secret_key=secret, provider_key=provider_key, owner=owner,
                         upstream=upstream, worker_pid=worker_pid, port=port)
    finally:
        stop_hub(proc, timeout=60)


def process_pids_max(pid: int) -> int | None:
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


def sandbox_supervisor(job_id: str) -> int | None:
    """The `timeout` process at the top of the job's sandbox (its argv names the job)."""
    needle = f"/work/{job_id}/".encode()
    for pid, cmdline in procs.cmdlines():
        argv = cmdline.split(b"\0")
        if argv and argv[0].endswith(b"timeout") and any(needle in a for a in argv):
            return pid
    return None


def sandbox_processes(worker_pid: int) -> list[int]:
    """Descendants of the worker that are not Celery itself: whatever its sandboxes
    left running (a fork bomb's orphans are re-parented inside their pid namespace, so
    they stay descendants)."""
    parents = procs.parents()
    found = []
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor and ancestor != worker_pid:
            ancestor = parents.get(ancestor)
        if ancestor == worker_pid:
            cmdline = procs.cmdline(pid)
            if cmdline is not None and b"celery" not in cmdline:
                found.append(pid)
    return found
