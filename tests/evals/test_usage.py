"""Per-request model usage: what the runner reports is stored per attempt by the job's
finalize step (the real execution path), summarized and paged by the API, as private as
the evaluation."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.evals import usage
from hub.evals.execution import RunOutcome, RunRequest
from hub.evals.models import Evaluation
from hub.jobs.settings import JobSettings
from hub.kit.settings import Settings
from hub.kit.storage import Storage
from tests.jobs import sandbox_runner
from tests.jobs.helpers import World, make_world
from workers.tasks import execute_job

FAST = JobSettings(heartbeat_interval_s=0.2, sample_flush_every=2, timeout_grace_s=0)


@pytest.fixture
def world(tmp_path: Path, committed_sessions: sessionmaker[Session], settings: Settings,
          storage: Storage) -> Iterator[World]:
    with make_world(tmp_path, committed_sessions, settings, storage) as w:
        yield w


def requests(n: int, *, refused: int = 0) -> tuple[usage.ModelRequestUsage, ...]:
    ok = [usage.ModelRequestUsage(request_index=i, status=200, prompt_tokens=20 + i,
                                  completion_tokens=5, latency_s=0.1 * (i + 1), stream=i % 2 == 0)
          for i in range(n)]
    bad = [usage.ModelRequestUsage(request_index=n + i, status=429, prompt_tokens=0,
                                   completion_tokens=0, latency_s=0.0,
                                   error="budget_exceeded: " + "x" * 900)
           for i in range(refused)]
    return tuple(ok + bad)


def reporting(used: tuple[usage.ModelRequestUsage, ...]) -> Callable[..., RunOutcome]:
    """The scripted sandboxed runner, reporting `used` as its gateway's record."""

    def run(request: RunRequest, *, on_sample: Callable[[dict[str, Any]], None],
            on_progress: Callable[[int, int], None], cancel: threading.Event) -> RunOutcome:
        outcome = sandbox_runner.run(request, on_sample=on_sample, on_progress=on_progress,
                                     cancel=cancel)
        return replace(outcome, usage=used)

    return run


def test_usage_is_recorded_summarized_and_paged(world: World) -> None:
    ev_id, job_id = world.start(num_examples=2, rollouts_per_example=2)
    assert execute_job(job_id, sessions=world.sessions, storage=world.storage,
                       settings=world.settings, jobs=FAST,
                       runner=reporting(requests(4, refused=1))) == "succeeded"
    r = world.client.get(f"/api/v1/evals/{ev_id}/usage", headers=world.account.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"] == {
        "requests": 5, "prompt_tokens": 20 + 21 + 22 + 23, "completion_tokens": 20,
        "refused": 1, "estimated": 0, "attempts": 1,
        # nearest rank over the 4 answered requests (0.1, 0.2, 0.3, 0.4 s)
        "latency_p50_s": pytest.approx(0.2), "latency_p95_s": pytest.approx(0.4)}
    assert [i["request_index"] for i in body["items"]] == [0, 1, 2, 3, 4]
    assert body["items"][0]["stream"] is True and body["items"][1]["stream"] is False
    assert len(body["items"][4]["error"]) == usage.ERROR_CHARS  # capped, not refused
    second = world.client.get(f"/api/v1/evals/{ev_id}/usage?page=2&per_page=2",
                              headers=world.account.headers).json()
    assert [i["request_index"] for i in second["items"]] == [2, 3]


def test_recording_an_attempt_again_replaces_only_that_attempt(world: World) -> None:
    ev_id, job_id = world.start(num_examples=1, rollouts_per_example=1)
    assert execute_job(job_id, sessions=world.sessions, storage=world.storage,
                       settings=world.settings, jobs=FAST,
                       runner=reporting(requests(1))) == "succeeded"
    with world.sessions() as db:
        usage.record(db, ev_id, 2, requests(3))
        usage.record(db, ev_id, 2, requests(2))  # a repeated finalize of attempt 2
        db.commit()
        ev = db.get(Evaluation, ev_id)
        assert ev is not None
        summary = usage.summary(db, ev)
    assert (summary.requests, summary.attempts) == (3, 2)


def test_usage_of_a_run_without_requests_is_empty(world: World) -> None:
    ev_id, job_id = world.start(num_examples=1, rollouts_per_example=1)
    assert execute_job(job_id, sessions=world.sessions, storage=world.storage,
                       settings=world.settings, jobs=FAST, runner=sandbox_runner.run
                       ) == "succeeded"
    body = world.client.get(f"/api/v1/evals/{ev_id}/usage",
                            headers=world.account.headers).json()
    assert body["items"] == [] and body["summary"]["requests"] == 0
    assert body["summary"]["latency_p50_s"] is None


def test_usage_is_as_private_as_the_evaluation(world: World) -> None:
    r = world.client.get(f"/api/v1/evals/{uuid.uuid4()}/usage")
    assert r.status_code == 404 and r.json()["code"] == "evaluation-not-found"
