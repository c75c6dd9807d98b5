"""Job execution in-process (the Celery task's code path) with a REAL sandboxed runner:
success, all-failed, crash, duplicate delivery, resume without duplicates, cancel of a
running job (sandbox killed), timeout; and the reconciler's repairs."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.evals.execution import RunOutcome, RunRequest
from hub.evals.models import Evaluation
from hub.jobs import service as jobs
from hub.jobs.models import JobState
from hub.jobs.settings import JobSettings
from hub.kit.db import utcnow
from hub.kit.settings import Settings
from hub.kit.storage import Storage
from tests.jobs import sandbox_runner
from tests.jobs.helpers import World, make_world, sample, store_samples
from tests.support import procs
from workers.reconciler import reconcile_once
from workers.tasks import execute_job

FAST = JobSettings(heartbeat_interval_s=0.2, sample_flush_every=2, timeout_grace_s=0)


@pytest.fixture
def world(tmp_path: Path, committed_sessions: sessionmaker[Session], settings: Settings,
          storage: Storage) -> Iterator[World]:
    with make_world(tmp_path, committed_sessions, settings, storage) as w:
        yield w


def run(world: World, job_id: uuid.UUID, runner: Any = sandbox_runner.run,
        settings: JobSettings = FAST) -> str:
    return execute_job(job_id, sessions=world.sessions, storage=world.storage,
                       settings=world.settings, jobs=settings, runner=runner)


def sandbox_pids(job_id: uuid.UUID) -> list[int]:
    """Live processes whose command line carries the job's marker (the sandboxed script)."""
    marker = f"envhub-job-{job_id}".encode()
    return [pid for pid, cmdline in procs.cmdlines() if marker in cmdline]


def log_text(world: World, job_id: uuid.UUID) -> str:
    with world.sessions() as db:
        return jobs.read_log(db, world.storage, jobs.get_job(db, job_id), 0, 1 << 20).text


def test_success_streams_samples_and_aggregates(world: World) -> None:
    ev_id, job_id = world.start(num_examples=3, rollouts_per_example=2)
    assert run(world, job_id) == "succeeded"
    job = world.job(job_id)
    assert (job.state, job.attempts, job.progress_done, job.progress_total) == (
        JobState.SUCCEEDED, 1, 6, 6)
    assert job.log_key is not None and job.finished_at is not None
    assert sorted(world.sample_keys(ev_id)) == [(str(i), k) for i in range(3) for k in range(2)]
    with world.sessions() as db:
        ev = db.get(Evaluation, ev_id)
        assert ev is not None and ev.mean_reward == 0.5 and ev.n_errors == 0
        assert ev.completed_at is not None and ev.tokens_in == 72
    text = log_text(world, job_id)
    assert "rollout 2.1 reward=" in text and "[envhub] finished: succeeded" in text
    assert "[envhub-sandbox] exit_code=0" in text
    assert run(world, job_id) == "skipped"  # a re-delivery changes nothing
    assert world.job(job_id).attempts == 1


def test_all_rollouts_failed_is_a_failed_job(world: World) -> None:
    ev_id, job_id = world.start(num_examples=2, rollouts_per_example=1,
                                env_args={"mode": "fail"})
    assert run(world, job_id) == "failed"
    job = world.job(job_id)
    assert job.error_code == "all-rollouts-failed"
    assert "the environment always fails" in (job.error_message or "")
    assert len(world.sample_keys(ev_id)) == 2  # the failures are data, kept


def test_sandbox_crash_and_runner_crash(world: World) -> None:
    _, job_id = world.start(num_examples=3, rollouts_per_example=1, env_args={"mode": "crash"})
    assert run(world, job_id) == "failed"
    assert world.job(job_id).error_code == "sandbox-exit"

    def broken(request: RunRequest, **_: Any) -> RunOutcome:
        raise RuntimeError("runner bug")

    _, job_id = world.start()
    assert run(world, job_id, broken) == "failed"
    job = world.job(job_id)
    assert job.error_code == "runner-crashed" and "runner bug" in (job.error_message or "")


def test_resume_never_duplicates_samples(world: World) -> None:
    ev_id, job_id = world.start(num_examples=3, rollouts_per_example=2)
    # What a killed first attempt had stored: three samples.
    store_samples(world.sessions, world.storage, ev_id,
                  [sample(0, 0, 1.0), sample(0, 1, 0.0), sample(1, 0, 0.0)])
    seen: list[frozenset[tuple[str, int]]] = []

    def replaying(request: RunRequest, **kw: Any) -> RunOutcome:
        seen.append(request.skip)
        for i in range(3):  # a runner that ignores `skip` and re-sends everything
            for k in range(2):
                kw["on_sample"](sample(i, k, 1.0))
        return RunOutcome("completed")

    assert run(world, job_id, replaying) == "succeeded"
    assert seen == [frozenset({("0", 0), ("0", 1), ("1", 0)})]
    keys = world.sample_keys(ev_id)
    assert len(keys) == len(set(keys)) == 6
    with world.sessions() as db:
        ev = db.get(Evaluation, ev_id)
        assert ev is not None and ev.n_samples == 6
        # The stored samples were kept, not overwritten: example means 0.5, 0.5, 1.0.
        assert ev.mean_reward == pytest.approx(2 / 3)


def test_cancel_running_job_kills_the_sandbox(world: World) -> None:
    ev_id, job_id = world.start(num_examples=50, rollouts_per_example=1,
                                env_args={"delay": 0.2})
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(run(world, job_id)))
    thread.start()
    deadline = time.monotonic() + 60
    while len(world.sample_keys(ev_id)) < 2 or not sandbox_pids(job_id):
        assert time.monotonic() < deadline, log_text(world, job_id)
        time.sleep(0.1)
    with world.sessions() as db:
        assert jobs.cancel(db, jobs.get_job(db, job_id))
        db.commit()
    thread.join(30)
    assert result == ["cancelled"]
    assert sandbox_pids(job_id) == []
    job = world.job(job_id)
    assert job.state == JobState.CANCELLED and job.log_key is not None
    assert 2 <= len(world.sample_keys(ev_id)) < 50


def test_sandbox_timeout_is_timed_out(world: World) -> None:
    _, job_id = world.start(num_examples=1, timeout_s=10, env_args={"mode": "hang"})
    with world.sessions() as db:  # shorter than the API allows, to keep the test quick
        job = jobs.get_job(db, job_id)
        job.spec = job.spec | {"timeout_s": 2}
        db.commit()
    assert run(world, job_id) == "timed_out"
    assert world.job(job_id).error_code == "timeout"
    assert sandbox_pids(job_id) == []


class Resent:
    def __init__(self) -> None:
        self.sent: list[uuid.UUID] = []

    def __call__(self, job_id: uuid.UUID, queue: str) -> None:
        self.sent.append(job_id)


def test_reconciler_requeues_fails_times_out_and_resends(world: World) -> None:
    ids = [world.start()[1] for _ in range(5)]
    lost, exhausted, wedged, fresh, queued = ids
    now = utcnow()
    with world.sessions() as db:
        for job_id in (lost, exhausted, wedged, fresh):
            jobs.claim(db, job_id, "w")
        rows = {i: jobs.get_job(db, i) for i in ids}
        rows[lost].heartbeat_at = now - timedelta(minutes=5)
        rows[exhausted].heartbeat_at = now - timedelta(minutes=5)
        rows[exhausted].attempts = rows[exhausted].max_attempts
        rows[wedged].started_at = now - timedelta(hours=5)  # spec timeout is 3600 s
        rows[queued].enqueued_at = now - timedelta(hours=1)
        db.commit()
    resent = Resent()
    counts = reconcile_once(world.sessions, JobSettings(stale_after_s=60, timeout_grace_s=60),
                            resent, now=now)
    assert counts == {"requeued": 1, "failed": 1, "timed_out": 1, "resent": 1}
    assert sorted(resent.sent) == sorted([lost, queued])
    states = {i: world.job(i) for i in ids}
    assert states[lost].state == JobState.QUEUED and states[lost].error_code == "worker-lost"
    assert states[exhausted].state == JobState.FAILED
    assert states[wedged].state == JobState.TIMED_OUT
    assert states[fresh].state == JobState.RUNNING
    again = reconcile_once(world.sessions, JobSettings(stale_after_s=60), resent, now=now)
    assert again == {"requeued": 0, "failed": 0, "timed_out": 0, "resent": 0}


def test_private_environment_gets_a_short_lived_index_token(world: World, tmp_path: Path
                                                            ) -> None:
    from sqlalchemy import select

    from hub.accounts.models import ApiToken
    from tests.jobs.helpers import publish_env, start_eval

    env = publish_env(world.client, world.account, tmp_path, "hidden", visibility="private")
    ev = start_eval(world.client, world.account, env)
    seen: list[RunRequest] = []

    def capture(request: RunRequest, **kw: Any) -> RunOutcome:
        seen.append(request)
        kw["on_sample"](sample(0, 0, 1.0))
        return RunOutcome("completed")

    assert run(world, uuid.UUID(ev["job"]["id"]), capture) == "succeeded"
    url = seen[0].index_url
    assert url.startswith("http://__token__:") and url.endswith(f"/index/{env}/simple/")
    assert seen[0].package == "hidden" and seen[0].runtime in ("v0", "v1", "unknown")
    assert seen[0].upstream_base_url == "http://127.0.0.1:8001/v1"
    with world.sessions() as db:
        token = db.scalar(select(ApiToken).where(ApiToken.name.like("eval %")))
        assert token is not None and token.revoked_at is not None  # revoked after the run
