"""Job state changes under real concurrency, on SQLite (the embedded default, where the
API, the worker processes and beat write one database file and `FOR UPDATE` is ignored)
and on PostgreSQL: every contested change is a compare-and-set (`service.transition`).

- two deliveries of one job: exactly one claims it, even when the second read the job
  as queued before the first committed (on SQLite both used to claim it: attempts 1 for
  both, so both heartbeats matched and two sandboxes ran the same evaluation);
- a cancel racing the end of an attempt never overwrites it, nor the other way round;
- two writers of one job's live log (an attempt that lost its job ships its last lines
  while the next attempt ships its first) never take the same offset;
- several processes racing for the same jobs: each job claimed once, no "database is
  locked".
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from hub.jobs import service
from hub.jobs.models import Job, JobState
from hub.kit.db import make_engine

T = TypeVar("T")
U = TypeVar("U")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_url")
    else:
        request.getfixturevalue("committed_sessions")  # empties the tables afterwards
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def engines(db_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines, as two processes would have: separate connections, separate pools."""
    a, b = make_engine(db_url), make_engine(db_url)
    yield a, b
    a.dispose()
    b.dispose()


def new_job(engine: Engine, state: JobState = JobState.QUEUED) -> uuid.UUID:
    with sessionmaker(bind=engine)() as db:
        job = service.create_job(db, kind="evaluation", queue="evals", spec={},
                                 requested_by=None, max_attempts=3)
        if state != JobState.QUEUED:
            service.set_state(job, JobState.RUNNING)
        db.commit()
        return job.id


def read(engine: Engine, job_id: uuid.UUID) -> Job:
    with sessionmaker(bind=engine, expire_on_commit=False)() as db:
        job = db.get(Job, job_id)
        assert job is not None
        return job


def interleave(engines: tuple[Engine, Engine], first: Callable[[Session], T],
               second: Callable[[Session], U]) -> tuple[T, U]:
    """The worst interleaving, made deterministic: `first` runs and has written (not yet
    committed); `second` runs in another connection, reads the job as it was, and reaches
    its first write, which waits for `first`'s lock; then `first` commits."""
    engine_a, engine_b = engines
    reached = threading.Event()

    def spot(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE")):
            reached.set()

    event.listen(engine_b, "before_cursor_execute", spot)
    out: dict[str, Any] = {}

    def run_second() -> None:
        try:
            with sessionmaker(bind=engine_b, expire_on_commit=False)() as db:
                out["second"] = second(db)
                db.commit()
        except BaseException as exc:  # reported by the main thread
            out["error"] = exc

    try:
        with sessionmaker(bind=engine_a, expire_on_commit=False)() as db:
            result = first(db)
            thread = threading.Thread(target=run_second)
            thread.start()
            # `second` reached its write (or finished, or blocks on a row lock before it,
            # as a SELECT ... FOR UPDATE would): let it wait on our lock a moment.
            deadline = time.monotonic() + 2
            while not reached.is_set() and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)
            db.commit()
        thread.join(60)
        assert not thread.is_alive(), "the second writer never finished"
    finally:
        event.remove(engine_b, "before_cursor_execute", spot)
    if "error" in out:
        raise out["error"]
    return result, out["second"]


def test_a_second_delivery_that_read_the_job_as_queued_does_not_claim_it(
        engines: tuple[Engine, Engine]) -> None:
    job_id = new_job(engines[0])
    a, b = interleave(engines, lambda db: service.claim(db, job_id, "worker-a"),
                      lambda db: service.claim(db, job_id, "worker-b"))
    assert a is not None and b is None
    job = read(engines[0], job_id)
    assert (job.state, job.attempts, job.worker) == (JobState.RUNNING, 1, "worker-a")


def canceller(job_id: uuid.UUID) -> Callable[[Session], bool]:
    """One side of a race: cancel the job as the API does."""

    def cancel(db: Session) -> bool:
        job = db.get(Job, job_id)
        assert job is not None
        return service.cancel(db, job)

    return cancel


def test_a_cancel_racing_the_end_of_an_attempt_leaves_it_ended(
        engines: tuple[Engine, Engine]) -> None:
    job_id = new_job(engines[0], JobState.RUNNING)

    cancel = canceller(job_id)

    ended, cancelled = interleave(
        engines, lambda db: service.end_attempt(db, job_id, 1, JobState.SUCCEEDED).state,
        cancel)
    assert (ended, cancelled) == (JobState.SUCCEEDED, False)
    assert read(engines[0], job_id).state == JobState.SUCCEEDED


def test_the_end_of_an_attempt_racing_a_cancel_leaves_it_cancelled(
        engines: tuple[Engine, Engine]) -> None:
    job_id = new_job(engines[0], JobState.RUNNING)

    cancel = canceller(job_id)

    cancelled, ended = interleave(
        engines, cancel, lambda db: service.end_attempt(db, job_id, 1, JobState.QUEUED).state)
    assert (cancelled, ended) == (True, JobState.CANCELLED)
    job = read(engines[0], job_id)
    assert (job.state, job.error_code) == (JobState.CANCELLED, "cancelled")


def test_a_cancel_racing_a_claim_cancels_the_running_job(
        engines: tuple[Engine, Engine]) -> None:
    job_id = new_job(engines[0])

    cancel = canceller(job_id)

    claimed, cancelled = interleave(engines, lambda db: service.claim(db, job_id, "w"),
                                    cancel)
    assert claimed is not None and cancelled is True
    job = read(engines[0], job_id)
    # The claim won the row first; the cancel re-read it and cancelled the running job,
    # whose heartbeat (attempt 1) now fails: the worker stops.
    assert (job.state, job.attempts) == (JobState.CANCELLED, 1)
    with sessionmaker(bind=engines[0])() as db:
        assert not service.heartbeat(db, job_id, 1)


def test_two_writers_of_one_log_never_take_the_same_offset(
        engines: tuple[Engine, Engine]) -> None:
    job_id = new_job(engines[0], JobState.RUNNING)
    first, second = interleave(
        engines, lambda db: service.append_log(db, job_id, "old attempt\n", cap=1000),
        lambda db: service.append_log(db, job_id, "new attempt\n", cap=1000))
    assert (first, second) == (12, 24)
    with sessionmaker(bind=engines[0])() as db:
        job = db.get(Job, job_id)
        assert job is not None
        text = service.read_log(db, None, job, 0).text  # type: ignore[arg-type]  # live log
    assert text == "old attempt\nnew attempt\n"


# -- many processes -------------------------------------------------------------------

CLAIMERS = 4
JOBS = 40


def _claimer(url: str, ids: list[str], barrier: Any, results: Any, seed: int) -> None:
    """One worker process: its own engine; claims every job it can, in its own order,
    and heartbeats what it got (more writes interleaved with the other claimers')."""
    engine = make_engine(url)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    order = list(ids)
    random.Random(seed).shuffle(order)
    mine: list[str] = []
    errors: list[str] = []
    barrier.wait(60)
    for job_id in order:
        try:
            with sessions() as db:
                job = service.claim(db, uuid.UUID(job_id), f"claimer-{seed}")
                if job is not None:
                    service.heartbeat(db, job.id, job.attempts, done=0, total=1)
                    mine.append(job_id)
                db.commit()
        except Exception as exc:  # "database is locked" would land here
            errors.append(f"{type(exc).__name__}: {exc}")
    engine.dispose()
    results.put((seed, mine, errors))


def test_processes_racing_for_the_same_jobs_claim_each_exactly_once(db_url: str) -> None:
    engine = make_engine(db_url)
    ids = [str(new_job(engine)) for _ in range(JOBS)]
    engine.dispose()  # no pooled connection may be shared with the forked children
    # fork: the children start at once (spawn would re-import the hub in each of them).
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(CLAIMERS), ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(db_url, ids, barrier, results, seed))
             for seed in range(CLAIMERS)]
    for proc in procs:
        proc.start()
    try:
        outcomes = [results.get(timeout=120) for _ in procs]
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    errors = [e for _, _, errs in outcomes for e in errs]
    assert errors == []
    claimed = [job_id for _, mine, _ in outcomes for job_id in mine]
    assert sorted(claimed) == sorted(ids)  # every job once: none twice, none lost
    with sessionmaker(bind=engine)() as db:
        rows = db.scalars(select(Job).where(Job.id.in_([uuid.UUID(i) for i in ids]))).all()
        assert {(j.state, j.attempts) for j in rows} == {(JobState.RUNNING, 1)}
        by_worker = {str(j.id): j.worker for j in rows}
    for seed, mine, _ in outcomes:
        assert all(by_worker[i] == f"claimer-{seed}" for i in mine)
    engine.dispose()


def test_sqlite_is_set_up_for_several_processes(sqlite_url: str) -> None:
    """WAL (readers never wait for the writer) and a busy timeout (a writer waits its
    turn instead of failing with "database is locked") on every connection."""
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 10_000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
