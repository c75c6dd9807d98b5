"""Running a hosted evaluation job on a worker, around an injectable runner.

The runner (workers.evals: venv preparation, the sandbox, the model gateway, the v0/v1
harnesses) receives a `RunRequest` and reports through callbacks; this module owns the
job's lifecycle around it: claim, heartbeat, samples streamed to storage with resume,
aggregates, and the final state. A failed rollout is a sample with an `error`; a run
whose every rollout failed is a failed job, even when the runner says it completed.
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts import service as accounts
from hub.accounts.models import ApiToken, TokenScope, User
from hub.evals import usage
from hub.evals.models import EvalSample, Evaluation
from hub.evals.samples import SampleWriter, aggregate
from hub.evals.usage import ModelRequestUsage
from hub.jobs.models import Job, JobState
from hub.jobs.runtime import JobRun
from hub.jobs.settings import JobSettings
from hub.kit.db import utcnow
from hub.kit.errors import HubError
from hub.kit.settings import Settings
from hub.kit.storage import Storage
from hub.providers import service as providers
from hub.registry import catalog
from hub.registry.models import Environment, File, FileKind, Visibility
from hub.registry.service import index_url, with_token_placeholder

log = logging.getLogger(__name__)


# A private environment's index read token lives the job's timeout plus this (the venv is
# prepared at the start of the attempt; the token is useless after that).
INDEX_TOKEN_GRACE_S = 3600.0


def eval_token_name(job_id: uuid.UUID) -> str:
    """The name of the index read tokens minted for a job's attempts (the reconciler
    revokes them by it when it finds the job's worker lost)."""
    return f"eval {job_id}"


def revoke_eval_tokens(db: Session, job: Job, now: datetime | None = None) -> int:
    """Revoke every still-valid index token minted for `job`; returns how many."""
    if job.requested_by is None:
        return 0
    now = now or utcnow()
    tokens = db.scalars(select(ApiToken).where(
        ApiToken.user_id == job.requested_by, ApiToken.name == eval_token_name(job.id),
        ApiToken.revoked_at.is_(None)))
    count = 0
    for token in tokens:
        token.revoked_at = now
        count += 1
    return count


class TransientJobError(Exception):
    """A failure worth retrying the whole attempt for (storage or database briefly away)."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (TransientJobError, OperationalError,
                                                     ConnectionError)


@dataclass(frozen=True)
class RunRequest:
    job_id: uuid.UUID
    evaluation_id: uuid.UUID
    attempt: int
    environment: str  # owner/name
    package: str  # the distribution to install from `index_url`
    version: str
    content_hash: str
    runtime: str  # v0 | v1
    index_url: str  # carries a short-lived read token for private environments
    provider: str
    model: str
    upstream_base_url: str
    upstream_api_key: str | None  # for the gateway only, never the sandbox
    num_examples: int
    rollouts_per_example: int
    sampling_args: dict[str, Any]
    env_args: dict[str, Any]
    max_concurrency: int
    timeout_s: float
    seed: int | None
    max_tokens_budget: int | None
    workdir: Path
    log_path: Path
    # (example_id, rollout_index) already stored by an earlier attempt: do not redo them.
    skip: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    provider_kind: str = "openai"  # "vllm": the GPU worker serves the model itself
    max_requests_budget: int | None = None
    # sha256 of the version's wheel as the hub stored it ("" if it has none): the worker
    # installs it pinned to this hash and keys its venv cache on (environment, this).
    wheel_sha256: str = ""


@dataclass(frozen=True)
class RunOutcome:
    status: Literal["completed", "failed", "timed_out", "cancelled"]
    error_code: str | None = None
    error_message: str | None = None
    # The model gateway's record of every request this attempt made (hosted runner).
    usage: tuple[ModelRequestUsage, ...] = ()


class EvalRunner(Protocol):
    def __call__(self, request: RunRequest, *, on_sample: Callable[[dict[str, Any]], None],
                 on_progress: Callable[[int, int], None], cancel: threading.Event
                 ) -> RunOutcome: ...


@dataclass
class _Context:
    request: RunRequest
    ev_id: uuid.UUID
    token_id: uuid.UUID | None
    model: providers.ResolvedModel


def _prepare(db: Session, settings: Settings, jobs: JobSettings, job: Job, attempt: int,
             workdir: Path, skip: frozenset[tuple[str, int]]) -> _Context:
    spec = job.spec
    ev = db.scalar(select(Evaluation).where(Evaluation.job_id == job.id))
    env = db.get(Environment, ev.environment_id) if ev else None
    if ev is None or env is None:
        raise HubError("The evaluation or its environment was deleted.",
                       code="environment-gone")
    owner = accounts.namespace_name(db, env.owner_id)
    version = catalog.get_version(db, env, ev.version)  # raises version-not-found if deleted
    # The worker installs exactly this wheel (pinned by hash) and keys its venv cache on
    # it: a publisher-declared content hash must never make two environments share a venv.
    wheel_sha256 = db.scalar(select(File.sha256).where(
        File.version_id == version.id, File.kind == FileKind.WHEEL)
        .order_by(File.upload_time, File.id).limit(1)) or ""
    model = providers.resolve(db, jobs, ev.model, secret_key=settings.secret_key)
    base = (jobs.internal_url or settings.public_url).rstrip("/")
    url = index_url(base, owner, env.normalized_name)
    token_id = None
    if env.visibility == Visibility.PRIVATE and job.requested_by is not None:
        user = db.get(User, job.requested_by)
        if user is None:
            raise HubError("The requesting user no longer exists.", code="requester-gone")
        issued = accounts.create_token(db, user, eval_token_name(job.id), TokenScope.READ,
                                       secret_key=settings.secret_key)
        # Only as long as this attempt can run: the worker revokes it when it ends, the
        # reconciler when it finds the worker lost; this bounds a token nobody revoked.
        issued.token.expires_at = utcnow() + timedelta(
            seconds=float(spec.get("timeout_s") or 3600) + INDEX_TOKEN_GRACE_S)
        db.flush()
        token_id = issued.token.id
        url = with_token_placeholder(url).replace("$HUB_TOKEN", issued.secret)
    request = RunRequest(
        job_id=job.id, evaluation_id=ev.id, attempt=attempt, environment=f"{owner}/{env.name}",
        package=env.normalized_name, version=ev.version, content_hash=ev.content_hash,
        runtime=ev.runtime, index_url=url, provider=model.provider, model=model.model,
        upstream_base_url=model.base_url, upstream_api_key=model.api_key,
        num_examples=int(spec["num_examples"]),
        rollouts_per_example=int(spec["rollouts_per_example"]),
        sampling_args=dict(spec.get("sampling_args") or {}),
        env_args=dict(spec.get("env_args") or {}),
        max_concurrency=int(spec.get("max_concurrency") or 1),
        timeout_s=float(spec.get("timeout_s") or 3600),
        seed=spec.get("seed"), max_tokens_budget=spec.get("max_tokens_budget"),
        max_requests_budget=spec.get("max_requests_budget"),
        workdir=workdir, log_path=workdir / "job.log", skip=skip, provider_kind=model.kind,
        wheel_sha256=wheel_sha256)
    return _Context(request, ev.id, token_id, model)


def _finalize(sessions: sessionmaker[Session], ctx: _Context, outcome: RunOutcome,
              deadline_passed: bool) -> tuple[JobState, str | None, str | None]:
    """Aggregate what was stored and decide the job's final state."""
    with sessions() as db:
        ev = db.get(Evaluation, ctx.ev_id)
        assert ev is not None
        aggregate(db, ev)
        ev.cost = providers.cost_of(ctx.model, ev.tokens_in, ev.tokens_out)
        usage.record(db, ev.id, ctx.request.attempt, outcome.usage)
        first_error = db.scalar(select(EvalSample.error).where(
            EvalSample.eval_id == ev.id, EvalSample.error.is_not(None)).limit(1))
        n_samples, n_errors = ev.n_samples, ev.n_errors
        result: tuple[JobState, str | None, str | None]
        timeout = ctx.request.timeout_s
        if deadline_passed or outcome.status == "timed_out":
            result = (JobState.TIMED_OUT, "timeout",
                      outcome.error_message or f"The evaluation ran past {timeout:g} s.")
        elif outcome.status == "cancelled":
            result = (JobState.CANCELLED, "cancelled", outcome.error_message or "Cancelled.")
        elif outcome.status == "failed":
            result = (JobState.FAILED, outcome.error_code or "runner-failed",
                      outcome.error_message)
        elif n_samples == 0:
            result = (JobState.FAILED, "no-samples", "The run produced no samples.")
        elif n_errors == n_samples:
            result = (JobState.FAILED, "all-rollouts-failed",
                      f"All {n_samples} rollouts failed; first error: {first_error}")
        else:
            result = (JobState.SUCCEEDED, None, None)
            ev.completed_at = utcnow()
        db.commit()
    return result


def _revoke(sessions: sessionmaker[Session], token_id: uuid.UUID | None) -> None:
    if token_id is None:
        return
    with sessions() as db:
        token = db.get(ApiToken, token_id)
        if token is not None:
            token.revoked_at = utcnow()
        db.commit()


def run_evaluation_job(job_id: uuid.UUID, *, sessions: sessionmaker[Session], storage: Storage,
                       settings: Settings, jobs: JobSettings, runner: EvalRunner,
                       work_root: Path) -> str:
    """Run one delivery of an evaluation job. Returns the job's state afterwards, or
    'skipped' when the delivery was a duplicate (the job was not queued)."""
    # One directory per delivery: a dead attempt's leftovers (its log) are never re-read.
    workdir = work_root / str(job_id) / uuid.uuid4().hex[:12]
    run = JobRun(sessions, storage, job_id, settings=jobs, log_path=workdir / "job.log")
    job = run.claim()
    if job is None:
        return "skipped"
    for stale in workdir.parent.iterdir():
        if stale != workdir:  # only the claimant may clear what a dead attempt left
            shutil.rmtree(stale, ignore_errors=True)
    run.deadline_s = float(job.spec.get("timeout_s") or 3600) + jobs.timeout_grace_s
    ctx: _Context | None = None
    try:
        with run:
            writer = _writer(sessions, storage, job, run, jobs)
            with sessions() as db:
                ctx = _prepare(db, settings, jobs, db.get(Job, job_id) or job, run.attempt,
                               workdir, frozenset(writer.seen))
                db.commit()
            if writer.resumed:
                run.log(f"resuming: {writer.resumed} samples already stored")
            total = ctx.request.num_examples * ctx.request.rollouts_per_example
            run.progress(writer.count, total)
            run.ticks.append(writer.flush)

            def on_sample(sample: dict[str, Any]) -> None:
                writer.add(sample)
                run.progress(writer.count)

            def on_progress(done: int, total_: int) -> None:
                run.progress(max(done, writer.count), total_)

            try:
                outcome = runner(ctx.request, on_sample=on_sample, on_progress=on_progress,
                                 cancel=run.cancel)
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:  # a runner bug is a failed job, not a stuck one
                log.exception("runner crashed on job %s", job_id)
                outcome = RunOutcome("failed", "runner-crashed", f"{type(exc).__name__}: {exc}")
            run.stop_heartbeat()
            writer.flush()
        state, code, message = _finalize(sessions, ctx, outcome, run.deadline_passed)
        return str(run.finish(state, error_code=code, error_message=message))
    except HubError as exc:
        return str(run.finish(JobState.FAILED, error_code=exc.code, error_message=exc.detail))
    except TRANSIENT_ERRORS as exc:
        # Give the attempt back (bounded by max_attempts); Celery retries the delivery.
        again = run.attempt < job.max_attempts
        try:
            run.finish(JobState.QUEUED if again else JobState.FAILED,
                       error_code="transient-error", error_message=str(exc)[:500])
        except Exception:
            log.exception("could not record the transient failure of job %s", job_id)
        if again:
            raise
        return str(JobState.FAILED)
    finally:
        _revoke(sessions, ctx.token_id if ctx else None)
        shutil.rmtree(workdir, ignore_errors=True)


def _writer(sessions: sessionmaker[Session], storage: Storage, job: Job, run: JobRun,
            jobs: JobSettings) -> SampleWriter:
    ev_id = job.spec.get("evaluation_id")
    if not ev_id:
        raise HubError("The job names no evaluation.", code="evaluation-missing")
    return SampleWriter(sessions, storage, uuid.UUID(str(ev_id)), run.attempt,
                        batch=jobs.sample_flush_every)
