"""How the API hands a committed job to the workers: a Celery task on the job's queue.

The import of the Celery app is deferred: the API depends on `workers` only at the moment
it sends, so tests and tools that never send do not build a broker connection.
"""

from __future__ import annotations

import logging
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


class RecordingDispatcher:
    """A dispatcher that only remembers what it was asked to send (tests, dry runs)."""

    def __init__(self) -> None:
        self.sent: list[tuple[uuid.UUID, str]] = []

    def __call__(self, job_id: uuid.UUID, queue: str) -> None:
        self.sent.append((job_id, queue))
