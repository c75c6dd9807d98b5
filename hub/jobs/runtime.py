"""The worker side of a job, whatever its kind: claim it, heartbeat while it runs, ship
its log incrementally, and end it through `set_state` only if it is still this worker's.

A heartbeat that finds the job no longer ours (cancelled through the API, re-queued by
the reconciler, failed) sets `cancel`, which the job's work must watch and obey by
killing its sandbox. Each heartbeat is its own short transaction.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from hub.jobs import service
from hub.jobs.models import Job, JobState
from hub.jobs.settings import JobSettings
from hub.kit.storage import Storage

log = logging.getLogger(__name__)
PREFIX = "[envhub]"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobRun:
    def __init__(self, sessions: sessionmaker[Session], storage: Storage, job_id: uuid.UUID,
                 *, settings: JobSettings, log_path: Path, deadline_s: float | None = None,
                 worker: str | None = None) -> None:
        self.sessions = sessions
        self.storage = storage
        self.job_id = job_id
        self.settings = settings
        self.log_path = log_path
        self.worker = worker or worker_name()
        self.deadline_s = deadline_s
        self.attempt = 0
        self.cancel = threading.Event()  # set: stop now (not ours any more / deadline)
        self.deadline_passed = False
        self.ticks: list[Callable[[], None]] = []  # extra work each heartbeat (flushes)
        self._done: int | None = None
        self._total: int | None = None
        self._shipped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self._ship_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------
    def claim(self) -> Job | None:
        """queued -> running; None if another delivery already took (or ended) the job."""
        with self.sessions() as db:
            job = service.claim(db, self.job_id, self.worker)
            if job is None:
                db.rollback()
                return None
            self.attempt = job.attempts
            db.commit()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log(f"attempt {self.attempt} on {self.worker}")
        return job

    def __enter__(self) -> JobRun:
        self._thread = threading.Thread(target=self._beat_loop, name=f"heartbeat-{self.job_id}",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop_heartbeat()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    # -- reporting ---------------------------------------------------------------------
    def log(self, message: str) -> None:
        with self.log_path.open("a", encoding="utf-8") as fh:
            fh.write(f"{PREFIX} {message}\n")

    def progress(self, done: int, total: int | None = None) -> None:
        self._done = done
        if total is not None:
            self._total = total

    def ship_log(self) -> None:
        """Copy the new bytes of the local log file into the job's live log."""
        with self._ship_lock:
            try:
                with self.log_path.open("rb") as fh:
                    fh.seek(self._shipped)
                    data = fh.read(1 << 20)
            except FileNotFoundError:
                return
            if not data:
                return
            # Ship whole lines where possible so a tail never shows half a line.
            cut = data.rfind(b"\n") + 1 if len(data) < (1 << 20) else len(data)
            if cut == 0:
                return
            with self.sessions() as db:
                service.append_log(db, self.job_id, data[:cut].decode(errors="replace"),
                                   cap=self.settings.max_log_bytes)
                db.commit()
            self._shipped += cut

    def beat(self) -> bool:
        """One heartbeat: ship logs, run ticks, refresh the row. False = stop the job."""
        for tick in self.ticks:
            try:
                tick()
            except Exception:
                log.exception("heartbeat tick failed for job %s", self.job_id)
        try:
            self.ship_log()
        except Exception:
            log.exception("log shipping failed for job %s", self.job_id)
        with self.sessions() as db:
            ours = service.heartbeat(db, self.job_id, self.attempt, done=self._done,
                                     total=self._total)
            db.commit()
        if self.deadline_s is not None and time.monotonic() - self._started > self.deadline_s:
            self.deadline_passed = True
            self.cancel.set()
        if not ours:
            self.cancel.set()
        return ours

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_interval_s):
            try:
                self.beat()
            except Exception:  # the database may be briefly away; the reconciler is the net
                log.exception("heartbeat failed for job %s", self.job_id)

    # -- ending ------------------------------------------------------------------------
    def finish(self, state: JobState, *, error_code: str | None = None,
               error_message: str | None = None) -> JobState:
        """End the attempt. Returns the state the job really ended in (the API may have
        cancelled it meanwhile: then that state stands and nothing is overwritten)."""
        self.stop_heartbeat()
        self.log(f"finished: {state}" + (f" ({error_code}: {error_message})"
                                         if error_code else ""))
        self._final_ship()
        with self.sessions() as db:
            job = service.end_attempt(db, self.job_id, self.attempt, state,
                                      error_code=error_code, error_message=error_message,
                                      progress_done=self._done)
            final = job.state
            if final.terminal and job.log_key is None:
                service.archive_log(db, self.storage, job)
            db.commit()
        return final

    def _final_ship(self) -> None:
        try:
            self.ship_log()
            with self.log_path.open("rb") as fh:  # a last line without newline
                fh.seek(self._shipped)
                # Never more than the cap: a flood's unshipped gigabytes would be dropped
                # by append_log anyway, after filling this worker's memory.
                rest = fh.read(self.settings.max_log_bytes)
            if rest:
                with self.sessions() as db:
                    service.append_log(db, self.job_id, rest.decode(errors="replace") + "\n",
                                       cap=self.settings.max_log_bytes)
                    db.commit()
                self._shipped += len(rest)
        except FileNotFoundError:
            pass
