"""The reconciler: the safety net that keeps every job moving toward an end.

Run periodically (Celery beat on the `maintenance` queue; the embedded worker runs beat
in-process). Each pass, under `FOR UPDATE SKIP LOCKED` so concurrent passes never fight:

- a `running` job whose heartbeat is older than HUB_STALE_AFTER_S lost its worker
  (SIGKILL, OOM, host gone): re-queued while attempts remain, else `failed`
  (`worker-lost`). The next attempt resumes from the samples already stored;
- a `running` job still heartbeating long past its own timeout (+ grace) is wedged:
  `timed_out`; its worker sees that on the next heartbeat and kills the sandbox;
- a `queued` job whose task message is older than HUB_RESEND_AFTER_S is sent again (the
  broker lost it, or the send after commit failed). Duplicates are harmless: only one
  delivery can claim the job.

Whenever it re-queues, fails or times out a job, it also revokes the job's private-index
read tokens (`eval <job id>`, see `hub.evals.execution`): a worker that was SIGKILLed
never reached the `finally` that revokes its own. The next attempt mints a fresh one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from hub.evals.execution import revoke_eval_tokens
from hub.jobs.models import Job, JobState
from hub.jobs.service import transition
from hub.jobs.settings import JobSettings
from hub.kit.db import after_commit, utcnow
from hub.kit.settings import Settings

log = logging.getLogger(__name__)
Resend = Callable[[uuid.UUID, str], None]
BATCH = 200


def celery_resend(settings: Settings) -> Resend:
    def resend(job_id: uuid.UUID, queue: str) -> None:
        from workers.celery_app import send_job

        send_job(settings, job_id, queue)

    return resend


def _locked(db: Session, *conditions: object) -> list[Job]:
    query = select(Job).where(*conditions).order_by(Job.created_at).limit(BATCH)  # type: ignore[arg-type]
    return list(db.scalars(query.with_for_update(skip_locked=True)))


def reconcile_once(sessions: sessionmaker[Session], jobs: JobSettings, resend: Resend, *,
                   now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    counts = {"requeued": 0, "failed": 0, "timed_out": 0, "resent": 0}
    with sessions() as db:
        stale_before = now - timedelta(seconds=jobs.stale_after_s)
        for job in _locked(db, Job.state == JobState.RUNNING,
                           or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before)):
            # transition(): a compare-and-set, because SQLite ignores the row locks and the
            # worker may have ended (or the API cancelled) the job since we read it.
            if job.attempts < job.max_attempts:
                if not transition(db, job, JobState.QUEUED, error_code="worker-lost",
                                  error_message=f"Attempt {job.attempts} lost its worker"
                                  f" ({job.worker}); re-queued.", now=now, enqueued_at=now):
                    continue
                _resend_after_commit(db, resend, job)
                counts["requeued"] += 1
            else:
                if not transition(db, job, JobState.FAILED, error_code="worker-lost",
                                  error_message=f"The worker was lost on each of"
                                  f" {job.attempts} attempts.", now=now):
                    continue
                counts["failed"] += 1
            revoke_eval_tokens(db, job, now)
            log.warning("job %s: heartbeat stopped at %s -> %s", job.id, job.heartbeat_at,
                        job.state)
        for job in _locked(db, Job.state == JobState.RUNNING, Job.heartbeat_at >= stale_before):
            limit = float(job.spec.get("timeout_s") or 3600) + 2 * jobs.timeout_grace_s
            if job.started_at and (now - job.started_at).total_seconds() > limit and \
                    transition(db, job, JobState.TIMED_OUT, error_code="timeout",
                               error_message=f"Still running after {limit:g} s.", now=now):
                counts["timed_out"] += 1
                revoke_eval_tokens(db, job, now)
        resend_before = now - timedelta(seconds=jobs.resend_after_s)
        for job in _locked(db, Job.state == JobState.QUEUED,
                           or_(Job.enqueued_at.is_(None), Job.enqueued_at < resend_before)):
            job.enqueued_at = now
            _resend_after_commit(db, resend, job)
            counts["resent"] += 1
        db.commit()
    return counts


def _resend_after_commit(db: Session, resend: Resend, job: Job) -> None:
    job_id, queue = job.id, job.queue

    def send() -> None:
        try:
            resend(job_id, queue)
        except Exception:  # the next pass tries again
            log.exception("could not re-send job %s", job_id)

    after_commit(db, send)
