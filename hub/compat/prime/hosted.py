"""`/hosted-evaluations`: `prime eval run --hosted`, `eval logs`, `eval stop`, over the
hub's hosted evaluations (a job per run, executed by the workers)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from hub.accounts.deps import OptionalPrincipal, WritePrincipal
from hub.compat.prime.evalwire import environment_by_id, eval_id
from hub.compat.prime.route import Db, PrimeRoute, StorageDep
from hub.compat.prime.wire import owner_of
from hub.evals import service as evals
from hub.evals.schemas import EvalCreate
from hub.jobs import service as jobs
from hub.jobs.deps import DispatcherDep, JobSettingsDep
from hub.kit.errors import InvalidInput

router = APIRouter(route_class=PrimeRoute, tags=["prime-compat"])
_MAX_LOG = 4 << 20


class HostedIn(BaseModel):
    environment_ids: list[str] = Field(min_length=1, max_length=20)
    inference_model: str = Field(min_length=1, max_length=200)
    eval_config: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None


def _int(config: dict[str, Any], key: str, default: int) -> int:
    value = config.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"eval_config.{key} must be an integer.", code="invalid-config")
    return value


@router.post("/hosted-evaluations", status_code=201)
def create(body: HostedIn, db: Db, principal: WritePrincipal, settings: JobSettingsDep,
           dispatcher: DispatcherDep) -> dict[str, Any]:
    """One hosted evaluation per environment, each on that environment's latest version."""
    config = body.eval_config
    timeout = config.get("timeout_minutes")
    ids = []
    for raw in body.environment_ids:
        env = environment_by_id(db, principal, raw)
        spec = EvalCreate(
            environment=f"{owner_of(db, env)}/{env.name}", version="latest",
            model=body.inference_model, num_examples=_int(config, "num_examples", 5),
            rollouts_per_example=_int(config, "rollouts_per_example", 1),
            sampling_args=config.get("sampling_args") or {},
            env_args=config.get("env_args") or {},
            max_concurrency=_int(config, "max_concurrent", 4),
            **({"timeout_s": float(timeout) * 60} if isinstance(timeout, int | float) else {}),
        )
        ids.append(str(evals.create_hosted(db, settings, principal, spec, dispatcher).id))
    return {"evaluation_id": ids[0], "evaluation_ids": ids}


@router.get("/hosted-evaluations/{evaluation_id}/logs")
def logs(evaluation_id: str, db: Db, principal: OptionalPrincipal, storage: StorageDep,
         offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    found = evals.readable_eval(db, principal, eval_id(evaluation_id))
    if found.job is None:
        return {"logs": "", "complete": True}
    piece = jobs.read_log(db, storage, found.job, offset, _MAX_LOG)
    return {"logs": piece.text, "offset": piece.offset, "next_offset": piece.next_offset,
            "complete": piece.complete}


@router.patch("/hosted-evaluations/{evaluation_id}/cancel")
def cancel(evaluation_id: str, db: Db, principal: WritePrincipal) -> dict[str, Any]:
    found = evals.readable_eval(db, principal, eval_id(evaluation_id))
    changed = evals.cancel(db, principal, found)
    message = "Evaluation cancelled." if changed else "The evaluation had already ended."
    return {"message": message, "evaluation_id": str(found.ev.id), "cancelled": changed}
