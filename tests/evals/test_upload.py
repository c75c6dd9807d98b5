"""Self-reported results: vf-eval output of verifiers 0.1 (v0) and 0.4 (v1) uploaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from hub.jobs.dispatch import RecordingDispatcher
from hub.leaderboards import stats
from tests.jobs.helpers import publish_env, start_eval
from tests.support.hub import MakeAccount

V0_META = {"env_id": "gsm-lite", "model": "gpt-4o-mini", "num_examples": 3,
           "rollouts_per_example": 2, "avg_reward": 0.5}


def v0_rows() -> list[dict[str, Any]]:
    rewards = {0: [1.0, 1.0], 1: [0.0, 1.0], 2: [0.0, 0.0]}
    rows = []
    for ex, values in rewards.items():
        for value in values:
            rows.append({"example_id": ex, "prompt": [{"role": "user", "content": f"q{ex}"}],
                         "completion": [{"role": "assistant", "content": "42"}], "answer": "42",
                         "reward": value, "metrics": {"correct": value},
                         "timing": {"generation": {"start": 1.0, "end": 2.5}},
                         "is_completed": True, "is_truncated": False,
                         "token_usage": {"input_tokens": 20, "output_tokens": 4}})
    rows[5]["error"] = {"error": "TimeoutError", "error_chain_repr": "", "error_chain_str": ""}
    return rows


def v1_episode(key: str, score: float, ok: bool = True) -> dict[str, Any]:
    trace = {"task": {"type": "MathTask", "data": {"question": key, "answer": "7"}, "key": key},
             "rewards": {"correct": {"score": score, "weight": 1.0}}, "metrics": {"len": 3.0},
             "calls": [{"model": "llama-3-8b", "usage": {"prompt_tokens": 30,
                                                         "completion_tokens": 6}}],
             "nodes": [{"message": {"role": "assistant", "content": "7"}}],
             "timing": {"agent": {"start": 10.0, "end": 11.0}}, "ok": ok}
    errors = [] if ok else [{"type": "ProviderError", "message": "upstream 500"}]
    return {"id": key, "env": {"id": "gsm-lite"}, "task": trace["task"], "ok": ok,
            "errors": errors, "traces": [trace]}


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def test_upload_v0(client: TestClient, make_account: MakeAccount, tmp_path: Path) -> None:
    alice = make_account("alice")
    env = publish_env(client, alice, tmp_path, "gsm-lite")
    r = client.post("/api/v1/evals/upload", headers=alice.headers,
                    data={"environment": env, "model": "openai/gpt-4o-mini"},
                    files={"results": ("results.jsonl", jsonl(v0_rows())),
                           "metadata": ("metadata.json", json.dumps(V0_META).encode())})
    assert r.status_code == 201, r.text
    ev = r.json()
    assert (ev["verified"], ev["source"], ev["status"]) == (False, "upload-v0", "succeeded")
    agg = ev["aggregates"]
    assert (agg["n_examples"], agg["rollouts_per_example"], agg["n_samples"]) == (3, 2, 6)
    assert agg["n_errors"] == 1 and agg["tokens_in"] == 120 and agg["mean_tokens"] == 24
    # The errored rollout scores 0: example means 1, 0.5, 0.
    expected = stats.mean_reward_ci({"0": [1, 1], "1": [0, 1], "2": [0, 0]}, seed=0)
    assert (agg["mean_reward"], agg["ci_low"], agg["ci_high"]) == (
        expected.mean, expected.low, expected.high)
    assert agg["pass_at_k"] == stats.mean_pass_at_k({"0": [1, 1], "1": [0, 1], "2": [0, 0]}, 2)
    samples = client.get(f"/api/v1/evals/{ev['id']}/samples?filter=failed").json()
    assert samples["items"][0]["error"] == "TimeoutError"
    assert samples["items"][0]["latency_s"] == 1.5
    board = client.get(f"/api/v1/environments/{env}/leaderboard").json()
    assert board["rows"][0]["verified"] is False
    assert board["rows"][0]["model"] == "openai/gpt-4o-mini"


def test_upload_v1(client: TestClient, make_account: MakeAccount, tmp_path: Path) -> None:
    alice = make_account("alice")
    env = publish_env(client, alice, tmp_path, "gsm-lite")
    episodes = [v1_episode("a", 1.0), v1_episode("a", 0.0), v1_episode("b", 1.0),
                v1_episode("b", 1.0, ok=False)]
    r = client.post("/api/v1/evals/upload", headers=alice.headers, data={"environment": env},
                    files={"traces": ("traces.jsonl", jsonl(episodes))})
    assert r.status_code == 201, r.text
    ev = r.json()
    assert (ev["source"], ev["model"], ev["runtime"]) == ("upload-v1",
                                                          "self-reported/llama-3-8b", "v1")
    agg = ev["aggregates"]
    assert (agg["n_examples"], agg["n_samples"], agg["n_errors"]) == (2, 4, 1)
    assert agg["mean_reward"] == 0.5 and agg["metrics"] == {"len": 3.0}
    failed = client.get(f"/api/v1/evals/{ev['id']}/samples?filter=failed").json()["items"]
    assert failed[0]["error"] == "ProviderError: upstream 500"
    assert failed[0]["completion"] == "7" and failed[0]["tokens_in"] == 30


def test_upload_refusals(client: TestClient, make_account: MakeAccount, tmp_path: Path,
                         sent: RecordingDispatcher) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    env = publish_env(client, alice, tmp_path, "gsm-lite")
    files = {"traces": ("traces.jsonl", jsonl([v1_episode("a", 1.0)]))}
    r = client.post("/api/v1/evals/upload", headers=bob.headers, data={"environment": env},
                    files=files)
    assert r.status_code == 403
    r = client.post("/api/v1/evals/upload", headers=alice.headers, data={"environment": env})
    assert r.status_code == 422 and r.json()["code"] == "invalid-eval-output"
    r = client.post("/api/v1/evals/upload", headers=alice.headers, data={"environment": env},
                    files={"traces": ("traces.jsonl", b"not json\n")})
    assert r.status_code == 422 and r.json()["code"] == "invalid-eval-output"
    private = publish_env(client, alice, tmp_path, "hidden", visibility="private")
    r = client.post("/api/v1/evals/upload", headers=bob.headers, data={"environment": private},
                    files=files)
    assert r.status_code == 404
    hosted = start_eval(client, alice, env)
    assert client.post(f"/api/v1/evals/{hosted['id']}/cancel",
                       headers=alice.headers).status_code == 200
