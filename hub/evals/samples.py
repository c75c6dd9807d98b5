"""Samples: one normalized schema for both verifiers generations, stored as JSONL chunks in
object storage plus an index row each; aggregates are computed from those rows.

Storage has no append, so a running job writes a new chunk per batch
(`evals/<id>/samples/<attempt>-<seq>.jsonl`) and commits the batch's index rows right
after. A chunk whose rows never committed (the worker died in between) is simply never
referenced; a sample that is already indexed is skipped, so a retried job never stores
a sample twice.
"""

from __future__ import annotations

import io
import json
import math
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from hub.evals.models import EvalSample, Evaluation
from hub.kit.errors import InvalidInput
from hub.kit.storage import Storage
from hub.leaderboards import stats

MAX_ERROR_CHARS = 2000
MAX_EXAMPLE_ID = 200
SampleKey = tuple[str, int]


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return None if number is None else int(number)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate and coerce one sample to the hub's schema. Raises InvalidInput."""
    example = raw.get("example_id")
    if example is None or isinstance(example, dict | list):
        raise InvalidInput("a sample needs a scalar example_id", code="invalid-sample")
    example_id = str(example)[:MAX_EXAMPLE_ID]
    rollout = raw.get("rollout_index", 0)
    if isinstance(rollout, bool) or not isinstance(rollout, int) or rollout < 0:
        raise InvalidInput("rollout_index must be an integer >= 0", code="invalid-sample")
    error = raw.get("error")
    metrics = raw.get("metrics") or {}
    return {
        "example_id": example_id,
        "rollout_index": rollout,
        "prompt": raw.get("prompt"),
        "completion": raw.get("completion"),
        "answer": raw.get("answer"),
        "reward": _num(raw.get("reward")),
        "metrics": {str(k): v for k, v in metrics.items() if _num(v) is not None}
        if isinstance(metrics, dict) else {},
        "tokens_in": _int(raw.get("tokens_in")),
        "tokens_out": _int(raw.get("tokens_out")),
        "latency_s": _num(raw.get("latency_s")),
        "error": None if error in (None, "") else str(error)[:MAX_ERROR_CHARS],
    }


def stored_keys(db: Session, eval_id: uuid.UUID) -> set[SampleKey]:
    rows = db.execute(select(EvalSample.example_id, EvalSample.rollout_index)
                      .where(EvalSample.eval_id == eval_id)).tuples().all()
    return {(e, r) for e, r in rows}


def write_batch(db: Session, storage: Storage, eval_id: uuid.UUID, tag: str,
                samples: list[dict[str, Any]]) -> int:
    """Write one chunk + its index rows (flushed, not committed); returns rows added."""
    if not samples:
        return 0
    key = f"evals/{eval_id}/samples/{tag}.jsonl"
    body = "".join(json.dumps(s, default=str) + "\n" for s in samples).encode()
    storage.put_stream(key, io.BytesIO(body), content_type="application/x-ndjson")
    last = db.scalar(select(func.max(EvalSample.seq)).where(EvalSample.eval_id == eval_id))
    first = 0 if last is None else int(last) + 1
    rows = [{"eval_id": eval_id, "example_id": s["example_id"],
             "rollout_index": s["rollout_index"], "seq": first + i,
             "reward": s["reward"], "error": s["error"], "metrics": s["metrics"],
             "tokens_in": s["tokens_in"], "tokens_out": s["tokens_out"],
             "latency_s": s["latency_s"], "chunk_key": key, "line": i}
            for i, s in enumerate(samples)]
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    # The primary key is the sample identity: a duplicate is dropped, never stored twice.
    result = db.execute(insert(EvalSample).values(rows).on_conflict_do_nothing(
        index_elements=["eval_id", "example_id", "rollout_index"]))
    db.flush()
    return int(getattr(result, "rowcount", len(rows)) or 0)


class SampleWriter:
    """Buffers samples from a runner thread and commits them in batches (own sessions)."""

    def __init__(self, sessions: sessionmaker[Session], storage: Storage, eval_id: uuid.UUID,
                 attempt: int, *, batch: int = 25) -> None:
        self._sessions = sessions
        self._storage = storage
        self._eval_id = eval_id
        self._attempt = attempt
        self._batch = batch
        self._lock = threading.Lock()
        self._buffer: list[dict[str, Any]] = []
        self._chunk = 0
        with sessions() as db:
            self.seen: set[SampleKey] = stored_keys(db, eval_id)
        self.resumed = len(self.seen)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.seen)

    def add(self, raw: dict[str, Any]) -> bool:
        """Queue a sample; False (ignored) when it is already stored or queued."""
        sample = normalize(raw)
        key = (sample["example_id"], sample["rollout_index"])
        with self._lock:
            if key in self.seen:
                return False
            self.seen.add(key)
            self._buffer.append(sample)
            full = len(self._buffer) >= self._batch
        if full:
            self.flush()
        return True

    def flush(self) -> None:
        with self._lock:
            batch, self._buffer = self._buffer, []
            self._chunk += 1
            tag = f"{self._attempt:03d}-{self._chunk:06d}"
        if not batch:
            return
        with self._sessions() as db:
            write_batch(db, self._storage, self._eval_id, tag, batch)
            db.commit()


# -- reading ----------------------------------------------------------------------------

def read_bodies(storage: Storage, rows: Iterable[EvalSample]) -> list[dict[str, Any]]:
    """The stored JSON of each row, in the rows' order (one read per chunk)."""
    rows = list(rows)
    wanted: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        wanted[row.chunk_key].add(row.line)
    lines: dict[tuple[str, int], dict[str, Any]] = {}
    for key, numbers in wanted.items():
        try:
            with storage.open(key) as fh:
                for number, line in enumerate(fh):
                    if number in numbers:
                        lines[(key, number)] = json.loads(line)
        except FileNotFoundError:
            continue
    return [lines.get((r.chunk_key, r.line)) or {"example_id": r.example_id,
            "rollout_index": r.rollout_index, "reward": r.reward, "error": r.error}
            for r in rows]


# -- aggregates -------------------------------------------------------------------------

def aggregate(db: Session, ev: Evaluation) -> None:
    """Compute the evaluation's aggregates from its sample rows. An errored rollout scores
    0 (it is the model's/environment's failure, and dropping it would flatter the row)."""
    rows = db.execute(select(EvalSample.example_id, EvalSample.reward, EvalSample.error,
                             EvalSample.tokens_in, EvalSample.tokens_out, EvalSample.metrics)
                      .where(EvalSample.eval_id == ev.id)).tuples().all()
    by_example: dict[str, list[float]] = defaultdict(list)
    metric_values: dict[str, list[float]] = defaultdict(list)
    errors = tokens_in = tokens_out = with_tokens = 0
    for example_id, reward, error, t_in, t_out, metrics in rows:
        for name, value in (metrics or {}).items():
            metric_values[name].append(float(value))
        failed = error is not None or reward is None
        errors += failed
        by_example[example_id].append(0.0 if failed or reward is None else reward)
        if t_in is not None or t_out is not None:
            with_tokens += 1
            tokens_in += t_in or 0
            tokens_out += t_out or 0
    ev.metrics = {name: math.fsum(v) / len(v) for name, v in sorted(metric_values.items())}
    ev.n_samples = len(rows)
    ev.n_errors = errors
    ev.n_examples = len(by_example)
    ev.rollouts_per_example = min((len(v) for v in by_example.values()), default=0)
    ev.tokens_in, ev.tokens_out = tokens_in, tokens_out
    ev.mean_tokens = (tokens_in + tokens_out) / with_tokens if with_tokens else None
    if by_example:
        iv = stats.mean_reward_ci(by_example, seed=0)
        ev.mean_reward, ev.ci_low, ev.ci_high = iv.mean, iv.low, iv.high
        k = ev.rollouts_per_example
        # pass@k with k = rollouts per example, where there is more than one rollout.
        ev.pass_at_k = stats.mean_pass_at_k(by_example, k) if k > 1 else None
    else:
        ev.mean_reward = ev.ci_low = ev.ci_high = ev.pass_at_k = None
    db.flush()
