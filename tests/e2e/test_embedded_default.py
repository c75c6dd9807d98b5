"""The `make run` default, end to end: ONE `envhub serve` with no HUB_* settings but its
data dir, so SQLite, local-disk storage, the embedded (filesystem) broker, the embedded
Celery worker with beat, and the built-in SmolLM2 model, all children of `serve`.

1. The README's first steps, literally: sign in with the command the banner prints (the
   first admin's token file), `envhub init my-env` + `envhub push`, `envhub eval run
   admin/my-env --model local/smollm2-135m-instruct -n 2 -r 2 --follow`; success, the
   samples and the leaderboard row, all of it stored in the data dir's SQLite file.
2. SQLite under the concurrency the default really has (the API's threads, worker
   processes and beat writing one file): hammered for a while, the API never answers
   5xx ("database is locked"), no worker write fails, and no state change is lost.

The model is weak (rewards are often 0): assertions are about structure and consistency,
never the score. The first run prepares the environment's venv (one to three minutes,
shared with tests/e2e/test_redis_worker.py; `ENVHUB_TEST_VENV_CACHE=<dir>` keeps it).
"""

from __future__ import annotations

import multiprocessing
import random
import re
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from hub.jobs import service
from hub.jobs.models import Job, JobLogChunk, JobState
from hub.jobs.settings import JobSettings
from hub.kit.db import make_engine
from tests.support.live import LiveHub, stop_hub
from tests.support.live_worker import (
    ENVHUB,
    LOCAL_MODEL,
    clean_env,
    run_cli,
    serve_as_make_run,
)
from tests.support.packages import build
from workers.reconciler import reconcile_once

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
# Short answers keep 4 rollouts on a busy CPU to about a minute.
SAMPLING = '{"max_tokens": 48, "temperature": 0.7}'
STARTED = re.compile(r"Started evaluation ([0-9a-f-]{36})")


def sqlite_rows(hub: LiveHub, query: str, *args: object) -> list[tuple[Any, ...]]:
    """Read the data dir's SQLite file directly: proof of where the state lives."""
    conn = sqlite3.connect(f"file:{hub.data_dir / 'hub.sqlite3'}?mode=ro", uri=True)
    try:
        return list(conn.execute(query, args))
    finally:
        conn.close()


def test_make_run_default_readme_flow(tmp_path: Path, shared_venv_cache: Path) -> None:
    started = time.monotonic()
    proc, hub = serve_as_make_run(tmp_path, venv_cache=shared_venv_cache)
    ready_s = time.monotonic() - started
    try:
        banner = hub.log.read_text()
        data = hub.data_dir.resolve()
        assert f"database: sqlite:///{data / 'hub.sqlite3'}" in banner, banner
        assert f"storage:  file://{data / 'blobs'}" in banner, banner
        assert "worker: broker embedded (filesystem)" in banner, banner
        assert "first admin: user 'admin'" in banner, banner

        # Sign in exactly as the banner (and the README) says: a shell redirect of the
        # token file into `envhub login`; from here on the CLI uses what login saved.
        login = re.search(r"sign in the CLI with: (envhub login .+)$", banner, re.M)
        assert login, banner
        env = clean_env(tmp_path)
        env["PATH"] = f"{ENVHUB.parent}:{env.get('PATH', '')}"
        signed = subprocess.run(["bash", "-c", login.group(1)], env=env, capture_output=True,
                                text=True, timeout=120)
        assert signed.returncode == 0, signed.stdout + signed.stderr
        assert hub.url in login.group(1)
        assert "admin" in run_cli(env, "whoami").stdout

        src = tmp_path / "src"
        src.mkdir()
        run_cli(env, "init", "my-env", cwd=src)
        run_cli(env, "push", cwd=src / "my-env")

        eval_started = time.monotonic()
        run = run_cli(env, "eval", "run", "admin/my-env", "--model", LOCAL_MODEL, "-n", "2",
                      "-r", "2", "--sampling-args", SAMPLING, "--follow", check=False,
                      timeout=1500)
        eval_s = time.monotonic() - eval_started
        found = STARTED.search(run.stderr)
        assert found, f"no evaluation id:\n{run.stdout}\n{run.stderr}\n{hub.log_tails()}"
        eval_id = found.group(1)
        assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n{hub.log_tails()}"
        assert "succeeded" in run.stdout

        token = (hub.data_dir / "initial-admin-token").read_text().strip()
        with httpx.Client(base_url=f"{hub.url}/api/v1", timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as api:
            ev = api.get(f"/evals/{eval_id}").json()
            assert ev["status"] == "succeeded", ev
            assert (ev["environment"], ev["model"], ev["verified"]) == \
                ("admin/my-env", LOCAL_MODEL, True)
            assert ev["progress_total"] == ev["progress_done"] == 4
            agg = ev["aggregates"]
            assert (agg["n_examples"], agg["rollouts_per_example"], agg["n_samples"]) == \
                (2, 2, 4)
            assert agg["n_errors"] < 4 and agg["tokens_out"] > 0
            assert ev["job"]["state"] == "succeeded" and ev["job"]["attempts"] == 1

            page = api.get(f"/evals/{eval_id}/samples", params={"per_page": 50}).json()
            assert page["total"] == 4 and len(page["items"]) == 4
            keys = {(s["example_id"], s["rollout_index"]) for s in page["items"]}
            assert len(keys) == 4 and {r for _, r in keys} == {0, 1}
            for s in page["items"]:
                assert s["prompt"], s
                assert s["completion"] or s["error"], s
                if s["error"] is None:
                    assert s["reward"] is not None and 0.0 <= s["reward"] <= 1.0, s

            board = api.get("/environments/admin/my-env/leaderboard").json()
            rows = [r for r in board["rows"] if r["model"] == LOCAL_MODEL]
            assert len(rows) == 1, board
            row = rows[0]
            assert row["evaluation_id"] == eval_id and row["verified"] is True
            assert (row["n_examples"], row["rollouts_per_example"]) == (2, 2)
            assert row["ci_low"] <= row["mean_reward"] <= row["ci_high"]
        printed = run_cli(env, "leaderboard", "admin/my-env", "--json").stdout
        assert eval_id in printed

        # Everything above lives in the data dir: SQLite rows, blobs, the broker's files.
        job_rows = sqlite_rows(hub, "SELECT state, attempts FROM jobs")
        assert job_rows == [("succeeded", 1)]
        assert sqlite_rows(hub, "SELECT count(*) FROM eval_samples") == [(4,)]
        assert any((hub.data_dir / "blobs").rglob("*")), "no blob under the data dir"
        assert (hub.data_dir / "broker" / "queue").is_dir()
        print(f"\nmake-run default: ready in {ready_s:.0f} s (model loaded), "
              f"`envhub eval run -n 2 -r 2 --follow` {eval_s:.0f} s")
    finally:
        stop_hub(proc, timeout=60)


# -- SQLite under concurrency ----------------------------------------------------------

STRESS_S = 12.0
CLIENTS = 4
WORKERS = 3


def _publish(api: httpx.Client, owner: str, built: Any) -> None:
    r = api.post(f"/environments/{owner}/{built.name}/uploads", json=built.register_body())
    assert r.status_code in (200, 201), r.text
    paths = {"wheel": built.wheel, "source": built.source}
    for f in r.json()["files"]:
        put = httpx.put(f["upload_url"], content=paths[f["kind"]].read_bytes(),
                        headers={"Content-Type": "application/octet-stream"})
        assert put.status_code in (200, 204), put.text
    done = api.post(f"/uploads/{r.json()['id']}/finalize")
    assert done.status_code in (200, 201), done.text


def _fake_worker(url: str, stop: Any, results: Any, seed: int) -> None:
    """A worker process's writes, without a sandbox: claim, ship log lines, heartbeat,
    end the attempt; through the same service functions as `hub.jobs.runtime`. It keeps
    shipping log lines after losing the job, as a real attempt's final ship does."""
    engine = make_engine(url)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    rng = random.Random(seed)
    ended: list[tuple[str, int]] = []
    errors: list[str] = []
    while not stop.is_set():
        try:
            with sessions() as db:
                queued = list(db.scalars(select(Job.id).where(Job.state == JobState.QUEUED)
                                         .limit(8)))
            if not queued:
                time.sleep(0.05)
                continue
            job_id = rng.choice(queued)
            with sessions() as db:
                job = service.claim(db, job_id, f"stress-{seed}")
                attempt = job.attempts if job else 0
                db.commit()
            if job is None:
                continue
            for step in range(3):
                with sessions() as db:
                    service.append_log(db, job_id, f"[stress-{seed}] attempt {attempt} step"
                                       f" {step}\n", cap=1 << 20)
                    service.heartbeat(db, job_id, attempt, done=step, total=3)
                    db.commit()
                time.sleep(rng.uniform(0, 0.05))
            with sessions() as db:
                final = service.end_attempt(db, job_id, attempt, JobState.SUCCEEDED)
                if final.state == JobState.SUCCEEDED and final.attempts == attempt:
                    ended.append((str(job_id), attempt))
                db.commit()
        except Exception as exc:  # "database is locked", a duplicate offset, ...
            errors.append(f"{type(exc).__name__}: {exc}")
    engine.dispose()
    results.put(("worker", ended, errors))


def _fake_beat(url: str, stop: Any, results: Any) -> None:
    """The reconciler, impatient: every job that pauses for 0.3 s is 'lost' and re-queued
    (or failed), so its worker loses it while still writing."""
    engine = make_engine(url)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    settings = JobSettings(stale_after_s=0.3, resend_after_s=0.5)
    errors: list[str] = []
    counts: Counter[str] = Counter()
    while not stop.is_set():
        try:
            counts.update(reconcile_once(sessions, settings, lambda _job, _queue: None))
            counts["passes"] += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.1)
    engine.dispose()
    results.put(("beat", sorted(counts.items()), errors))


def test_sqlite_default_under_concurrent_api_workers_and_beat(tmp_path: Path) -> None:
    proc, hub = serve_as_make_run(tmp_path, flags=["--no-worker", "--no-local-model"])
    db_url = f"sqlite:///{(hub.data_dir / 'hub.sqlite3').resolve()}"
    token = (hub.data_dir / "initial-admin-token").read_text().strip()
    procs: list[Any] = []
    try:
        with httpx.Client(base_url=f"{hub.url}/api/v1", timeout=120,
                          headers={"Authorization": f"Bearer {token}"}) as api:
            _publish(api, "admin", build(tmp_path / "pkg", "stress-env"))

        # fork: the workers start at once and share nothing open (no thread runs yet).
        ctx = multiprocessing.get_context("fork")
        stop, results = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_fake_worker, args=(db_url, stop, results, seed))
                 for seed in range(WORKERS)]
        procs.append(ctx.Process(target=_fake_beat, args=(db_url, stop, results)))
        for p in procs:
            p.start()

        statuses: Counter[int] = Counter()
        failures: list[str] = []
        cancelled: list[str] = []  # evaluations whose cancel answered "cancelled"
        lock = threading.Lock()
        deadline = time.monotonic() + STRESS_S

        def client(n: int) -> None:
            body = {"environment": "admin/stress-env", "model": LOCAL_MODEL,
                    "num_examples": 1, "rollouts_per_example": 1}
            with httpx.Client(base_url=f"{hub.url}/api/v1", timeout=120,
                              headers={"Authorization": f"Bearer {token}"}) as api:
                i = 0
                while time.monotonic() < deadline:
                    i += 1
                    calls = [("POST /evals", api.post("/evals", json=body))]
                    created = calls[0][1]
                    if created.status_code == 201:
                        eval_id = created.json()["id"]
                        calls.append(("GET /evals/{id}", api.get(f"/evals/{eval_id}")))
                        if (i + n) % 2 == 0:
                            r = api.post(f"/evals/{eval_id}/cancel")
                            calls.append(("POST cancel", r))
                            if r.status_code == 200 and r.json()["status"] == "cancelled":
                                with lock:
                                    cancelled.append(eval_id)
                    calls.append(("GET /evals", api.get("/evals", params={"per_page": 5})))
                    with lock:
                        for what, r in calls:
                            statuses[r.status_code] += 1
                            if r.status_code not in (200, 201):
                                failures.append(f"{what}: {r.status_code} {r.text[:300]}")

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(STRESS_S + 180)
        stop.set()
        outcomes = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
        stop_hub(proc, timeout=30)

    assert failures == [], f"{statuses}\n" + "\n".join(failures[:20])
    errors = [e for _, _, errs in outcomes for e in errs]
    assert errors == [], "\n".join(errors[:20])
    served = sum(statuses.values())
    assert served > 20, statuses  # it really ran concurrently for a while
    log = hub.log.read_text(errors="replace")
    assert "database is locked" not in log and "Traceback" not in log, log[-5000:]

    # No state change was lost or overwritten.
    engine = make_engine(db_url)
    with sessionmaker(bind=engine)() as db:
        jobs = {str(j.id): j for j in db.scalars(select(Job))}
        by_eval = {str(j.spec["evaluation_id"]): j for j in jobs.values()}
        for eval_id in cancelled:
            job = by_eval[eval_id]
            assert job.state == JobState.CANCELLED, (eval_id, job.state, job.error_code)
        ended = [item for kind, items, _ in outcomes if kind == "worker" for item in items]
        assert ended, "the workers ended no job"
        for job_id, attempt in ended:
            job = jobs[job_id]
            assert (job.state, job.attempts) == (JobState.SUCCEEDED, attempt), job_id
        for job in jobs.values():
            assert job.attempts <= job.max_attempts
            chunks = list(db.scalars(select(JobLogChunk).where(JobLogChunk.job_id == job.id)
                                     .order_by(JobLogChunk.offset)))
            offset = 0
            for chunk in chunks:  # contiguous: no offset taken twice, none skipped
                assert chunk.offset == offset, (job.id, [c.offset for c in chunks])
                offset += chunk.length
            assert offset == job.log_bytes
    engine.dispose()
    states = Counter(str(j.state) for j in jobs.values())
    beat = next(dict(items) for kind, items, _ in outcomes if kind == "beat")
    print(f"\nSQLite stress: {served} API calls {dict(statuses)}, jobs {dict(states)}, "
          f"{len(ended)} ended by workers, {len(cancelled)} cancelled through the API, "
          f"reconciler {beat}")
