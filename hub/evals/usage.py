"""The model gateway's per-request usage of hosted runs: recorded when an attempt ends,
read back as a summary plus a page of requests.

The gateway also writes one line per request to the job log as it happens (what users tail
while a job runs); these rows are the queryable record. An attempt that dies with its
worker leaves only its log lines: its requests are not re-recorded by the next attempt,
which counts its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.evals.models import EvalModelRequest, Evaluation
from hub.evals.schemas import ModelRequestOut, UsageSummary

ERROR_CHARS = 500


@dataclass(frozen=True)
class ModelRequestUsage:
    """What the worker reports per gateway request (mirrors the gateway's UsageRecord,
    which the hub cannot import)."""

    request_index: int
    status: int
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    stream: bool = False
    estimated: bool = False
    error: str | None = None


def record(db: Session, eval_id: uuid.UUID, attempt: int,
           usage: Iterable[ModelRequestUsage]) -> int:
    """Store one attempt's requests, replacing any this attempt stored before (idempotent
    when a finalize is repeated). Returns how many were stored."""
    db.execute(delete(EvalModelRequest).where(EvalModelRequest.eval_id == eval_id,
                                              EvalModelRequest.attempt == attempt))
    rows = [EvalModelRequest(
        eval_id=eval_id, attempt=attempt, request_index=u.request_index, status=u.status,
        prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens,
        latency_s=u.latency_s, stream=u.stream, estimated=u.estimated,
        error=u.error[:ERROR_CHARS] if u.error else None) for u in usage]
    db.add_all(rows)
    return len(rows)


def summary(db: Session, ev: Evaluation) -> UsageSummary:
    r = EvalModelRequest
    row = db.execute(select(
        func.count(), func.coalesce(func.sum(r.prompt_tokens), 0),
        func.coalesce(func.sum(r.completion_tokens), 0),
        func.count().filter(r.status >= 400), func.count().filter(r.estimated),
        func.count(func.distinct(r.attempt)),
    ).where(r.eval_id == ev.id)).one()
    latencies = sorted(db.scalars(select(r.latency_s).where(
        r.eval_id == ev.id, r.status < 400)))
    return UsageSummary(
        requests=row[0], prompt_tokens=row[1], completion_tokens=row[2], refused=row[3],
        estimated=row[4], attempts=row[5], latency_p50_s=_quantile(latencies, 0.5),
        latency_p95_s=_quantile(latencies, 0.95))


def page(db: Session, ev: Evaluation, *, page_no: int, per_page: int
         ) -> list[ModelRequestOut]:
    rows = db.scalars(select(EvalModelRequest).where(EvalModelRequest.eval_id == ev.id)
                      .order_by(EvalModelRequest.attempt, EvalModelRequest.request_index)
                      .offset((page_no - 1) * per_page).limit(per_page))
    return [ModelRequestOut.model_validate(row, from_attributes=True) for row in rows]


def _quantile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank quantile: an observed latency, never an interpolated one."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 1))  # ceil(n*q), at least 1
    return sorted_values[int(rank) - 1]
