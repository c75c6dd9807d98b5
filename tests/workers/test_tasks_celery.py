"""The job machinery with REAL Celery workers (subprocesses) on REAL Redis, and the real
sandboxed test runner: hosted run end to end, tasks only after commit, a worker SIGKILLed
mid-job (the reconciler re-queues, a new worker resumes without duplicate samples, or the
job fails once attempts are exhausted), and cancel of a running job."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy.orm import Session, sessionmaker

from hub.jobs import service as jobs
from hub.jobs.dispatch import celery_dispatcher
from hub.jobs.models import JobState
from hub.jobs.settings import JobSettings, get_job_settings
from hub.kit.settings import Settings
from hub.kit.storage import Storage
from tests.jobs.helpers import World, make_world
from tests.workers.test_tasks import log_text, sandbox_pids
from workers.embedded import worker_argv
from workers.reconciler import celery_resend, reconcile_once

REDIS = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[2]
Spawn = Callable[[], subprocess.Popen[bytes]]


@pytest.fixture
def prefix(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A key prefix of our own: other test runs may share this Redis."""
    value = f"envhub-test-{uuid.uuid4().hex[:8]}:"
    monkeypatch.setenv("HUB_BROKER_KEY_PREFIX", value)
    get_job_settings.cache_clear()
    yield value
    get_job_settings.cache_clear()
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(f"{value}*"):
        client.delete(key)


@pytest.fixture
def redis_settings(settings: Settings) -> Settings:
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis must run on 127.0.0.1:6379 ({exc})", pytrace=False)
    return settings.model_copy(update={"broker_url": REDIS})


@pytest.fixture
def world(tmp_path: Path, committed_sessions: sessionmaker[Session], redis_settings: Settings,
          storage: Storage, prefix: str) -> Iterator[World]:
    with make_world(tmp_path, committed_sessions, redis_settings, storage,
                    dispatcher=celery_dispatcher(redis_settings)) as w:
        yield w


@pytest.fixture
def spawn_worker(redis_settings: Settings, prefix: str, tmp_path: Path) -> Iterator[Spawn]:
    procs: list[subprocess.Popen[bytes]] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | {
        "HUB_BROKER_URL": REDIS, "HUB_BROKER_KEY_PREFIX": prefix,
        "HUB_DATABASE_URL": redis_settings.database_url,
        "HUB_STORAGE_URL": redis_settings.storage_url,
        "HUB_DATA_DIR": str(redis_settings.data_dir), "HUB_SECRET_KEY":
        redis_settings.secret_key, "HUB_HEARTBEAT_INTERVAL_S": "0.3",
        "HUB_SAMPLE_FLUSH_EVERY": "1", "HUB_EVAL_RUNNER": "tests.jobs.sandbox_runner:run",
        "PYTHONPATH": str(ROOT)}

    def spawn() -> subprocess.Popen[bytes]:
        argv = worker_argv(redis_settings, queues=["evals"], concurrency=1, pool="solo")
        log = (tmp_path / f"worker-{len(procs)}.log").open("wb")
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    yield spawn
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def kill_orphans(job_id: uuid.UUID) -> None:
    """Sandboxes our killed worker left behind (they die at their own timeout anyway)."""
    for pid in sandbox_pids(job_id):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_for(what: Callable[[], bool], timeout: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting: {why()}", pytrace=False)
        time.sleep(0.2)


def queued_messages(prefix: str, queue: str = "evals") -> int:
    return int(redis.Redis.from_url(REDIS).llen(f"{prefix}{queue}"))


def test_tasks_go_to_redis_only_after_commit(world: World, prefix: str) -> None:
    from hub.jobs.dispatch import celery_dispatcher as dispatcher_for

    send = dispatcher_for(world.settings)
    with world.sessions() as db:
        job = jobs.create_job(db, kind="evaluation", queue="evals", spec={}, requested_by=None,
                              max_attempts=1)
        jobs.enqueue(db, job, send)
        db.flush()
        db.rollback()
    assert queued_messages(prefix) == 0
    _ev_id, job_id = world.start()  # the API request commits, then sends
    assert queued_messages(prefix) == 1
    assert world.job(job_id).state == JobState.QUEUED


def test_hosted_run_through_redis_and_a_real_worker(world: World, spawn_worker: Spawn) -> None:
    ev_id, job_id = world.start(num_examples=3, rollouts_per_example=2)
    spawn_worker()
    wait_for(lambda: world.job(job_id).state.terminal, 90, lambda: log_text(world, job_id))
    job = world.job(job_id)
    assert job.state == JobState.SUCCEEDED, (job.error_code, job.error_message)
    assert len(world.sample_keys(ev_id)) == 6
    r = world.client.get(f"/api/v1/evals/{ev_id}")
    assert r.json()["status"] == "succeeded" and r.json()["aggregates"]["n_samples"] == 6
    board = world.client.get(f"/api/v1/environments/{world.env}/leaderboard").json()
    assert board["rows"][0]["model"] == "local/smollm2-135m-instruct"


def _kill_mid_job(world: World, spawn_worker: Spawn, **extra: object
                  ) -> tuple[uuid.UUID, uuid.UUID]:
    ev_id, job_id = world.start(num_examples=20, rollouts_per_example=1,
                                env_args={"delay": 0.25}, **extra)
    worker = spawn_worker()
    wait_for(lambda: len(world.sample_keys(ev_id)) >= 3, 90, lambda: log_text(world, job_id))
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    kill_orphans(job_id)
    assert world.job(job_id).state == JobState.RUNNING  # nobody knows yet
    return ev_id, job_id


def test_killed_worker_job_is_requeued_and_resumed(world: World, spawn_worker: Spawn,
                                                   prefix: str) -> None:
    ev_id, job_id = _kill_mid_job(world, spawn_worker)
    stored_before = set(world.sample_keys(ev_id))
    time.sleep(1.5)  # the heartbeat is now stale for stale_after_s=1
    counts = reconcile_once(world.sessions, JobSettings(stale_after_s=1),
                            celery_resend(world.settings))
    assert counts["requeued"] == 1
    job = world.job(job_id)
    assert (job.state, job.error_code, job.attempts) == (JobState.QUEUED, "worker-lost", 1)
    spawn_worker()
    wait_for(lambda: world.job(job_id).state.terminal, 90, lambda: log_text(world, job_id))
    job = world.job(job_id)
    assert (job.state, job.attempts) == (JobState.SUCCEEDED, 2)
    keys = world.sample_keys(ev_id)
    assert len(keys) == len(set(keys)) == 20  # resumed: nothing lost, nothing twice
    assert stored_before <= set(keys)
    text = log_text(world, job_id)
    assert "attempt 2" in text and f"resuming: {len(stored_before)}" in text


def test_killed_worker_job_fails_after_max_attempts(world: World, spawn_worker: Spawn) -> None:
    ev_id, job_id = _kill_mid_job(world, spawn_worker)
    with world.sessions() as db:
        jobs.get_job(db, job_id).max_attempts = 1
        db.commit()
    time.sleep(1.5)
    counts = reconcile_once(world.sessions, JobSettings(stale_after_s=1),
                            celery_resend(world.settings))
    assert counts["failed"] == 1
    job = world.job(job_id)
    assert (job.state, job.error_code) == (JobState.FAILED, "worker-lost")
    r = world.client.get(f"/api/v1/evals/{ev_id}").json()
    assert r["status"] == "failed" and r["error_code"] == "worker-lost"


def test_cancel_running_job_on_a_real_worker(world: World, spawn_worker: Spawn) -> None:
    ev_id, job_id = world.start(num_examples=100, rollouts_per_example=1,
                                env_args={"delay": 0.2})
    spawn_worker()
    wait_for(lambda: len(world.sample_keys(ev_id)) >= 2, 90, lambda: log_text(world, job_id))
    r = world.client.post(f"/api/v1/evals/{ev_id}/cancel", headers=world.account.headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    wait_for(lambda: world.job(job_id).log_key is not None, 30,
             lambda: log_text(world, job_id))  # the worker noticed and wrapped up
    assert sandbox_pids(job_id) == []
    assert world.job(job_id).state == JobState.CANCELLED
    assert "finished: cancelled" in log_text(world, job_id)
