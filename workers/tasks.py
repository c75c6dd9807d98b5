"""Celery entry points. Thin on purpose: each task takes ids, re-reads the database and
hands over to the domain code (`hub.evals.execution`, `workers.reconciler`, the registry's
upload sweep and blob collector). Re-delivery is harmless: a job is claimed queued ->
running exactly once, and the maintenance tasks are idempotent.

Only the named transient errors are retried, with a bound; everything else ends the job
through its state machine instead of bouncing around the broker.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from celery import shared_task
from sqlalchemy.orm import Session, sessionmaker

from hub.evals.execution import (
    TRANSIENT_ERRORS,
    EvalRunner,
    RunOutcome,
    RunRequest,
    TransientJobError,
    run_evaluation_job,
)
from hub.evals.usage import ModelRequestUsage
from hub.jobs.models import Job, JobKind, JobState
from hub.jobs.settings import JobSettings, get_job_settings
from hub.kit.db import engine_for, session_factory
from hub.kit.settings import Settings, get_settings
from hub.kit.storage import Storage, storage_from_settings

if TYPE_CHECKING:
    from workers.gateway import UsageRecord
    from workers.sandbox import SandboxBackend

log = logging.getLogger(__name__)
MAX_DELIVERY_RETRIES = 3

_runner_override: EvalRunner | None = None


def set_runner(runner: EvalRunner | None) -> None:
    """Inject the evaluation runner (tests, alternative backends); None = the default."""
    global _runner_override
    _runner_override = runner


def load_runner(jobs: JobSettings) -> EvalRunner:
    if _runner_override is not None:
        return _runner_override
    if not jobs.eval_runner:
        return hosted_runner
    module, _, attr = jobs.eval_runner.partition(":")
    return cast(EvalRunner, getattr(importlib.import_module(module), attr or "run"))


@lru_cache(maxsize=1)
def _sandbox() -> SandboxBackend:
    from workers.sandbox import BubblewrapBackend

    return BubblewrapBackend()  # probes the host once per worker process


def hosted_runner(request: RunRequest, *, on_sample: Callable[[dict[str, Any]], None],
                  on_progress: Callable[[int, int], None], cancel: threading.Event
                  ) -> RunOutcome:
    """The production runner: prepare (or reuse) the environment's venv, start the model
    gateway on a fresh Unix socket (and vLLM first, for GPU providers), then run the
    colleague-owned `workers.evals.run_evaluation` in the sandbox."""
    from workers.evals import EvalRunSpec, VenvCache, VenvPrepareError, run_evaluation
    from workers.gateway import Budget, ModelGateway
    from workers.gpu import VllmStartError, serving

    settings, jobs = get_settings(), get_job_settings()
    if request.runtime not in ("v0", "v1"):
        return RunOutcome("failed", "unknown-runtime", f"The version's verifiers generation"
                          f" is '{request.runtime}'; only v0 and v1 can be evaluated.")
    spec = EvalRunSpec(
        dist_name=request.package, version=request.version,
        runtime="v0" if request.runtime == "v0" else "v1",
        content_hash=request.content_hash, index_url=request.index_url, model=request.model,
        num_examples=request.num_examples, rollouts_per_example=request.rollouts_per_example,
        sampling_args=request.sampling_args, env_args=request.env_args,
        max_concurrency=request.max_concurrency, seed=request.seed,
        timeout_s=request.timeout_s, environment=request.environment,
        wheel_sha256=request.wheel_sha256)
    cache_root = Path(jobs.venv_cache_dir) if jobs.venv_cache_dir else \
        settings.data_dir.resolve() / "venvs"
    try:
        venv = VenvCache(cache_root).prepare(spec, request.log_path)
    except VenvPrepareError as exc:
        if exc.transient:
            raise TransientJobError(f"{exc.code}: {exc.message}") from exc
        return RunOutcome("failed", _kebab(exc.code), exc.message)
    with contextlib.ExitStack() as stack:
        upstream, key = request.upstream_base_url, request.upstream_api_key
        if request.provider_kind == "vllm":
            try:
                server = stack.enter_context(serving(request.model, jobs,
                                                     request.workdir / "vllm.log", cancel))
            except VllmStartError as exc:
                return RunOutcome("failed", "model-server-failed", f"{exc} {exc.log_tail}")
            upstream, key = server.base_url, server.api_key
        # A short path of its own: Unix socket paths are limited to ~107 bytes.
        sock_dir = Path(tempfile.mkdtemp(prefix="envhub-gw-"))
        stack.callback(shutil.rmtree, sock_dir, True)
        socket_path = sock_dir / "model.sock"
        budget = Budget(max_requests=request.max_requests_budget,
                        max_tokens=request.max_tokens_budget)
        gateway = stack.enter_context(ModelGateway(
            socket_path, upstream, key, request.model, budget,
            usage_sink=_usage_logger(request.log_path)))
        outcome = run_evaluation(
            spec, venv=venv, gateway_socket=socket_path, work_dir=request.workdir / "run",
            log_path=request.log_path, backend=_sandbox(),
            on_sample=lambda s: on_sample(s.to_dict()), on_progress=on_progress,
            cancel=cancel, already_done=request.skip)
        used = tuple(ModelRequestUsage(
            request_index=r.request_index, status=r.status, prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens, latency_s=r.latency_s, stream=r.stream,
            estimated=r.estimated, error=r.error) for r in gateway.records)
    status = "completed" if outcome.status == "ok" else outcome.status
    return RunOutcome(status, _kebab(outcome.error_code), outcome.error_message, usage=used)


def _usage_logger(log_path: Path) -> Callable[[UsageRecord], None]:
    """Record every model request in the job's log, which users tail while it runs."""
    lock = threading.Lock()

    def write(record: UsageRecord) -> None:
        note = " (estimated)" if record.estimated else ""
        line = (f"[gateway] request {record.request_index}: HTTP {record.status},"
                f" {record.prompt_tokens}+{record.completion_tokens} tokens{note},"
                f" {record.latency_s:.2f}s" + (f", {record.error}" if record.error else "") + "\n")
        with lock, log_path.open("a", encoding="utf-8") as fh:
            fh.write(line)

    return write


def _kebab(code: str | None) -> str | None:
    return code.replace("_", "-") if code else None


@lru_cache(maxsize=1)
def _sessions() -> sessionmaker[Session]:
    return session_factory(engine_for(get_settings().database_url))


@lru_cache(maxsize=1)
def _storage() -> Storage:
    return storage_from_settings(get_settings())


def work_root(settings: Settings, jobs: JobSettings) -> Path:
    return Path(jobs.worker_dir) if jobs.worker_dir else settings.data_dir.resolve() / "work"


def execute_job(job_id: uuid.UUID, *, sessions: sessionmaker[Session] | None = None,
                storage: Storage | None = None, settings: Settings | None = None,
                jobs: JobSettings | None = None, runner: EvalRunner | None = None) -> str:
    """Run one delivery of a job by its kind; the same code path as the Celery task."""
    sessions = sessions or _sessions()
    settings = settings or get_settings()
    jobs = jobs or get_job_settings()
    with sessions() as db:
        job = db.get(Job, job_id)
        kind = job.kind if job else None
        state = job.state if job else None
    if kind is None:
        log.warning("job %s does not exist (deleted?); dropping the message", job_id)
        return "missing"
    if state != JobState.QUEUED:
        return "skipped"  # a duplicate delivery: someone already ran (or ended) it
    if kind == JobKind.EVALUATION:
        return run_evaluation_job(job_id, sessions=sessions, storage=storage or _storage(),
                                  settings=settings, jobs=jobs,
                                  runner=runner or load_runner(jobs),
                                  work_root=work_root(settings, jobs))
    log.error("job %s has unknown kind %r", job_id, kind)
    return "unknown-kind"


# celery is only partly typed: its decorators are untyped.
@shared_task(  # type: ignore[untyped-decorator]
    name="envhub.run_job", acks_late=True, autoretry_for=TRANSIENT_ERRORS,
    max_retries=MAX_DELIVERY_RETRIES, retry_backoff=2, retry_backoff_max=60, retry_jitter=False)
def run_job(job_id: str) -> str:
    return execute_job(uuid.UUID(job_id))


@shared_task(name="envhub.reconcile", acks_late=True)  # type: ignore[untyped-decorator]
def reconcile() -> dict[str, int]:
    from workers.reconciler import celery_resend, reconcile_once

    return reconcile_once(_sessions(), get_job_settings(), celery_resend(get_settings()))


@shared_task(name="envhub.sweep_uploads", acks_late=True)  # type: ignore[untyped-decorator]
def sweep_uploads() -> int:
    from hub.registry.publish import sweep_expired_uploads

    with _sessions()() as db:
        removed = sweep_expired_uploads(db, _storage())
        db.commit()
    return removed


@shared_task(name="envhub.gc_blobs", acks_late=True)  # type: ignore[untyped-decorator]
def gc_blobs() -> dict[str, int]:
    """Delete queued blobs nothing references any more, and abandoned staged uploads."""
    from hub.registry.blob_gc import collect

    return collect(_sessions(), _storage()).counts()
