"""Job use cases: create + enqueue after commit, the single state setter (in memory, or as
a compare-and-set UPDATE where processes race), claim, cancel, heartbeats and incremental
logs. Services only flush; the caller owns the transaction."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hub.jobs.models import ALLOWED, Job, JobLogChunk, JobState
from hub.kit.db import after_commit, utcnow
from hub.kit.errors import Conflict, NotFound
from hub.kit.storage import Storage

# Sends the task of a job to its queue. Called only after the creating transaction commits.
Dispatcher = Callable[[uuid.UUID, str], None]


class InvalidTransition(Conflict):
    default_code = "invalid-transition"


def _changes(job: Job, new: JobState, *, error_code: str | None, error_message: str | None,
             now: datetime | None) -> dict[str, Any]:
    """What moving `job` to `new` writes: the transition table's verdict (InvalidTransition,
    409, for anything it does not allow) and the bookkeeping that goes with each target.
    Both `set_state` and `transition` apply exactly this, so it is the one definition."""
    old = job.state
    if new not in ALLOWED[old]:
        raise InvalidTransition(f"A job cannot go from '{old}' to '{new}'.",
                                state=str(old), to=str(new))
    now = now or utcnow()
    values: dict[str, Any] = {"state": new, "updated_at": now}
    if new == JobState.RUNNING:
        values |= {"attempts": job.attempts + 1, "started_at": job.started_at or now,
                   "heartbeat_at": now, "error_code": None, "error_message": None}
    elif new == JobState.QUEUED:
        values |= {"heartbeat_at": None, "worker": None}
    if new.terminal:
        values["finished_at"] = now
    if error_code is not None:
        values |= {"error_code": error_code, "error_message": (error_message or "")[:4000]}
    return values


def set_state(job: Job, new: JobState, *, error_code: str | None = None,
              error_message: str | None = None, now: datetime | None = None) -> None:
    """Change a job's state in memory (written at the next flush). Refuses what the
    transition table does not allow (InvalidTransition, 409) and keeps the timestamps and
    attempt count in step. Where another process may move the same job meanwhile (claim,
    cancel, the end of an attempt, the reconciler), use `transition`."""
    for key, value in _changes(job, new, error_code=error_code, error_message=error_message,
                               now=now).items():
        setattr(job, key, value)


def transition(db: Session, job: Job, new: JobState, *, error_code: str | None = None,
               error_message: str | None = None, now: datetime | None = None,
               **bookkeeping: Any) -> bool:
    """`set_state` as ONE conditional UPDATE (compare-and-set): it applies only while the
    row is still in the state and attempt `job` was read in (`state = job.state AND
    attempts = job.attempts`); `bookkeeping` columns (worker, enqueued_at, ...) ride along.
    False: another process moved the job first (a second delivery claimed it, the API
    cancelled it, the reconciler re-queued it); nothing was written and `job` now holds
    the row as it is.

    Why not SELECT ... FOR UPDATE: SQLite ignores it, and on the embedded default the
    API, the worker processes and beat all write the same database file; a read followed
    by an unconditional write let two deliveries both claim one job there. A conditional
    UPDATE is atomic on SQLite (one writer at a time, the WHERE sees the latest commit)
    and on PostgreSQL (a blocked UPDATE re-checks its WHERE on the row it waited for)."""
    values = _changes(job, new, error_code=error_code, error_message=error_message,
                      now=now) | bookkeeping
    result = db.execute(
        update(Job).where(Job.id == job.id, Job.state == job.state,
                          Job.attempts == job.attempts)
        .values(**values).execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        db.refresh(job)
        return False
    for key, value in values.items():
        set_committed_value(job, key, value)  # what the UPDATE wrote; nothing left to flush
    return True


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
    its next heartbeat and kills the sandbox. Returns False if it had already ended
    (also when it ended while we were cancelling it: its own end stands)."""
    db.refresh(job)
    while not job.state.terminal:
        if transition(db, job, JobState.CANCELLED, error_code="cancelled",
                      error_message="Cancelled on request."):
            return True
        # Moved under us (claimed, re-queued, ended): `job` is fresh; decide again.
    return False


def claim(db: Session, job_id: uuid.UUID, worker: str) -> Job | None:
    """queued -> running for exactly one worker: the conditional UPDATE of `transition`
    lets one delivery through; None for every other one (a duplicate delivery, or a job
    that is not queued any more), which is then a no-op."""
    job = db.get(Job, job_id, populate_existing=True)
    if job is None or job.state != JobState.QUEUED:
        return None
    return job if transition(db, job, JobState.RUNNING, worker=worker[:200]) else None


def end_attempt(db: Session, job_id: uuid.UUID, attempt: int, new: JobState, *,
                error_code: str | None = None, error_message: str | None = None,
                progress_done: int | None = None) -> Job:
    """End (or give back) the caller's attempt: `running` with `attempts == attempt` ->
    `new`, atomically. If the job is no longer that attempt's (cancelled, timed out or
    re-queued meanwhile) nothing is written: that state stands. Returns the job as it is."""
    job = db.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFound(f"No job {job_id}.", code="job-not-found")
    if job.state == JobState.RUNNING and job.attempts == attempt:
        extra: dict[str, Any] = {} if progress_done is None else {"progress_done": progress_done}
        transition(db, job, new, error_code=error_code, error_message=error_message, **extra)
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
    dropped (a hostile environment printing gigabytes must not fill the database).

    The bytes are reserved with a compare-and-set on `log_bytes` before the chunk is
    written: the row lock alone does nothing on SQLite, and two writers of one job's log
    exist (an attempt that lost its job still ships its last lines while the next one
    starts), which must not both take the same offset."""
    while True:  # a lost round means someone else appended: read the new end and retry
        job = db.scalar(select(Job).where(Job.id == job_id).with_for_update()
                        .execution_options(populate_existing=True))
        if job is None:
            raise NotFound(f"No job {job_id}.", code="job-not-found")
        start = job.log_bytes
        if not text or start >= cap:
            return start
        data = _clean(text).encode()
        if start + len(data) > cap:
            keep = data[: max(0, cap - start)].decode(errors="ignore")
            data = (keep + f"\n[envhub] log truncated at {cap} bytes\n").encode()
        reserved = db.execute(
            update(Job).where(Job.id == job_id, Job.log_bytes == start)
            .values(log_bytes=start + len(data)).execution_options(synchronize_session=False))
        if getattr(reserved, "rowcount", 0) == 1:
            set_committed_value(job, "log_bytes", start + len(data))
            db.add(JobLogChunk(job_id=job_id, offset=start, length=len(data),
                               data=data.decode()))
            db.flush()
            return start + len(data)


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
