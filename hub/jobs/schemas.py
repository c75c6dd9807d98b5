"""The job as the API shows it (embedded in evaluations, and at /jobs/{id})."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from hub.jobs.models import Job, JobState


class JobOut(BaseModel):
    id: uuid.UUID
    kind: str
    queue: str
    state: JobState
    attempts: int
    max_attempts: int
    progress_done: int
    progress_total: int | None
    error_code: str | None
    error_message: str | None
    heartbeat_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    log_bytes: int

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(id=job.id, kind=job.kind, queue=job.queue, state=job.state,
                   attempts=job.attempts, max_attempts=job.max_attempts,
                   progress_done=job.progress_done, progress_total=job.progress_total,
                   error_code=job.error_code, error_message=job.error_message,
                   heartbeat_at=job.heartbeat_at, created_at=job.created_at,
                   started_at=job.started_at, finished_at=job.finished_at,
                   log_bytes=job.log_bytes)
