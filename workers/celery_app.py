"""The Celery application: queues `evals` (CPU), `gpu` and `maintenance`.

Broker: HUB_BROKER_URL (Redis in tests and production). When it is empty, the embedded
single-machine broker is kombu's filesystem transport in `<data_dir>/broker`: API and
worker processes on one machine exchange messages as files, with no server to run.
Results are not kept by Celery: the job row in the database is the only truth.

Run a worker with `envhub worker` (or `celery -A workers.celery_app worker -Q evals`).
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from celery import Celery

from hub.jobs.settings import JobSettings, get_job_settings
from hub.kit.settings import Settings, get_settings

QUEUES = ("evals", "gpu", "maintenance")
RUN_JOB = "envhub.run_job"
RECONCILE = "envhub.reconcile"
SWEEP_UPLOADS = "envhub.sweep_uploads"
GC_BLOBS = "envhub.gc_blobs"


def embedded_dirs(settings: Settings) -> dict[str, Path]:
    root = (settings.data_dir / "broker").resolve()
    return {"queue": root / "queue", "processed": root / "processed"}


def broker_config(settings: Settings, jobs: JobSettings) -> tuple[str, dict[str, Any]]:
    if settings.broker_url:
        options: dict[str, Any] = {"visibility_timeout": 3600}
        if jobs.broker_key_prefix:
            options["global_keyprefix"] = jobs.broker_key_prefix
        return settings.broker_url, options
    dirs = embedded_dirs(settings)
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    # Producer and consumer share one folder: that folder is the queue.
    return "filesystem://", {"data_folder_in": str(dirs["queue"]),
                             "data_folder_out": str(dirs["queue"]),
                             "processed_folder": str(dirs["processed"]),
                             "store_processed": False,
                             # kombu polls the folder once a second by default: on average
                             # half a second of queueing per job (bench/eval_overhead.py).
                             "polling_interval": 0.1}


def make_celery(settings: Settings | None = None, jobs: JobSettings | None = None) -> Celery:
    settings = settings or get_settings()
    jobs = jobs or get_job_settings()
    url, options = broker_config(settings, jobs)
    app = Celery("envhub", broker=url, include=["workers.tasks"])
    app.conf.update(
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        # Queues are declared on first use (task_create_missing_queues); workers pick
        # theirs with -Q, senders name the job's queue.
        task_default_queue="evals",
        task_routes={RECONCILE: {"queue": "maintenance"},
                     SWEEP_UPLOADS: {"queue": "maintenance"},
                     GC_BLOBS: {"queue": "maintenance"}},
        # The job row is the result; a result backend would be a second source of truth.
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        # The filesystem broker has no fanout for remote control; Redis does.
        worker_enable_remote_control=bool(settings.broker_url),
        beat_schedule={
            "reconcile": {"task": RECONCILE,
                          "schedule": timedelta(seconds=jobs.reconcile_every_s)},
            "sweep-uploads": {"task": SWEEP_UPLOADS, "schedule": timedelta(minutes=10)},
            "gc-blobs": {"task": GC_BLOBS, "schedule": timedelta(minutes=10)},
        },
    )
    return app


_SENDERS: dict[tuple[str, str, str], Celery] = {}
_LOCK = threading.Lock()


def sender(settings: Settings) -> Celery:
    """The Celery app this process sends jobs with, built once per broker."""
    jobs = get_job_settings()
    key = (settings.broker_url, str(settings.data_dir.resolve()), jobs.broker_key_prefix)
    with _LOCK:
        if key not in _SENDERS:
            _SENDERS[key] = make_celery(settings, jobs)
        return _SENDERS[key]


def send_job(settings: Settings, job_id: uuid.UUID, queue: str) -> None:
    """Send the job's task (ids only: the worker re-reads everything from the database)."""
    sender(settings).send_task(RUN_JOB, args=[str(job_id)], queue=queue)


@lru_cache(maxsize=1)
def default_app() -> Celery:
    return make_celery()


def __getattr__(name: str) -> Any:
    # `celery -A workers.celery_app` looks up `app`; built on first use, not at import, so
    # importing this module never touches a broker or the data dir.
    if name in ("app", "celery"):
        return default_app()
    raise AttributeError(name)
