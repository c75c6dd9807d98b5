"""The job record every kind of background work shares (evaluations now, training next).

A job's `state` changes only through `hub.jobs.service.set_state`, which consults the one
transition table (`ALLOWED`). Everything else on the row (heartbeat, progress, log
location) is bookkeeping and may be written directly.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.kit.db import Base, CreatedMixin, IdMixin, string_enum, utcnow


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED,
                      JobState.TIMED_OUT})

# The whole state machine. RUNNING -> QUEUED is the re-queue of an attempt whose worker
# vanished (reconciler) or hit a named transient error; QUEUED -> FAILED covers a job
# that can never start (its environment or provider disappeared, attempts exhausted).
ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED,
                                 JobState.TIMED_OUT, JobState.QUEUED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.TIMED_OUT: frozenset(),
}


class JobKind(enum.StrEnum):
    EVALUATION = "evaluation"


class Queue(enum.StrEnum):
    EVALS = "evals"
    GPU = "gpu"
    MAINTENANCE = "maintenance"


class Job(IdMixin, CreatedMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_heartbeat", "state", "heartbeat_at"),)

    kind: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str] = mapped_column(String(32))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[JobState] = mapped_column(
        string_enum(JobState, "job_state"), default=JobState.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    # When the task message was last handed to the broker: a queued job whose message
    # was lost (broker restart, send failed after commit) is re-sent by the reconciler.
    enqueued_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(200))
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    # Where the finished log lives in object storage; while running it is in job_log_chunks.
    log_key: Mapped[str | None] = mapped_column(String(300))
    log_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobLogChunk(Base):
    """The live log of a job, appended by its worker; byte offsets make tails incremental."""

    __tablename__ = "job_log_chunks"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    length: Mapped[int] = mapped_column()
    data: Mapped[str] = mapped_column(Text)
