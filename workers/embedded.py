"""The single-machine default: `envhub serve` runs the API in the foreground and, as child
processes, a Celery worker on the embedded broker (with beat, so the reconciler and the
upload sweep run too) and the built-in local model server.

Children, not threads: a Celery worker wants its own process (signals, prefork pool),
and the model server's CPU-heavy decode must not share the API's GIL. They are stopped
when `serve` exits, and they read the same HUB_* environment, so they see the same
database, storage and data dir.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hub.jobs.settings import JobSettings
from hub.kit.settings import Settings

log = logging.getLogger(__name__)
WORKER_QUEUES = ("evals", "maintenance")


def worker_argv(settings: Settings, *, queues: Sequence[str] = WORKER_QUEUES,
                concurrency: int = 2, beat: bool = False, loglevel: str = "INFO",
                pool: str = "prefork") -> list[str]:
    argv = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
            "-Q", ",".join(queues), "--concurrency", str(concurrency), "--pool", pool,
            "--loglevel", loglevel, "--without-mingle", "--without-gossip"]
    if not settings.broker_url:
        argv.append("--without-heartbeat")  # the filesystem broker has no event channel
    if beat:
        schedule = settings.data_dir.resolve() / "celerybeat-schedule"
        argv += ["--beat", "--schedule", str(schedule)]
    return argv


def local_model_argv(jobs: JobSettings, host: str = "127.0.0.1") -> list[str]:
    return [sys.executable, "-m", "workers.inference.local_model", "--host", host,
            "--port", str(jobs.local_model_port)]


@dataclass
class EmbeddedServices:
    settings: Settings
    jobs: JobSettings
    worker: bool = True
    local_model: bool = True
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self) -> list[str]:
        """Start the children; returns one line per started service, for the banner."""
        lines = []
        logs = self.settings.data_dir.resolve() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if self.local_model and self.jobs.local_model_url:
            self._spawn("local-model", local_model_argv(self.jobs), logs / "local-model.log")
            lines.append(f"local model: {self.jobs.local_model_url} (log {logs}/local-model.log)")
        if self.worker:
            argv = worker_argv(self.settings, beat=True)
            self._spawn("worker", argv, logs / "worker.log")
            broker = self.settings.broker_url or "embedded (filesystem)"
            lines.append(f"worker: broker {broker} (log {logs}/worker.log)")
        return lines

    def _spawn(self, name: str, argv: list[str], log_path: Path) -> None:
        out = log_path.open("ab")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=dict(os.environ))
        out.close()  # the child holds its own descriptor
        self.procs.append((name, proc))

    def stop(self, timeout: float = 20.0) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # Celery: warm shutdown
        for name, proc in self.procs:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %s s; killing it", name, timeout)
                proc.kill()
                proc.wait()
        self.procs.clear()

    def __enter__(self) -> EmbeddedServices:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
