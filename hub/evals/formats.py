"""Reading `vf-eval` output of either verifiers generation into the hub's sample schema.

v0 (verifiers 0.1.x): `metadata.json` + `results.jsonl`, one row per rollout with
`example_id`, `reward`, `metrics`, `prompt`, `completion`, `answer`, optional `error`
and `token_usage`; rollouts of one example share its `example_id` and are numbered here
in file order. v1 (0.4.x): `traces.jsonl`, one episode per line with `task`, `ok`,
`errors` and `traces` (each with `rewards`, `metrics`, model `calls` and their usage).
Parsing is lenient about extra fields and strict about what the leaderboard needs.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hub.kit.errors import InvalidInput

MAX_LINES = 200_000


@dataclass
class Parsed:
    runtime: str  # v0 | v1
    samples: list[dict[str, Any]]
    model: str | None = None
    env_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _lines(data: bytes, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        if number > MAX_LINES:
            raise InvalidInput(f"{name} has more than {MAX_LINES} lines.", code="upload-too-big")
        try:
            row = json.loads(line)
        except ValueError:
            raise InvalidInput(f"{name} line {number} is not JSON.",
                               code="invalid-eval-output") from None
        if not isinstance(row, dict):
            raise InvalidInput(f"{name} line {number} is not an object.",
                               code="invalid-eval-output")
        yield number, row


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _numbered(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each rollout of an example its index, in file order."""
    seen: dict[str, int] = defaultdict(int)
    out = []
    for row in rows:
        key = str(row["example_id"])
        row["rollout_index"] = seen[key]
        seen[key] += 1
        out.append(row)
    return out


def _v0_error(value: Any) -> str | None:
    if value in (None, "", {}):
        return None
    if isinstance(value, dict):
        return str(value.get("error") or value.get("error_chain_str") or value)
    return str(value)


def parse_v0(results: bytes, metadata: bytes | None) -> Parsed:
    meta: dict[str, Any] = {}
    if metadata:
        try:
            loaded = json.loads(metadata)
        except ValueError:
            raise InvalidInput("metadata.json is not JSON.", code="invalid-eval-output") from None
        meta = loaded if isinstance(loaded, dict) else {}
    rows: list[dict[str, Any]] = []
    for number, row in _lines(results, "results.jsonl"):
        if "example_id" not in row and "id" not in row:
            raise InvalidInput(f"results.jsonl line {number} has no example_id.",
                               code="invalid-eval-output")
        usage = _obj(row.get("token_usage"))
        timing = _obj(row.get("timing"))
        latency = row.get("total_ms")
        rows.append({
            "example_id": row.get("example_id", row.get("id")),
            "prompt": row.get("prompt"), "completion": row.get("completion"),
            "answer": row.get("answer"), "reward": row.get("reward"),
            "metrics": row.get("metrics") if isinstance(row.get("metrics"), dict) else {},
            "tokens_in": usage.get("input_tokens"), "tokens_out": usage.get("output_tokens"),
            "latency_s": latency / 1000 if isinstance(latency, int | float)
            else _span(timing.get("generation")),
            "error": _v0_error(row.get("error")),
        })
    if not rows:
        raise InvalidInput("results.jsonl has no rollouts.", code="invalid-eval-output")
    model = meta.get("model") if isinstance(meta.get("model"), str) else None
    env_id = meta.get("env_id") or meta.get("env")
    return Parsed("v0", _numbered(rows), model, str(env_id) if env_id else None, meta)


def _span(span: Any) -> float | None:
    if isinstance(span, dict):
        start, end = span.get("start"), span.get("end")
        if isinstance(start, int | float) and isinstance(end, int | float) and end >= start:
            return float(end - start)
    return None


def _text_of(node: Any) -> Any:
    if isinstance(node, dict):
        message = _obj(node.get("message")) or node
        return message.get("content")
    return None


def parse_v1(traces: bytes) -> Parsed:
    rows: list[dict[str, Any]] = []
    model: str | None = None
    env_id: str | None = None
    for number, episode in _lines(traces, "traces.jsonl"):
        task = _obj(episode.get("task"))
        if not task:
            raise InvalidInput(f"traces.jsonl line {number} has no task.",
                               code="invalid-eval-output")
        data = _obj(task.get("data"))
        example = task.get("key") or task.get("hash") or data.get("id") or data.get("example_id")
        if example is None:
            example = json.dumps(data, sort_keys=True)[:200]
        traces_ = [t for t in episode.get("traces") or [] if isinstance(t, dict)]
        root = traces_[0] if traces_ else {}
        rewards = _obj(root.get("rewards"))
        reward = sum(float(r.get("score", 0.0)) * float(r.get("weight", 1.0))
                     for r in rewards.values() if isinstance(r, dict)) if rewards else None
        tokens_in = tokens_out = 0
        model_calls = 0
        for trace in traces_:
            for call in trace.get("calls") or []:
                usage = call.get("usage") if isinstance(call, dict) else None
                model = model or (call.get("model") if isinstance(call, dict) else None)
                if isinstance(usage, dict):
                    model_calls += 1
                    tokens_in += int(usage.get("prompt_tokens") or 0)
                    tokens_out += int(usage.get("completion_tokens") or 0)
        errors = [e for e in (episode.get("errors") or root.get("errors") or [])
                  if isinstance(e, dict)]
        ok = bool(episode.get("ok", root.get("ok", False)))
        error = None
        if not ok:
            last = errors[-1] if errors else {}
            error = f"{last.get('type', 'error')}: {last.get('message', 'rollout failed')}"
        nodes = root.get("nodes") if isinstance(root.get("nodes"), list) else []
        env = _obj(episode.get("env"))
        env_id = env_id or env.get("id") or None
        timing = _obj(root.get("timing"))
        rows.append({
            "example_id": example,
            "prompt": data.get("prompt", data.get("question")),
            "completion": root.get("root_reply") or (_text_of(nodes[-1]) if nodes else None),
            "answer": data.get("answer"), "reward": reward if ok else None,
            "metrics": root.get("metrics") if isinstance(root.get("metrics"), dict) else {},
            "tokens_in": tokens_in if model_calls else None,
            "tokens_out": tokens_out if model_calls else None,
            "latency_s": _span(timing.get("agent")), "error": error,
        })
    if not rows:
        raise InvalidInput("traces.jsonl has no episodes.", code="invalid-eval-output")
    return Parsed("v1", _numbered(rows), model, env_id)
