"""The hub's evaluations in the shapes prime-evals reads, and the environment an
evaluation names (by id, as the client sends it)."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from sqlalchemy.orm import Session

from hub.accounts.service import Principal
from hub.compat.prime.route import iso
from hub.evals import service as evals
from hub.evals.schemas import EvalOut
from hub.kit.errors import NotFound
from hub.registry import catalog
from hub.registry.access import can_read
from hub.registry.models import Environment

# Our job states -> prime's evaluation statuses.
STATUS = {"queued": "PENDING", "running": "RUNNING", "succeeded": "COMPLETED",
          "failed": "FAILED", "cancelled": "CANCELLED", "timed_out": "TIMEOUT"}
# Where an uploaded evaluation keeps the prime push's own state, inside its spec.
PUSH = "prime_push"


def environment_by_id(db: Session, principal: Principal | None, raw: object) -> Environment:
    """An existing environment the caller may read; a reservation id (from resolve) is not
    one, so an eval push never creates or even reveals an environment."""
    env = None
    with contextlib.suppress(ValueError):
        env = catalog.environment_by_id(db, uuid.UUID(str(raw)))
    if env is None or not can_read(db, env, principal):
        raise NotFound(f"Environment '{raw}' does not exist on this hub (or you may not see"
                       " it). Push it first with `prime env push`.",
                       code="environment-not-found")
    return env


def eval_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise evals.eval_not_found(raw) from None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def status_of(out: EvalOut) -> str:
    push = out.spec.get(PUSH) if isinstance(out.spec.get(PUSH), dict) else None
    if push is not None:
        return str(push.get("status") or ("RUNNING" if push.get("open") else "COMPLETED"))
    return STATUS.get(out.status, out.status.upper())


def evaluation(out: EvalOut) -> dict[str, Any]:
    spec, agg = out.spec, out.aggregates
    push = _dict(spec.get(PUSH))
    uploaded = _dict(spec.get("uploaded_metadata"))
    metadata = dict(uploaded) | {
        "num_examples": agg.n_examples or spec.get("num_examples"),
        "rollouts_per_example": agg.rollouts_per_example or spec.get("rollouts_per_example"),
    }
    metrics = dict(agg.metrics) | {"mean_reward": agg.mean_reward, "ci_low": agg.ci_low,
                                   "ci_high": agg.ci_high, "pass_at_k": agg.pass_at_k}
    return {
        "evaluation_id": str(out.id), "id": str(out.id),
        "name": push.get("name") or f"{out.environment}--{out.model}",
        "environment_names": [out.environment], "environment_version": out.version,
        "content_hash": out.content_hash, "model_name": out.model, "status": status_of(out),
        "is_hosted": out.source == "hosted", "verified": out.verified,
        "error_message": out.error_message, "metadata": metadata, "metrics": metrics,
        "reported_metrics": push.get("metrics") or {}, "tags": push.get("tags") or [],
        "total_samples": agg.n_samples, "n_errors": agg.n_errors,
        "created_at": iso(out.created_at), "completed_at": iso(out.completed_at),
        "created_by": out.created_by,
    }
