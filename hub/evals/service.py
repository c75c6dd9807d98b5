"""Evaluation use cases: start a hosted run, record an uploaded one, read, cancel.

Privacy: an evaluation is exactly as visible as its environment; whoever cannot read the
environment gets the same 404 for its evaluations as for an evaluation that never existed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from hub.accounts import service as accounts
from hub.accounts.models import Role, User
from hub.accounts.service import Principal
from hub.evals.formats import Parsed
from hub.evals.models import EvalSample, Evaluation
from hub.evals.samples import aggregate, normalize, read_bodies, write_batch
from hub.evals.schemas import Aggregates, EvalCreate, EvalOut, SampleOut
from hub.jobs import service as jobs
from hub.jobs.models import Job, JobKind, JobState
from hub.jobs.schemas import JobOut
from hub.jobs.settings import JobSettings
from hub.kit.db import utcnow
from hub.kit.errors import Forbidden, InvalidInput, NotFound
from hub.kit.storage import Storage
from hub.providers import service as providers
from hub.registry import catalog
from hub.registry.access import can_read, readable_env
from hub.registry.models import Environment, Visibility

UPLOADED = "succeeded"  # the status an uploaded (already finished) evaluation shows


def eval_not_found(eval_id: object) -> NotFound:
    return NotFound(f"No evaluation {eval_id} (or you may not see it).",
                    code="evaluation-not-found")


def split_env(ref: str) -> tuple[str, str]:
    owner, _, name = ref.partition("/")
    if not owner or not name:
        raise InvalidInput("environment must be OWNER/NAME.", code="invalid-environment")
    return owner, name


def create_hosted(db: Session, settings: JobSettings, principal: Principal, body: EvalCreate,
                  dispatcher: jobs.Dispatcher) -> Evaluation:
    if body.num_examples > settings.eval_max_examples:
        raise InvalidInput(f"num_examples is limited to {settings.eval_max_examples}.",
                           code="too-many-examples")
    if body.rollouts_per_example > settings.eval_max_rollouts:
        raise InvalidInput(f"rollouts_per_example is limited to {settings.eval_max_rollouts}.",
                           code="too-many-rollouts")
    owner, name = split_env(body.environment)
    env = readable_env(db, owner, name, principal)
    version = catalog.get_version(db, env, body.version)
    model = providers.resolve(db, settings, body.model)
    spec = body.model_dump(mode="json") | {
        "environment": f"{owner}/{env.name}", "version": version.version,
        "content_hash": version.content_hash, "runtime": str(version.runtime),
        "model": f"{model.provider}/{model.model}"}
    job = jobs.create_job(db, kind=JobKind.EVALUATION, queue=model.queue, spec=spec,
                          requested_by=principal.user_id, max_attempts=settings.max_attempts,
                          progress_total=body.num_examples * body.rollouts_per_example)
    ev = Evaluation(job_id=job.id, environment_id=env.id, version_id=version.id,
                    version=version.version, content_hash=version.content_hash,
                    runtime=str(version.runtime), provider=model.provider,
                    model=f"{model.provider}/{model.model}", verified=True, source="hosted",
                    spec=spec, created_by=principal.user_id, metrics={})
    db.add(ev)
    db.flush()
    job.spec = spec | {"evaluation_id": str(ev.id)}
    jobs.enqueue(db, job, dispatcher)
    return ev


def create_uploaded(db: Session, storage: Storage, principal: Principal, environment: str,
                    version_ref: str, model: str | None, parsed: Parsed) -> Evaluation:
    """Record a self-reported run: anyone who may write to the environment's owner."""
    owner, name = split_env(environment)
    env = readable_env(db, owner, name, principal)
    role = accounts.role_in(db, env.owner_id, principal.user)
    if role is None or not role.at_least(Role.WRITE):
        raise Forbidden(f"Uploading results for {owner}/{name} needs write access to"
                        f" '{owner}'.", code="forbidden")
    version = catalog.get_version(db, env, version_ref)
    label = model or parsed.model
    if not label:
        raise InvalidInput("Name the model (model=PROVIDER/MODEL or just MODEL).",
                           code="invalid-model")
    provider = label.partition("/")[0] if "/" in label else "self-reported"
    full = label if "/" in label else f"{provider}/{label}"
    ev = Evaluation(environment_id=env.id, version_id=version.id, version=version.version,
                    content_hash=version.content_hash, runtime=parsed.runtime,
                    provider=provider[:64], model=full[:200], verified=False,
                    source=f"upload-{parsed.runtime}", created_by=principal.user_id,
                    spec={"uploaded_metadata": parsed.meta, "env_id": parsed.env_id},
                    completed_at=utcnow(), metrics={})
    db.add(ev)
    db.flush()
    normalized = [normalize(dict(s)) for s in parsed.samples]
    for start in range(0, len(normalized), 1000):
        write_batch(db, storage, ev.id, f"upload-{start // 1000:06d}",
                    normalized[start:start + 1000])
    aggregate(db, ev)
    return ev


@dataclass
class Found:
    ev: Evaluation
    env: Environment
    job: Job | None


def readable_eval(db: Session, principal: Principal | None, eval_id: uuid.UUID) -> Found:
    ev = db.get(Evaluation, eval_id)
    env = db.get(Environment, ev.environment_id) if ev else None
    if ev is None or env is None or not can_read(db, env, principal):
        raise eval_not_found(eval_id)
    job = db.get(Job, ev.job_id) if ev.job_id else None
    return Found(ev, env, job)


def status_of(job: Job | None) -> str:
    return str(job.state) if job else UPLOADED


def visible(db: Session, principal: Principal | None) -> Select[Evaluation]:
    query = select(Evaluation).join(Environment, Environment.id == Evaluation.environment_id)
    readable = accounts.readable_namespace_ids(db, principal.user if principal else None)
    if readable is None:
        return query
    if not readable:
        return query.where(Environment.visibility == Visibility.PUBLIC)
    return query.where(or_(Environment.visibility == Visibility.PUBLIC,
                           Environment.owner_id.in_(readable)))


def list_evals(db: Session, principal: Principal | None, *, environment: str | None,
               status: str | None, mine: bool, model: str | None, page: int, per_page: int
               ) -> tuple[list[Evaluation], int]:
    query = visible(db, principal).outerjoin(Job, Job.id == Evaluation.job_id)
    if environment:
        owner, name = split_env(environment)
        env = readable_env(db, owner, name, principal)
        query = query.where(Evaluation.environment_id == env.id)
    if status:
        if status == UPLOADED:
            query = query.where(or_(Job.state == JobState.SUCCEEDED, Evaluation.job_id.is_(None)))
        else:
            query = query.where(Job.state == JobState(status))
    if mine:
        query = query.where(Evaluation.created_by == (principal.user_id if principal else None))
    if model:
        query = query.where(Evaluation.model == model)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(query.order_by(Evaluation.created_at.desc(), Evaluation.id)
                      .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total


def cancel(db: Session, principal: Principal, found: Found) -> bool:
    if found.job is None:
        raise InvalidInput("An uploaded evaluation has nothing to cancel.", code="not-a-job")
    role = accounts.role_in(db, found.env.owner_id, principal.user)
    if found.ev.created_by != principal.user_id and not (role and role.at_least(Role.ADMIN)):
        raise Forbidden("Only who started an evaluation (or an admin of the environment's"
                        " owner) may cancel it.", code="forbidden")
    return jobs.cancel(db, found.job)


def evals_out(db: Session, rows: list[Evaluation]) -> list[EvalOut]:
    envs = {e.id: e for e in db.scalars(select(Environment).where(
        Environment.id.in_({r.environment_id for r in rows})))} if rows else {}
    owners = catalog.owner_names(db, {e.owner_id for e in envs.values()})
    job_ids = [r.job_id for r in rows if r.job_id]
    job_rows = db.scalars(select(Job).where(Job.id.in_(job_ids))).all() if job_ids else []
    by_job = {j.id: j for j in job_rows}
    user_ids = {r.created_by for r in rows if r.created_by}
    users = dict(db.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
                 .tuples().all()) if user_ids else {}
    out = []
    for ev in rows:
        env = envs[ev.environment_id]
        job = by_job.get(ev.job_id) if ev.job_id else None
        out.append(EvalOut(
            id=ev.id, environment=f"{owners[env.owner_id]}/{env.name}", version=ev.version,
            content_hash=ev.content_hash, runtime=ev.runtime, model=ev.model,
            provider=ev.provider, verified=ev.verified, source=ev.source,
            status=status_of(job), spec=ev.spec, created_by=users.get(ev.created_by)
            if ev.created_by else None, created_at=ev.created_at, completed_at=ev.completed_at,
            progress_done=job.progress_done if job else ev.n_samples,
            progress_total=job.progress_total if job else ev.n_samples,
            error_code=job.error_code if job else None,
            error_message=job.error_message if job else None,
            aggregates=aggregates_of(ev), job=JobOut.of(job) if job else None))
    return out


def aggregates_of(ev: Evaluation) -> Aggregates:
    return Aggregates(
        n_examples=ev.n_examples, rollouts_per_example=ev.rollouts_per_example,
        n_samples=ev.n_samples, n_errors=ev.n_errors,
        error_rate=ev.n_errors / ev.n_samples if ev.n_samples else None,
        mean_reward=ev.mean_reward, ci_low=ev.ci_low, ci_high=ev.ci_high,
        pass_at_k=ev.pass_at_k, mean_tokens=ev.mean_tokens, tokens_in=ev.tokens_in,
        tokens_out=ev.tokens_out, cost=ev.cost, metrics=ev.metrics or {})


def samples_page(db: Session, storage: Storage, ev: Evaluation, *, page: int, per_page: int,
                 filter_: str | None, below: float) -> tuple[list[SampleOut], int]:
    query = select(EvalSample).where(EvalSample.eval_id == ev.id)
    order: list[Any] = [EvalSample.seq]
    if filter_ == "failed":
        query = query.where(or_(EvalSample.error.is_not(None), EvalSample.reward.is_(None)))
    elif filter_ == "low_reward":
        query = query.where(EvalSample.reward.is_not(None), EvalSample.reward < below)
        order = [EvalSample.reward, EvalSample.seq]
    elif filter_ is not None:
        raise InvalidInput("filter must be 'failed' or 'low_reward'.", code="invalid-filter")
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(query.order_by(*order).offset((page - 1) * per_page)
                      .limit(per_page)).all()
    return [SampleOut.model_validate(body) for body in read_bodies(storage, rows)], total
