"""Native `vf-eval` output of both verifiers generations -> `Sample`s. Pure functions.

v0 (verifiers 0.1.x) writes `results.jsonl` (one row per rollout) + `metadata.json`. The
row shape changed within 0.1.x, and every shape is read here (fixtures of each, made by
the real `vf-eval`, are in tests/workers/evals/fixtures/):
- 0.1.9: `example_id, prompt, completion, task, reward, error (repr string),
  generation_ms, scoring_ms, total_ms, [answer], [info]` plus one top-level column per
  reward function (their names are the keys of the metadata's `avg_metrics`).
- 0.1.10: as 0.1.14 below, but `timing {generation_ms, scoring_ms, total_ms}`.
- 0.1.14: `example_id, prompt, completion, [answer], reward, error ({error,
  error_chain_repr, error_chain_str} | null; the repr is kept: it has the messages),
  timing {generation: {start, end, duration}, ...}, metrics {name: score},
  token_usage {input_tokens, output_tokens}, is_completed, is_truncated, stop_condition`
  (metrics are also flattened to the top).
Rollouts of one example share its `example_id`; they are numbered in file order.

v1 (verifiers 0.4.x) writes `traces.jsonl`: one *episode* per line (`task {key, hash,
data}, ok, is_timeout, errors, traces[]`), each trace with its message graph `nodes`,
model `calls` (with provider `usage`), `rewards {name: {score, weight}}`, `metrics`,
`ok`, `errors` and `timing`. An episode has one trace per agent seat.

The hosted harnesses emit these same native rows (plus the rollout index they assigned),
so hosted runs and self-reported uploads go through one code path.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from workers.evals.spec import MAX_ERROR_CHARS, Sample

# Top-level 0.1.x columns that are not metrics (used when a row carries no `metrics` dict
# and no metadata names them).
_V0_KNOWN = frozenset({
    "example_id", "id", "prompt", "completion", "answer", "task", "info", "reward",
    "error", "error_chain", "long_error_chain", "generation_ms", "scoring_ms", "total_ms",
    "timing", "is_completed", "is_truncated", "stop_condition", "metrics", "token_usage",
    "tool_defs", "oai_tools", "trajectory", "responses", "rollout_index",
})


class NormalizeError(ValueError):
    """A row cannot be read as a rollout (not an object, or no example identity)."""


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _span_s(span: Any) -> float | None:
    span = _dict(span)
    duration = _num(span.get("duration"))
    if duration is not None and duration > 0:
        return duration
    start, end = _num(span.get("start")), _num(span.get("end"))
    if start is not None and end is not None and end >= start > 0:
        return end - start
    return None


def _clip(text: str) -> str:
    return text[:MAX_ERROR_CHARS]


def _example_key(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        raise NormalizeError(f"no scalar example id: {value!r:.80}")
    return str(value)


# -- v0 ------------------------------------------------------------------------------


def _v0_error(value: Any) -> str | None:
    if value in (None, "", {}, []):
        return None
    if isinstance(value, dict):
        # 0.1.10+ ErrorInfo: the chain's repr carries each exception's message (its str
        # is only the type names, "ModelError -> BadRequestError").
        text = (value.get("error_chain_repr") or value.get("error_chain_str")
                or value.get("error") or json.dumps(value))
        return _clip(str(text))
    return _clip(str(value))


def _v0_metrics(row: Mapping[str, Any], metric_names: Iterable[str] | None) -> dict[str, float]:
    nested = row.get("metrics")
    if isinstance(nested, dict):
        source: Iterable[tuple[str, Any]] = nested.items()
    elif metric_names is not None:
        source = ((name, row.get(name)) for name in metric_names)
    else:
        source = ((k, v) for k, v in row.items() if k not in _V0_KNOWN)
    return {str(k): f for k, v in source if (f := _num(v)) is not None}


def normalize_v0_row(row: Mapping[str, Any], rollout_index: int,
                     metric_names: Iterable[str] | None = None) -> Sample:
    """One `results.jsonl` row (any 0.1.x shape) with its rollout index."""
    if not isinstance(row, Mapping):
        raise NormalizeError("a results.jsonl row must be an object")
    example = row.get("example_id", row.get("id"))
    usage = _dict(row.get("token_usage"))
    tokens_in, tokens_out = _num(usage.get("input_tokens")), _num(usage.get("output_tokens"))
    timing = _dict(row.get("timing"))
    latency = _span_s(timing.get("generation"))  # 0.1.11+
    if latency is None:  # 0.1.10 nests the ms figures, 0.1.9 has them at the top
        generation_ms = _num(timing.get("generation_ms", row.get("generation_ms")))
        latency = None if generation_ms is None else generation_ms / 1000.0
    return Sample(
        example_id=_example_key(example),
        rollout_index=rollout_index,
        prompt=row.get("prompt"),
        completion=row.get("completion"),
        answer=row.get("answer"),
        reward=_num(row.get("reward")),
        metrics=_v0_metrics(row, metric_names),
        tokens_in=None if tokens_in is None else int(tokens_in),
        tokens_out=None if tokens_out is None else int(tokens_out),
        latency_s=latency,
        error=_v0_error(row.get("error")),
    )


def v0_metric_names(metadata: Mapping[str, Any] | None) -> list[str] | None:
    """The reward-function names a 0.1.x `metadata.json` lists (its `avg_metrics` keys)."""
    names = _dict(metadata).get("avg_metrics") if metadata else None
    return [str(k) for k in names] if isinstance(names, dict) else None


def normalize_v0_rows(rows: Iterable[Mapping[str, Any]],
                      metadata: Mapping[str, Any] | None = None) -> list[Sample]:
    """Parsed `results.jsonl` rows (+ parsed `metadata.json`) -> samples, rollouts of an
    example numbered 0.. in file order."""
    names = v0_metric_names(metadata)
    seen: dict[str, int] = defaultdict(int)
    samples = []
    for row in rows:
        if not isinstance(row, Mapping):
            raise NormalizeError("a results.jsonl row must be an object")
        key = _example_key(row.get("example_id", row.get("id")))
        samples.append(normalize_v0_row(row, seen[key], names))
        seen[key] += 1
    return samples


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Objects of a JSONL file; blank lines skipped, anything else malformed raises."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise NormalizeError(f"{path.name} line {number} is not JSON") from exc
            if not isinstance(row, dict):
                raise NormalizeError(f"{path.name} line {number} is not an object")
            rows.append(row)
    return rows


def normalize_v0_results(results_path: Path, metadata_path: Path | None = None) -> list[Sample]:
    """A v0 `vf-eval` output directory's `results.jsonl` (+ `metadata.json`)."""
    metadata = None
    if metadata_path is not None and metadata_path.exists():
        loaded = json.loads(metadata_path.read_text(encoding="utf-8"))
        metadata = loaded if isinstance(loaded, dict) else None
    return normalize_v0_rows(read_jsonl(results_path), metadata)


# -- v1 ------------------------------------------------------------------------------


def v1_example_id(episode: Mapping[str, Any]) -> str:
    """A v1 task's identity: `task.key` (stable and unique within a taskset by contract),
    else its content hash, else the author's `data.id`, else its position."""
    task = _dict(episode.get("task"))
    data = _dict(task.get("data"))
    for value in (task.get("key"), task.get("hash"), data.get("id"), data.get("idx")):
        if value is not None and not isinstance(value, dict | list) and str(value):
            return str(value)
    raise NormalizeError("a traces.jsonl episode has no task key, hash, id or idx")


def _split_messages(trace: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    """The trace's message graph as (prompt, completion): everything before the first
    model-sampled message is the prompt."""
    nodes = [n for n in trace.get("nodes") or [] if isinstance(n, dict)]
    first = next((i for i, n in enumerate(nodes) if n.get("sampled")), len(nodes))
    messages = [n.get("message") for n in nodes]
    return messages[:first], messages[first:]


def _v1_error(episode: Mapping[str, Any], traces: list[dict[str, Any]]) -> str | None:
    ok = episode.get("ok")
    if ok is None:
        ok = bool(traces) and all(t.get("ok") for t in traces)
    if ok:
        return None
    errors = [e for e in episode.get("errors") or [] if isinstance(e, dict)]
    for trace in traces:
        errors += [e for e in trace.get("errors") or [] if isinstance(e, dict)]
    if errors:
        last = errors[-1]
        return _clip(f"{last.get('type', 'Error')}: {last.get('message', '')}".rstrip(": "))
    if episode.get("is_timeout") or any(t.get("is_timeout") for t in traces):
        return "timeout: a stage deadline expired"
    return "rollout did not complete"


def normalize_v1_episode(episode: Mapping[str, Any], rollout_index: int) -> Sample:
    """One `traces.jsonl` episode with its rollout index."""
    if not isinstance(episode, Mapping):
        raise NormalizeError("a traces.jsonl row must be an object")
    data = _dict(_dict(episode.get("task")).get("data"))
    traces = [t for t in episode.get("traces") or [] if isinstance(t, dict)]
    rewards: list[float] = []
    metric_values: dict[str, list[float]] = defaultdict(list)
    tokens_in = tokens_out = 0
    usage_seen = False
    starts: list[float] = []
    ends: list[float] = []
    for trace in traces:
        scored = {k: r for k, r in _dict(trace.get("rewards")).items() if isinstance(r, dict)}
        values = [(_num(r.get("score")), _num(r.get("weight", 1.0))) for r in scored.values()]
        if scored:
            rewards.append(sum((s or 0.0) * (w if w is not None else 1.0) for s, w in values))
        for name, r in scored.items():
            if (score := _num(r.get("score"))) is not None:
                metric_values[str(name)].append(score)
        for name, value in _dict(trace.get("metrics")).items():
            if (number := _num(value)) is not None:
                metric_values[str(name)].append(number)
        for call in trace.get("calls") or []:
            usage = _dict(_dict(call).get("usage"))
            if usage:
                usage_seen = True
                tokens_in += int(_num(usage.get("prompt_tokens")) or 0)
                tokens_out += int(_num(usage.get("completion_tokens")) or 0)
        agent = _dict(_dict(trace.get("timing")).get("agent"))
        start, end = _num(agent.get("start")), _num(agent.get("end"))
        if start and end and end >= start:
            starts.append(start)
            ends.append(end)
    if not usage_seen:  # fall back to the episode's own computed counts
        tokens_in = int(_num(episode.get("num_input_tokens")) or 0)
        tokens_out = int(_num(episode.get("num_output_tokens")) or 0)
        usage_seen = "num_input_tokens" in episode
    prompt: Any = data.get("prompt")
    completion: Any = None
    if traces:
        messages_in, messages_out = _split_messages(traces[0])
        prompt = messages_in or prompt
        completion = messages_out or traces[0].get("root_reply")
    return Sample(
        example_id=v1_example_id(episode),
        rollout_index=rollout_index,
        prompt=prompt,
        completion=completion,
        answer=data.get("answer"),
        # Several seats (e.g. best-of-n): the mean of their rewards, as vf-eval shows.
        reward=sum(rewards) / len(rewards) if rewards else None,
        metrics={k: sum(v) / len(v) for k, v in metric_values.items()},
        tokens_in=tokens_in if usage_seen else None,
        tokens_out=tokens_out if usage_seen else None,
        latency_s=max(ends) - min(starts) if starts else None,
        error=_v1_error(episode, traces),
    )


def normalize_v1_rows(rows: Iterable[Mapping[str, Any]]) -> list[Sample]:
    """Parsed `traces.jsonl` episodes -> samples, numbered per task in file order."""
    seen: dict[str, int] = defaultdict(int)
    samples = []
    for row in rows:
        if not isinstance(row, Mapping):
            raise NormalizeError("a traces.jsonl row must be an object")
        key = v1_example_id(row)
        samples.append(normalize_v1_episode(row, seen[key]))
        seen[key] += 1
    return samples


def normalize_v1_traces(traces_path: Path) -> list[Sample]:
    """A v1 `vf-eval` run directory's `traces.jsonl`."""
    return normalize_v1_rows(read_jsonl(traces_path))
