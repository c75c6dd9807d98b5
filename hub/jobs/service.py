"""Job use cases: create + enqueue after commit, the single state setter, claim, cancel,
heartbeats and incremental logs. Services only flush; the caller owns the transaction."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hub.jobs.models import ALLOWED, Job, JobLogChunk, JobState
from hub.kit.db import after_commit, utcnow
from hub.kit.errors import Conflict, NotFound
from hub.kit.storage import Storage

# Sends the task of a job to its queue. Called only after the creating transaction commits.
Dispatcher = Callable[[uuid.UUID, str], None]


class InvalidTransition(Conflict):
    default_code = "invalid-transition"


def set_state(job: Job, new: JobState, *, error_code: str | None = None,
              error_message: str | None = None, now: datetime | None = None) -> None:
    """The only way a job's state changes. Refuses what the transition table does not
    allow (InvalidTransition, 409) and keeps the timestamps and attempt count in step."""
    old = job.state
    if new not in ALLOWED[old]:
        raise InvalidTransition(f"A job cannot go from '{old}' to '{new}'.",
                                state=str(old), to=str(new))
    now = now or utcnow()
    job.state = new
    job.updated_at = now
    if new == JobState.RUNNING:
        job.attempts += 1
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.error_code = job.error_message = None
    elif new == JobState.QUEUED:
        job.heartbeat_at = None
        job.worker = None
    if new.terminal:
        job.finished_at = now
    if error_code is not None:
        job.error_code = error_code
        job.error_message = (error_message or "")[:4000]


def create_job(db: Session, *, kind: str, queue: str, spec: dict[str, Any],
               requested_by: uuid.UUID | None, max_attempts: int,
               progress_total: int | None = None) -> Job:
    job = Job(kind=kind, queue=queue, spec=spec, state=JobState.QUEUED, attempts=0,
              max_attempts=max_attempts, requested_by=requested_by,
              progress_total=progress_total, progress_done=0, log_bytes=0)
    db.add(job)
    db.flush()
    return job


def enqueue(db: Session, job: Job, dispatcher: Dispatcher) -> None:
    """Send the job's task once the transaction commits; a rollback sends nothing."""
    job_id, queue = job.id, job.queue
    job.enqueued_at = utcnow()
    after_commit(db, lambda: dispatcher(job_id, queue))


def get_job(db: Session, job_id: uuid.UUID, *, lock: bool = False) -> Job:
    query = select(Job).where(Job.id == job_id)
    if lock:
        query = query.with_for_update()
    job = db.scalar(query)
    if job is None:
        raise NotFound(f"No job {job_id}.", code="job-not-found")
    return job


def cancel(db: Session, job: Job) -> bool:
    """Cancel a queued or running job at once. A running job's worker sees the state on
    its next heartbeat and kills the sandbox. Returns False if it had already ended."""
    db.refresh(job, with_for_update=True)
    if job.state.terminal:
        return False
    set_state(job, JobState.CANCELLED, error_code="cancelled",
              error_message="Cancelled on request.")
    db.flush()
    return True


def claim(db: Session, job_id: uuid.UUID, worker: str) -> Job | None:
    """queued -> running for exactly one worker (the row lock serializes re-deliveries);
    None when the job is not queued any more: a duplicate delivery, which is a no-op."""
    job = db.scalar(select(Job).where(Job.id == job_id).with_for_update())
    if job is None or job.state != JobState.QUEUED:
        return None
    set_state(job, JobState.RUNNING)
    job.worker = worker[:200]
    db.flush()
    return job


def heartbeat(db: Session, job_id: uuid.UUID, attempt: int, *, done: int | None = None,
              total: int | None = None) -> bool:
    """Refresh the heartbeat of the caller's attempt. False = the job is no longer the
    caller's (cancelled, timed out, or re-queued to another worker): it must stop."""
    values: dict[str, Any] = {"heartbeat_at": utcnow(), "updated_at": utcnow()}
    if done is not None:
        values["progress_done"] = done
    if total is not None:
        values["progress_total"] = total
    result = db.execute(update(Job).where(
        Job.id == job_id, Job.state == JobState.RUNNING, Job.attempts == attempt)
        .values(**values).execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))


# -- logs ------------------------------------------------------------------------------

def _clean(text: str) -> str:
    return text.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL


def append_log(db: Session, job_id: uuid.UUID, text: str, *, cap: int) -> int:
    """Append to the live log; past `cap` bytes one marker is written and the rest is
    dropped (a hostile environment printing gigabytes must not fill the database)."""
    job = get_job(db, job_id, lock=True)
    if not text or job.log_bytes >= cap:
        return job.log_bytes
    data = _clean(text).encode()
    if job.log_bytes + len(data) > cap:
        keep = data[: max(0, cap - job.log_bytes)].decode(errors="ignore")
        data = (keep + f"\n[envhub] log truncated at {cap} bytes\n").encode()
    chunk = data.decode()
    db.add(JobLogChunk(job_id=job_id, offset=job.log_bytes, length=len(data), data=chunk))
    job.log_bytes += len(data)
    db.flush()
    return job.log_bytes


@dataclass(frozen=True)
class LogSlice:
    offset: int
    next_offset: int
    text: str
    complete: bool  # the job has ended: no more bytes will come


def read_log(db: Session, storage: Storage, job: Job, offset: int,
             limit: int = 256 * 1024) -> LogSlice:
    offset = max(0, offset)
    raw = b""
    if job.log_key and job.state.terminal:
        try:
            with storage.open(job.log_key) as fh:
                fh.seek(offset)
                raw = fh.read(limit)
        except FileNotFoundError:
            raw = b""
    else:
        chunks = db.scalars(select(JobLogChunk).where(
            JobLogChunk.job_id == job.id, JobLogChunk.offset + JobLogChunk.length > offset)
            .order_by(JobLogChunk.offset)).all()
        buf = io.BytesIO()
        for chunk in chunks:
            data = chunk.data.encode()
            buf.write(data[max(0, offset - chunk.offset):])
            if buf.tell() >= limit:
                break
        raw = buf.getvalue()[:limit]
    text, consumed = _utf8_slice(raw)
    done = job.state.terminal and offset + consumed >= job.log_bytes
    return LogSlice(offset, offset + consumed, text, done)


def _utf8_slice(raw: bytes) -> tuple[str, int]:
    """Decode without splitting a character: a leading partial sequence (the offset fell
    inside one) is skipped, a trailing one is left for the next read."""
    start = 0
    while start < min(3, len(raw)) and raw[start] & 0xC0 == 0x80:
        start += 1
    end = len(raw)
    for back in range(1, min(4, end - start) + 1):
        byte = raw[end - back]
        if byte & 0xC0 == 0x80:
            continue
        if byte >= 0xC0:
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            if back < need:
                end -= back
        break
    return raw[start:end].decode(errors="replace"), end


def archive_log(db: Session, storage: Storage, job: Job) -> None:
    """Move a finished job's live log to object storage and drop its chunks."""
    chunks = db.scalars(select(JobLogChunk).where(JobLogChunk.job_id == job.id)
                        .order_by(JobLogChunk.offset)).all()
    key = f"jobs/{job.id}/log.txt"
    body = b"".join(c.data.encode() for c in chunks)
    storage.put_stream(key, io.BytesIO(body), content_type="text/plain; charset=utf-8")
    job.log_key = key
    job.log_bytes = len(body)
    for chunk in chunks:
        db.delete(chunk)
    db.flush()


def count_by_state(db: Session) -> dict[str, int]:
    rows = db.execute(select(Job.state, func.count()).group_by(Job.state)).tuples().all()
    return {str(state): int(n) for state, n in rows}
