"""The job state machine: every allowed and every refused transition, claim, cancel,
heartbeat ownership, and tasks sent only after commit."""

from __future__ import annotations

import itertools
import uuid

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.jobs import service
from hub.jobs.dispatch import RecordingDispatcher
from hub.jobs.models import ALLOWED, TERMINAL, Job, JobState
from hub.jobs.service import InvalidTransition, set_state
from hub.kit.storage import Storage

EXPECTED = {
    ("queued", "running"), ("queued", "cancelled"), ("queued", "failed"),
    ("running", "succeeded"), ("running", "failed"), ("running", "cancelled"),
    ("running", "timed_out"), ("running", "queued"),
}
PAIRS = list(itertools.product(JobState, JobState))


def new_job(db: Session, state: JobState = JobState.QUEUED) -> Job:
    job = service.create_job(db, kind="evaluation", queue="evals", spec={}, requested_by=None,
                             max_attempts=3)
    job.state = state  # test setup only: put the job where the case starts
    db.flush()
    return job


def test_table_is_exactly_the_documented_machine() -> None:
    allowed = {(str(a), str(b)) for a, targets in ALLOWED.items() for b in targets}
    assert allowed == EXPECTED
    assert all(not ALLOWED[s] for s in TERMINAL)


@pytest.mark.parametrize(("old", "new"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_transition(db: Session, old: JobState, new: JobState) -> None:
    job = new_job(db, old)
    if (str(old), str(new)) in EXPECTED:
        set_state(job, new)
        assert job.state == new
        if new.terminal:
            assert job.finished_at is not None
        if new == JobState.RUNNING:
            assert job.attempts == 1 and job.heartbeat_at is not None
    else:
        with pytest.raises(InvalidTransition) as err:
            set_state(job, new)
        assert err.value.code == "invalid-transition" and err.value.status == 409
        assert job.state == old


def test_requeue_clears_the_attempts_worker(db: Session) -> None:
    job = new_job(db)
    set_state(job, JobState.RUNNING)
    job.worker = "host:1"
    set_state(job, JobState.QUEUED, error_code="worker-lost", error_message="gone")
    assert (job.worker, job.heartbeat_at, job.error_code) == (None, None, "worker-lost")
    set_state(job, JobState.RUNNING)
    assert job.attempts == 2 and job.error_code is None


def test_claim_is_exclusive_and_redelivery_is_a_noop(db: Session) -> None:
    job = new_job(db)
    first = service.claim(db, job.id, "w1")
    assert first is not None and first.state == JobState.RUNNING and first.worker == "w1"
    assert service.claim(db, job.id, "w2") is None
    assert service.claim(db, uuid.uuid4(), "w3") is None


def test_heartbeat_only_for_the_owning_attempt(db: Session) -> None:
    job = new_job(db)
    service.claim(db, job.id, "w")
    assert service.heartbeat(db, job.id, 1, done=2, total=6)
    db.refresh(job)
    assert (job.progress_done, job.progress_total) == (2, 6)
    assert not service.heartbeat(db, job.id, 2)  # a stale attempt
    assert service.cancel(db, job)
    assert not service.heartbeat(db, job.id, 1)  # cancelled: the worker must stop


def test_cancel_queued_and_running_but_not_ended(db: Session) -> None:
    queued, running, done = new_job(db), new_job(db), new_job(db, JobState.SUCCEEDED)
    service.claim(db, running.id, "w")
    assert service.cancel(db, queued) and queued.state == JobState.CANCELLED
    assert service.cancel(db, running) and running.state == JobState.CANCELLED
    assert not service.cancel(db, done) and done.state == JobState.SUCCEEDED


def test_task_is_sent_only_after_commit(db_sessions: sessionmaker[Session]) -> None:
    sent = RecordingDispatcher()
    with db_sessions() as db:
        job = new_job(db)
        service.enqueue(db, job, sent)
        db.flush()
        assert sent.sent == []  # not before commit
        db.rollback()
    assert sent.sent == []  # a rolled-back transaction sends nothing
    with db_sessions() as db:
        job = new_job(db)
        service.enqueue(db, job, sent)
        db.commit()
    assert sent.sent == [(job.id, "evals")]


def test_logs_are_incremental_capped_and_archived(db: Session, storage: Storage) -> None:
    job = new_job(db)
    service.claim(db, job.id, "w")
    service.append_log(db, job.id, "héllo\n", cap=100)
    service.append_log(db, job.id, "world\n", cap=100)
    first = service.read_log(db, storage, job, 0)
    assert first.text == "héllo\nworld\n" and not first.complete
    assert first.next_offset == len("héllo\nworld\n".encode())
    inside = service.read_log(db, storage, job, 2)  # inside the two-byte é
    assert inside.text == "llo\nworld\n"
    assert service.read_log(db, storage, job, first.next_offset).text == ""
    service.append_log(db, job.id, "x" * 500, cap=100)
    tail = service.read_log(db, storage, job, first.next_offset)
    assert "log truncated at 100 bytes" in tail.text
    before = job.log_bytes
    service.append_log(db, job.id, "more", cap=100)
    assert job.log_bytes == before  # nothing past the cap
    set_state(job, JobState.SUCCEEDED)
    service.archive_log(db, storage, job)
    assert job.log_key is not None
    archived = service.read_log(db, storage, job, 0, limit=1 << 20)
    assert archived.text.startswith("héllo\nworld\n") and archived.complete
