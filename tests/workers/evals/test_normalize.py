"""Normalizers over REAL `vf-eval` output (tests/workers/evals/fixtures/, see its README):
verifiers 0.1.9, 0.1.10, 0.1.14 and 0.4.0 against the SmolLM2-135M model (which gets
every sum wrong: reward 0.0) and against a dead endpoint (every rollout failed)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from workers.evals import (
    NormalizeError,
    Sample,
    normalize_v0_results,
    normalize_v0_rows,
    normalize_v1_rows,
    normalize_v1_traces,
)
from workers.evals.normalize import normalize_v1_episode, read_jsonl

FIXTURES = Path(__file__).parent / "fixtures"
V0_VERSIONS = ["0.1.9", "0.1.10", "0.1.14"]


def v0(name: str) -> list[Sample]:
    return normalize_v0_results(FIXTURES / name / "results.jsonl",
                                FIXTURES / name / "metadata.json")


@pytest.mark.parametrize("version", V0_VERSIONS)
def test_v0_real_model_run(version: str) -> None:
    samples = v0(f"v0-{version}")
    assert [s.key for s in samples] == [(e, r) for e in "012" for r in (0, 1)]
    for sample in samples:
        assert sample.error is None and sample.reward == 0.0
        assert sample.metrics["correct_answer"] == 0.0 and sample.metrics["num_turns"] == 1.0
        assert sample.answer in {"19", "83", "63"}
        assert sample.prompt[0]["role"] == "system" and sample.prompt[1]["role"] == "user"
        assert sample.completion[-1]["role"] == "assistant"
        assert sample.latency_s is not None and 0 < sample.latency_s < 600
        if version != "0.1.9":  # 0.1.9 wrote no token counts
            assert sample.tokens_in is not None and sample.tokens_in > 30
            assert sample.tokens_out is not None and 0 < sample.tokens_out <= 48
        else:
            assert sample.tokens_in is None and sample.tokens_out is None


@pytest.mark.parametrize("version", V0_VERSIONS)
def test_v0_dead_endpoint_every_rollout_failed(version: str) -> None:
    samples = v0(f"v0-{version}-failed")
    assert len(samples) == 2 and all(s.failed for s in samples)
    assert all("Error" in (s.error or "") for s in samples)
    assert all(s.completion in ([], None) for s in samples)


def test_v0_metric_columns_without_metadata() -> None:
    rows = read_jsonl(FIXTURES / "v0-0.1.9" / "results.jsonl")
    # 0.1.9 flattens metrics; without metadata.json, non-schema numeric columns are used.
    samples = normalize_v0_rows(rows)
    assert set(samples[0].metrics) == {"correct_answer", "num_turns"}
    assert samples[0].latency_s is not None


def test_v1_real_model_run() -> None:
    samples = normalize_v1_traces(FIXTURES / "v1-0.4.0" / "traces.jsonl")
    rows = read_jsonl(FIXTURES / "v1-0.4.0" / "traces.jsonl")
    assert len(samples) == len(rows) == 6
    keys = {s.example_id for s in samples}
    assert len(keys) == 3 and all(len(k) == 64 for k in keys)
    assert sorted(s.rollout_index for s in samples) == [0, 0, 0, 1, 1, 1]
    for sample, row in zip(samples, rows, strict=True):
        assert sample.example_id == row["task"]["key"]
        assert sample.answer == row["task"]["data"]["answer"]
        assert sample.prompt[-1] == {"role": "user", "content": row["task"]["data"]["prompt"]}
        assert sample.completion and sample.completion[0]["role"] == "assistant"
        if row["ok"]:
            assert sample.error is None
            assert sample.reward == sum(r["score"] * r["weight"]
                                        for r in row["traces"][0]["rewards"].values())
            assert set(sample.metrics) >= {"correct_answer"}
        calls = [c for t in row["traces"] for c in t["calls"]]
        assert sample.tokens_in == sum(c["usage"]["prompt_tokens"] for c in calls)
        assert sample.tokens_out == sum(c["usage"]["completion_tokens"] for c in calls)
        assert sample.latency_s is not None and sample.latency_s > 0


def test_v1_dead_endpoint_every_rollout_failed() -> None:
    samples = normalize_v1_traces(FIXTURES / "v1-0.4.0-failed" / "traces.jsonl")
    assert len(samples) == 2 and all(s.failed and s.reward is None for s in samples)
    assert all(s.tokens_in in (0, None) for s in samples)


def test_v1_multi_seat_episode_averages_rewards() -> None:
    row = read_jsonl(FIXTURES / "v1-0.4.0" / "traces.jsonl")[0]
    trace = row["traces"][0]
    twin = json.loads(json.dumps(trace))
    twin["rewards"] = {"correct_answer": {"score": 1.0, "weight": 1.0}}
    trace = {**trace, "rewards": {"correct_answer": {"score": 0.0, "weight": 1.0}}}
    sample = normalize_v1_episode({**row, "ok": True, "traces": [trace, twin]}, 0)
    assert sample.reward == 0.5 and sample.metrics["correct_answer"] == 0.5


@pytest.mark.parametrize("bad", [
    [{"prompt": "no id"}], [["not", "an", "object"]], [{"example_id": {"x": 1}}]])
def test_v0_unreadable_rows_raise(bad: list[Any]) -> None:
    with pytest.raises(NormalizeError):
        normalize_v0_rows(bad)


def test_v1_unreadable_rows_raise() -> None:
    with pytest.raises(NormalizeError):
        normalize_v1_rows([{"task": {"data": {}}, "traces": []}])


def test_hostile_numbers_are_dropped_not_propagated() -> None:
    row = {"example_id": 7, "reward": float("nan"), "metrics": {"a": float("inf"), "b": True,
           "c": "1", "d": 2}, "token_usage": {"input_tokens": float("nan")},
           "error": {"error": "X", "error_chain_str": "y" * 10_000}}
    (sample,) = normalize_v0_rows([row])
    assert sample.reward is None and sample.metrics == {"d": 2.0}
    assert sample.tokens_in is None and sample.error is not None and len(sample.error) == 2000
    assert Sample.from_dict({**sample.to_dict(), "reward": math.inf}).reward is None


def test_sample_round_trips_through_a_dict() -> None:
    (sample,) = v0("v0-0.1.14")[:1]
    assert Sample.from_dict(json.loads(json.dumps(sample.to_dict()))) == sample
    assert set(sample.to_dict()) == {"example_id", "rollout_index", "prompt", "completion",
                                     "answer", "reward", "metrics", "tokens_in",
                                     "tokens_out", "latency_s", "error"}
