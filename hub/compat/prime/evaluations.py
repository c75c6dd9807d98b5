"""`/evaluations`: prime's self-reported evaluation push (create -> samples -> finalize)
and reads, over the hub's evaluations (`hub.evals`).

An evaluation is recorded with `evals.create_uploaded` (no samples yet); each samples
batch is parsed by the evals domain's own `vf-eval` reader and stored with its
`write_batch`, and finalize recomputes the aggregates (`aggregate`): pushed results land
in the same store, leaderboards and statistics as `envhub eval upload`. Until finalize
the evaluation shows as RUNNING here.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from hub.accounts.deps import OptionalPrincipal, WritePrincipal
from hub.accounts.service import Principal
from hub.compat.prime.evalwire import PUSH, environment_by_id, eval_id, evaluation
from hub.compat.prime.route import Db, PrimeRoute, StorageDep
from hub.compat.prime.wire import owner_of
from hub.evals import formats, samples
from hub.evals import service as evals
from hub.kit.db import utcnow
from hub.kit.errors import Conflict, Forbidden, InvalidInput
from hub.registry import catalog
from hub.registry.models import Environment, Version

router = APIRouter(route_class=PrimeRoute, tags=["prime-compat"])
_WINDOW = 1000  # name-only environment filters are applied to this many newest rows


class EvalIn(BaseModel):
    name: str | None = None
    environments: list[dict[str, Any]] | None = None
    model_name: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    run_id: str | None = None


class SamplesIn(BaseModel):
    samples: list[dict[str, Any]] = Field(max_length=100_000)


class FinalizeIn(BaseModel):
    metrics: dict[str, Any] | None = None


class UpdateIn(BaseModel):
    name: str | None = None
    status: str | None = None
    error_message: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None


def _version(db: Db, env: Environment, ref: object) -> Version:
    if ref:
        for v in catalog.versions_of(db, env):
            if str(v.id) == str(ref):
                return v
        return catalog.version_by_ref(db, env, str(ref))
    return catalog.get_version(db, env, "latest")


@router.post("/evaluations/")
@router.post("/evaluations", include_in_schema=False)
def create(body: EvalIn, db: Db, principal: WritePrincipal, storage: StorageDep
           ) -> dict[str, Any]:
    if body.run_id or not body.environments:
        raise InvalidInput("This hub records evaluations of environments: pass --env"
                           " OWNER/NAME (training-run evaluations are not supported).",
                           code="environment-required")
    if not body.model_name:
        raise InvalidInput("model_name is required.", code="invalid-model")
    target = body.environments[0]
    env = environment_by_id(db, principal, target.get("id"))
    version = _version(db, env, target.get("version_id"))
    runtime = version.runtime.value if version.runtime.value in ("v0", "v1") else "v0"
    meta = dict(body.metadata or {})
    parsed = formats.Parsed(runtime=runtime, samples=[], model=body.model_name, meta=meta)
    ev = evals.create_uploaded(db, storage, principal, f"{owner_of(db, env)}/{env.name}",
                               version.version, body.model_name, parsed)
    ev.completed_at = None  # not complete until finalize
    ev.spec = dict(ev.spec) | {PUSH: {"open": True, "name": body.name, "tags": body.tags,
                                      "metrics": body.metrics or {}}}
    return {"evaluation_id": str(ev.id), "id": str(ev.id), "status": "RUNNING"}


def _writable(db: Db, principal: Principal, raw: str) -> evals.Found:
    found = evals.readable_eval(db, principal, eval_id(raw))
    push = found.ev.spec.get(PUSH)
    if found.job is not None or not isinstance(push, dict):
        raise Conflict("Only evaluations created by an eval push take samples.",
                       code="not-a-push")
    if found.ev.created_by != principal.user_id:
        raise Forbidden("Only who created this evaluation may add to it.", code="forbidden")
    if not push.get("open"):
        raise Conflict("This evaluation is already finalized.", code="evaluation-closed")
    return found


def _parse(batch: list[dict[str, Any]]) -> formats.Parsed:
    body = "".join(json.dumps(s, default=str) + "\n" for s in batch).encode()
    if all("task" in s and "traces" in s for s in batch):  # verifiers 0.4 episodes
        return formats.parse_v1(body)
    return formats.parse_v0(body, None)


@router.post("/evaluations/{evaluation_id}/samples")
def push_samples(evaluation_id: str, body: SamplesIn, db: Db, principal: WritePrincipal,
                 storage: StorageDep) -> dict[str, Any]:
    found = _writable(db, principal, evaluation_id)
    if not body.samples:
        return {"samples_pushed": 0}
    # Batches arrive in parallel: the row lock orders them, so rollouts of one example
    # that span batches get consecutive indices instead of colliding.
    db.refresh(found.ev, with_for_update=True)
    taken: dict[str, int] = defaultdict(int)
    for example, rollout in samples.stored_keys(db, found.ev.id):
        taken[example] = max(taken[example], rollout + 1)
    rows = []
    for raw in _parse(body.samples).samples:
        row = samples.normalize(raw)
        row["rollout_index"] += taken[row["example_id"]]
        rows.append(row)
    added = samples.write_batch(db, storage, found.ev.id, f"prime-{uuid.uuid4().hex}", rows)
    return {"samples_pushed": added}


@router.post("/evaluations/{evaluation_id}/finalize")
def finalize(evaluation_id: str, db: Db, principal: WritePrincipal,
             body: FinalizeIn | None = None) -> dict[str, Any]:
    found = _writable(db, principal, evaluation_id)
    samples.aggregate(db, found.ev)
    push = dict(found.ev.spec[PUSH]) | {"open": False}
    if body is not None and body.metrics:
        push["metrics"] = body.metrics
    found.ev.spec = dict(found.ev.spec) | {PUSH: push}
    found.ev.completed_at = utcnow()
    return evaluation(evals.evals_out(db, [found.ev])[0]) | {"success": True}


@router.put("/evaluations/{evaluation_id}")
def update(evaluation_id: str, body: UpdateIn, db: Db, principal: WritePrincipal
           ) -> dict[str, Any]:
    found = _writable(db, principal, evaluation_id)
    push = dict(found.ev.spec[PUSH])
    push |= {k: v for k, v in {"name": body.name, "tags": body.tags, "metrics": body.metrics,
                               "error_message": body.error_message}.items() if v is not None}
    if body.status:
        status = body.status.upper()
        if status not in ("FAILED", "CANCELLED"):
            raise InvalidInput("status may only become FAILED or CANCELLED.",
                               code="invalid-status")
        push |= {"status": status, "open": False}
        found.ev.completed_at = utcnow()
    spec = dict(found.ev.spec) | {PUSH: push}
    if body.metadata:
        spec["uploaded_metadata"] = dict(spec.get("uploaded_metadata") or {}) | body.metadata
    found.ev.spec = spec
    return evaluation(evals.evals_out(db, [found.ev])[0])


@router.get("/evaluations/")
@router.get("/evaluations", include_in_schema=False)
def list_evaluations(db: Db, principal: OptionalPrincipal,
                     skip: Annotated[int, Query(ge=0)] = 0,
                     limit: Annotated[int, Query(ge=1, le=100)] = 50,
                     environment_name: str | None = None) -> dict[str, Any]:
    if environment_name and "/" in environment_name:
        rows, total = evals.list_evals(db, principal, environment=environment_name,
                                       status=None, mine=False, model=None,
                                       page=skip // limit + 1, per_page=limit)
        rows = rows[skip % limit:]
    else:
        # No owner: filter the newest rows by name (the service filters by owner/name).
        rows, _ = evals.list_evals(db, principal, environment=None, status=None, mine=False,
                                   model=None, page=1, per_page=_WINDOW)
        if environment_name:
            wanted = environment_name.lower()
            rows = [r for r in rows if r.environment_id in _named(db, rows, wanted)]
        total, rows = len(rows), rows[skip:skip + limit]
    out = [evaluation(e) for e in evals.evals_out(db, rows)]
    return {"evaluations": out, "total": total, "skip": skip, "limit": limit}


def _named(db: Db, rows: list[Any], name: str) -> set[uuid.UUID]:
    ids = {r.environment_id for r in rows}
    return {i for i in ids
            if (env := catalog.environment_by_id(db, i)) is not None
            and name in (env.name.lower(), env.normalized_name)}


@router.get("/evaluations/{evaluation_id}")
def get_evaluation(evaluation_id: str, db: Db, principal: OptionalPrincipal) -> dict[str, Any]:
    found = evals.readable_eval(db, principal, eval_id(evaluation_id))
    return evaluation(evals.evals_out(db, [found.ev])[0])


@router.get("/evaluations/{evaluation_id}/samples")
def get_samples(evaluation_id: str, db: Db, principal: OptionalPrincipal, storage: StorageDep,
                page: Annotated[int, Query(ge=1)] = 1,
                limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    found = evals.readable_eval(db, principal, eval_id(evaluation_id))
    items, total = evals.samples_page(db, storage, found.ev, page=page, per_page=limit,
                                      filter_=None, below=0.5)
    return {"samples": [s.model_dump(mode="json") for s in items], "total": total,
            "page": page, "limit": limit}
