"""How the API hands a committed job to the workers: a Celery task on the job's queue.

The import of the Celery app is deferred: the API depends on `workers` only at the moment
it sends, so tests and tools that never send do not build a broker connection.
"""

from __future__ import annotations

import logging
import threading
import uuid

from hub.jobs.service import Dispatcher
from hub.kit.settings import Settings

log = logging.getLogger(__name__)


def celery_dispatcher(settings: Settings) -> Dispatcher:
    def send(job_id: uuid.UUID, queue: str) -> None:
        from workers.celery_app import send_job

        try:
            send_job(settings, job_id, queue)
        except Exception:
            # The job row is committed; the reconciler re-sends queued jobs whose message
            # never arrived, so a broker outage delays the job instead of losing it.
            log.exception("could not send job %s to queue %s; the reconciler will retry",
                          job_id, queue)

    return send


def warm_up(settings: Settings) -> threading.Thread:
    """Import Celery and build the sender in the background, so the first evaluation after
    a start does not pay for it inside its request (measured: 0.4-2 s)."""

    def build() -> None:
        try:
            from workers.celery_app import sender

            sender(settings)
        except Exception:
            log.exception("could not prepare the job sender; the first send will retry")

    thread = threading.Thread(target=build, name="envhub-dispatch-warm-up", daemon=True)
    thread.start()
    return thread


class RecordingDispatcher:
    """A dispatcher that only remembers what it was asked to send (tests, dry runs)."""

    def __init__(self) -> None:
        self.sent: list[tuple[uuid.UUID, str]] = []

    def __call__(self, job_id: uuid.UUID, queue: str) -> None:
        self.sent.append((job_id, queue))
