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
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.hostile_support import (
    MAX_LOG_BYTES,
    HostileHub,
    alive,
    find_worker_pid,
    hostile_hub,  # noqa: F401 - the `hostile` fixture
    process_pids_max,
    sandbox_processes,
    sandbox_supervisor,
)
from tests.support import procs
from tests.workers.evals.conftest import upstream  # noqa: F401 - `hostile` uses it
from workers.sandbox import probe_host

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


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


def test_fork_bomb_is_contained(hostile: HostileHub) -> None:
    caps = probe_host()
    if not caps.cgroup_pids:
        pytest.skip(f"no pids cgroup on this host ({caps.cgroup_reason}): a fork bomb "
                    "would be bounded only by the wall clock; not run")
    h = hostile
    before = procs.count()
    eval_id = h.start_eval({"hostile": "forkbomb"}, timeout_s=60)
    job_id = h.get(eval_id)["job"]["id"]
    # Never an unbounded fork bomb on a shared machine: see the limit in the kernel first.
    deadline = time.monotonic() + 600
    supervisor = None
    while True:
        logs = [d / "job.log" for d in h.job_dirs(eval_id)]
        text = "".join(p.read_text(errors="replace") for p in logs if p.exists())
        if "HOSTILE forkbomb armed" in text:
            supervisor = sandbox_supervisor(job_id)
            break
        assert h.get(eval_id)["job"]["state"] in ("queued", "running"), text[-2000:]
        assert time.monotonic() < deadline, text[-2000:]
        time.sleep(0.5)
    assert supervisor is not None
    assert process_pids_max(supervisor) == 64, "the run's pids limit is not in place"
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
    while sandbox_processes(h.worker_pid) or procs.count() > before + 40:
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
    assert alive(h.worker_pid), "the worker process died"
    assert find_worker_pid(h.data_dir) == h.worker_pid
    _assert_normal_eval_succeeds(h)
    worker_log = (h.data_dir / "logs" / "worker.log").read_text(errors="replace")
    assert "WorkerLostError" not in worker_log, worker_log[-3000:]
    # Nothing left running from any sandbox, and no leaked run cgroups.
    assert sandbox_processes(h.worker_pid) == []
    caps = probe_host()
    parents = [Path(p) for p in (caps.cgroup_v1_pids, caps.cgroup_v1_memory,
                                 caps.cgroup_v1_freezer, caps.cgroup_parent) if p]
    # The hub wrote its admin token once, at start: older leaves are not this hub's.
    since = (h.data_dir / "initial-admin-token").stat().st_mtime
    deadline = time.monotonic() + 20
    while (leaked := _leaked_leaves(parents, h.worker_pid, since)) and \
            time.monotonic() < deadline:
        time.sleep(0.5)
    assert not leaked, leaked


def _leaked_leaves(parents: list[Path], worker_pid: int, since: float) -> list[Path]:
    """Run cgroups this hub's worker left behind (empty, made since it started) or still
    fills. The v1 hierarchies are machine-wide: leaves of other test runs, and of workers
    SIGKILLed by other tests (their successors' probe removes them), are not ours."""
    ours = {worker_pid, *procs.descendants(worker_pid)}
    leaked = []
    for parent in parents:
        for leaf in (p for p in parent.glob("*run-*") if p.is_dir()):
            try:
                members = {int(x) for x in (leaf / "cgroup.procs").read_text().split()}
                made = leaf.stat().st_mtime
            except OSError:
                continue  # removed while we looked
            if members & ours or (not members and made >= since):
                leaked.append(leaf)
    return leaked
