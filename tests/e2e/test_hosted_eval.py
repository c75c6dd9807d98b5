"""End to end, on real services and the real model: a v0 environment scaffolded with
`envhub init --v0` and pushed to a live hub whose `envhub serve` runs the embedded worker
(filesystem broker, Celery) and the built-in local model (SmolLM2-135M on CPU); then
`envhub eval run --follow` evaluates it in the sandbox through the model gateway, and the
result shows up in the evaluation API, its samples, and the leaderboard (API and CLI).

The model is weak (rewards are often 0): the assertions are about structure and
consistency, never about the score. Timing (2 busy cores): see docs/design/eval-runners.md;
the run prints its own numbers with `-s`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.live_worker import LOCAL_MODEL, HostedEnv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2700)]
# Short answers keep 4 rollouts on one CPU thread to about a minute.
SAMPLING = '{"max_tokens": 48, "temperature": 0.7}'
STARTED = re.compile(r"Started evaluation ([0-9a-f-]{36})")


@dataclass
class CliRun:
    eval_id: str
    proc: subprocess.CompletedProcess[str]
    seconds: float


@pytest.fixture(scope="module")
def cli_eval(hosted_env: HostedEnv) -> CliRun:
    started = time.monotonic()
    proc = hosted_env.hub.envhub(
        "eval", "run", hosted_env.ref, "--model", LOCAL_MODEL, "-n", "2", "-r", "2",
        "--sampling-args", SAMPLING, "--follow", token=hosted_env.token, check=False,
        timeout=2400)
    seconds = time.monotonic() - started
    found = STARTED.search(proc.stderr)
    assert found, f"no evaluation id in the output:\n{proc.stdout}\n{proc.stderr}"
    run = CliRun(found.group(1), proc, seconds)
    with hosted_env.api(hosted_env.token) as api:
        ev = api.get(f"/evals/{run.eval_id}").json()
    job = ev.get("job") or {}
    print(f"\n`envhub eval run -n 2 -r 2 --follow`: {seconds:.0f} s wall clock"
          f" (job created {job.get('created_at')}, started {job.get('started_at')},"
          f" finished {job.get('finished_at')})")
    return run


def test_eval_run_follow_exits_zero_and_succeeds(cli_eval: CliRun, hosted_env: HostedEnv
                                                 ) -> None:
    assert cli_eval.proc.returncode == 0, (
        f"{cli_eval.proc.stdout}\n{cli_eval.proc.stderr}\n{hosted_env.hub.log_tails()}")
    assert "succeeded" in cli_eval.proc.stdout
    with hosted_env.api(hosted_env.token) as api:
        ev = api.get(f"/evals/{cli_eval.eval_id}").json()
    assert ev["status"] == "succeeded"
    assert ev["environment"] == hosted_env.ref and ev["version"] == "0.1.0"
    assert ev["model"] == LOCAL_MODEL and ev["runtime"] == "v0"
    assert ev["verified"] is True
    assert ev["progress_total"] == ev["progress_done"] == 4
    agg = ev["aggregates"]
    assert (agg["n_examples"], agg["rollouts_per_example"], agg["n_samples"]) == (2, 2, 4)
    assert agg["n_errors"] < 4
    assert agg["tokens_out"] > 0
    assert ev["job"]["state"] == "succeeded" and ev["job"]["attempts"] == 1


def test_samples_are_four_normalized_rollouts(cli_eval: CliRun, hosted_env: HostedEnv
                                              ) -> None:
    with hosted_env.api(hosted_env.token) as api:
        page = api.get(f"/evals/{cli_eval.eval_id}/samples", params={"per_page": 50}).json()
    assert page["total"] == 4 and len(page["items"]) == 4
    keys = {(s["example_id"], s["rollout_index"]) for s in page["items"]}
    assert len(keys) == 4
    assert len({e for e, _ in keys}) == 2 and {r for _, r in keys} == {0, 1}
    for s in page["items"]:
        assert _text(s["prompt"]), s
        assert _text(s["completion"]) or s["error"], s
        assert s["answer"] not in (None, ""), s
        if s["error"] is None:
            assert s["reward"] is not None and 0.0 <= s["reward"] <= 1.0, s
            assert _text(s["completion"]), s
            assert (s["tokens_out"] or 0) > 0, s
    # The prompt is the environment's: its system prompt and one of its questions.
    first = page["items"][0]["prompt"]
    assert "boxed" in _text(first) and "What is" in _text(first)


def test_leaderboard_row_api_and_cli(cli_eval: CliRun, hosted_env: HostedEnv) -> None:
    with hosted_env.api() as api:  # public environment: anyone may read its leaderboard
        board = api.get(f"/environments/{hosted_env.ref}/leaderboard").json()
    rows = [r for r in board["rows"] if r["model"] == LOCAL_MODEL]
    assert len(rows) == 1, board
    row = rows[0]
    assert row["evaluation_id"] == cli_eval.eval_id
    assert (row["n_examples"], row["rollouts_per_example"]) == (2, 2)
    assert row["ci_low"] <= row["mean_reward"] <= row["ci_high"]
    assert row["ci_low"] >= 0.0 and row["ci_high"] <= 1.0
    assert row["verified"] is True and row["version"] == "0.1.0"
    assert (row["rank_low"], row["rank_high"]) == (1, 1)
    assert row["pass_at_k"] is not None  # rollouts > 1

    # rich draws tables 80 columns wide when stdout is not a terminal: give it room.
    printed = hosted_env.hub.envhub("leaderboard", hosted_env.ref,
                                    extra_env={"COLUMNS": "200"}).stdout
    line = next((ln for ln in printed.splitlines() if LOCAL_MODEL in ln), None)
    assert line is not None, printed
    assert "2x2" in line and "yes" in line and "0.1.0" in line
    assert f"{row['mean_reward']:.3f}" in line
    as_json = hosted_env.hub.envhub("leaderboard", hosted_env.ref, "--json").stdout
    assert cli_eval.eval_id in as_json


def test_gateway_usage_is_recorded_per_request(cli_eval: CliRun, hosted_env: HostedEnv
                                               ) -> None:
    with hosted_env.api(hosted_env.token) as api:
        ev = api.get(f"/evals/{cli_eval.eval_id}").json()
        used = api.get(f"/evals/{cli_eval.eval_id}/usage").json()
        log = api.get(f"/evals/{cli_eval.eval_id}/logs").json()["text"]
    summary, items = used["summary"], used["items"]
    # One chat completion per rollout of this single-turn environment, all through the
    # gateway, on one attempt; each request is also a line of the job log.
    assert summary["requests"] == len(items) == 4 and summary["attempts"] == 1
    assert summary["refused"] == 0
    assert [i["request_index"] for i in items] == [0, 1, 2, 3]
    assert all(i["status"] == 200 and i["prompt_tokens"] > 0 for i in items)
    assert summary["completion_tokens"] == sum(i["completion_tokens"] for i in items) > 0
    assert summary["latency_p50_s"] <= summary["latency_p95_s"]
    assert log.count("[gateway] request ") == 4
    assert ev["aggregates"]["tokens_out"] > 0
    with hosted_env.api(hosted_env.outsider_token) as other:  # public env: readable
        assert other.get(f"/evals/{cli_eval.eval_id}/usage").status_code == 200


def test_log_is_archived_and_readable(cli_eval: CliRun, hosted_env: HostedEnv) -> None:
    with hosted_env.api(hosted_env.token) as api:
        piece = api.get(f"/evals/{cli_eval.eval_id}/logs").json()
    assert piece["complete"] is True
    assert piece["text"].strip()
    shown = hosted_env.hub.envhub("eval", "logs", cli_eval.eval_id, token=hosted_env.token)
    assert shown.stdout.strip()


def test_private_environment_eval_is_invisible_to_outsiders(hosted_env: HostedEnv) -> None:
    body = {"environment": f"{hosted_env.owner}/{hosted_env.private_name}",
            "model": LOCAL_MODEL, "num_examples": 1, "rollouts_per_example": 1}
    with hosted_env.api(hosted_env.token) as owner:
        created = owner.post("/evals", json=body)
        assert created.status_code == 201, created.text
        eval_id = created.json()["id"]
        # Cancel at once: this test is about visibility, not about running it.
        assert owner.post(f"/evals/{eval_id}/cancel").json()["status"] == "cancelled"
        assert owner.get(f"/evals/{eval_id}").status_code == 200
    private = f"/environments/{hosted_env.owner}/{hosted_env.private_name}"
    for token in (hosted_env.outsider_token, None):
        with hosted_env.api(token) as other:
            for path in (f"/evals/{eval_id}", f"/evals/{eval_id}/samples",
                         f"/evals/{eval_id}/logs", f"/evals/{eval_id}/events",
                         f"/evals/{eval_id}/usage",
                         f"{private}/leaderboard"):
                r = other.get(path)
                assert r.status_code == 404, (path, r.status_code, r.text)
            listed = other.get("/evals", params={"per_page": 100}).json()
            assert eval_id not in {e["id"] for e in listed["items"]}
            if token:
                assert other.post(f"/evals/{eval_id}/cancel").status_code == 404
                assert other.post("/evals", json=body).status_code == 404
    shown = hosted_env.hub.envhub("eval", "show", eval_id, token=hosted_env.outsider_token,
                                  check=False)
    assert shown.returncode != 0


def test_follow_exits_nonzero_when_the_job_is_cancelled(hosted_env: HostedEnv) -> None:
    env = dict(hosted_env.hub.env) | {"HUB_URL": hosted_env.hub.url,
                                      "HUB_TOKEN": hosted_env.token}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "envhub"), "eval", "run", hosted_env.ref,
         "--model", LOCAL_MODEL, "-n", "1", "-r", "1", "--follow"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen: list[str] = []
        eval_id = None
        while eval_id is None:
            line = proc.stderr.readline()
            if not line:
                pytest.fail(f"envhub exited before starting an evaluation:\n{''.join(seen)}")
            seen.append(line)
            if found := STARTED.search(line):
                eval_id = found.group(1)
        with hosted_env.api(hosted_env.token) as api:
            cancelled = api.post(f"/evals/{eval_id}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["status"] == "cancelled"
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, out + err
    assert "cancelled" in out
    with hosted_env.api(hosted_env.token) as api:
        assert api.get(f"/evals/{eval_id}").json()["status"] == "cancelled"


def _text(value: Any) -> str:
    """The text of a prompt/completion: a string or a list of chat messages."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(m.get("content") or "") if isinstance(m, dict) else str(m)
                         for m in value)
    return ""
