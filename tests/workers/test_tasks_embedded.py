"""The single-machine default: no HUB_BROKER_URL, so tasks travel through the embedded
filesystem broker in the data dir to a real worker process, which also runs beat (the
reconciler) in-process; and `envhub serve` starts and stops that worker with the API."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.jobs import service as jobs
from hub.jobs.dispatch import celery_dispatcher
from hub.jobs.models import JobState
from hub.kit.db import utcnow
from hub.kit.settings import Settings
from hub.kit.storage import Storage
from tests.jobs.helpers import World, make_world
from tests.support.live import free_port
from tests.workers.test_tasks import log_text
from workers.embedded import worker_argv

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def embedded(settings: Settings) -> Settings:
    assert settings.broker_url == ""
    return settings


@pytest.fixture
def world(tmp_path: Path, committed_sessions: sessionmaker[Session], embedded: Settings,
          storage: Storage) -> Iterator[World]:
    with make_world(tmp_path, committed_sessions, embedded, storage,
                    dispatcher=celery_dispatcher(embedded)) as w:
        yield w


def worker_env(settings: Settings) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | {
        "HUB_DATABASE_URL": settings.database_url, "HUB_STORAGE_URL": settings.storage_url,
        "HUB_DATA_DIR": str(settings.data_dir), "HUB_SECRET_KEY": settings.secret_key,
        "HUB_HEARTBEAT_INTERVAL_S": "0.3", "HUB_RECONCILE_EVERY_S": "1",
        "HUB_STALE_AFTER_S": "2", "HUB_EVAL_RUNNER": "tests.jobs.sandbox_runner:run",
        "PYTHONPATH": str(ROOT)}


def wait_terminal(world: World, job_id: object, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not world.job(job_id).state.terminal:  # type: ignore[arg-type]
        assert time.monotonic() < deadline, log_text(world, job_id)  # type: ignore[arg-type]
        time.sleep(0.3)


def test_embedded_broker_worker_and_beat(world: World, embedded: Settings,
                                         tmp_path: Path) -> None:
    ev_id, job_id = world.start(num_examples=2, rollouts_per_example=2)
    queue_dir = embedded.data_dir / "broker" / "queue"
    assert any(queue_dir.iterdir())  # the message waits on disk, no server involved
    # A job whose worker vanished before this hub started: only the reconciler can save it.
    _, orphan = world.start(num_examples=1, rollouts_per_example=1)
    with world.sessions() as db:
        job = jobs.claim(db, orphan, "gone:1")
        assert job is not None
        job.heartbeat_at = utcnow() - timedelta(minutes=10)
        db.commit()
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(worker_argv(embedded, concurrency=1, beat=True),
                            env=worker_env(embedded), cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        wait_terminal(world, job_id)
        assert world.job(job_id).state == JobState.SUCCEEDED
        assert len(world.sample_keys(ev_id)) == 4
        wait_terminal(world, orphan)
        recovered = world.job(orphan)
        assert (recovered.state, recovered.attempts) == (JobState.SUCCEEDED, 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_serve_runs_the_embedded_worker(tmp_path: Path, pg_url: str,
                                        committed_sessions: sessionmaker[Session]) -> None:
    port = free_port()
    data = tmp_path / "data"
    env = worker_env(Settings(data_dir=data, database_url=pg_url,
                              storage_url=f"file://{tmp_path / 'blobs'}",
                              secret_key="x" * 32)) | {"HUB_PUBLIC_URL":
                                                       f"http://127.0.0.1:{port}"}
    envhub = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "envhub"
    if not envhub.exists():
        envhub = ROOT / ".venv" / "bin" / "envhub"
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([str(envhub), "serve", "--port", str(port), "--no-local-model"],
                            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        while not (data / "logs" / "worker.log").exists() or \
                b"ready" not in (data / "logs" / "worker.log").read_bytes():
            assert time.monotonic() < deadline + 30, (data / "logs" / "worker.log").read_text()
            time.sleep(0.3)
        assert b"worker: broker embedded" in (tmp_path / "serve.log").read_bytes()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(40)
    # The worker (its beat schedule lives in this test's data dir) stopped with serve.
    marker = str(data.resolve() / "celerybeat-schedule").encode()
    deadline = time.monotonic() + 30
    while any(marker in p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline")
              if p.exists()):
        assert time.monotonic() < deadline, "the embedded worker outlived serve"
        time.sleep(0.3)
