"""prime's evaluation endpoints, in-process: push (create, parallel sample batches,
finalize), reads, privacy, hosted runs (dispatch, logs, cancel)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.evals.models import EvalSample, Evaluation
from hub.jobs.dispatch import RecordingDispatcher
from hub.kit.storage import Storage
from hub.registry.models import Environment
from tests.compat.wire import HUB, resolve
from tests.support.hub import Account, MakeAccount
from tests.support.packages import build
from tests.support.publishing import publish

EV = "/api/v1/evaluations"


def _env_id(client: TestClient, who: Account, name: str, tmp: Path, private: bool = False
            ) -> str:
    built = build(tmp, name, "0.1.0", requires=["verifiers>=0.1.9,<0.2"])
    r = publish(client, who.headers, who.name, built, "private" if private else "public")
    assert r.status_code == 201, r.text
    return str(client.get(f"{HUB}/{who.name}/{name}/@latest", headers=who.headers)
               .json()["data"]["id"])


def _rows(example: int, rewards: list[float]) -> list[dict[str, Any]]:
    return [{"example_id": example, "id": example, "reward": r, "prompt": [{"role": "user",
             "content": f"q{example}"}], "completion": [{"role": "assistant", "content": "a"}],
             "answer": "a", "metrics": {"exact": r}} for r in rewards]


def test_eval_push_lands_in_the_evals_store(
    client: TestClient, make_account: MakeAccount, tmp_path: Path, storage: Storage,
    db_sessions: sessionmaker[Session],
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    env_id = _env_id(client, alice, "math-env", tmp_path, private=True)
    r = client.post(f"{EV}/", headers=alice.headers, json={
        "name": "run-1", "environments": [{"id": env_id}], "model_name": "openai/gpt-x",
        "framework": "verifiers", "tags": ["t"], "metadata": {"num_examples": 2},
        "metrics": {"reward": 0.5}, "is_public": False})
    assert r.status_code == 200, r.text
    ev_id = r.json()["evaluation_id"]
    assert client.get(f"{EV}/{ev_id}", headers=alice.headers).json()["status"] == "RUNNING"
    # Two batches; the rollouts of example 1 span both.
    for batch in (_rows(0, [1.0, 0.0]) + _rows(1, [1.0]), _rows(1, [0.0])):
        r = client.post(f"{EV}/{ev_id}/samples", headers=alice.headers,
                        json={"samples": batch})
        assert r.status_code == 200, r.text
    done = client.post(f"{EV}/{ev_id}/finalize", headers=alice.headers,
                       json={"metrics": {"reward": 0.5}}).json()
    assert done["status"] == "COMPLETED" and done["total_samples"] == 4
    assert done["metrics"]["mean_reward"] == 0.5
    with db_sessions() as db:
        ev = db.get(Evaluation, uuid.UUID(ev_id))
        assert ev is not None and ev.n_examples == 2 and ev.rollouts_per_example == 2
        assert ev.source == "upload-v0" and ev.completed_at is not None
        keys = set(db.scalars(select(EvalSample.chunk_key).where(EvalSample.eval_id == ev.id)))
    assert keys and all(storage.exists(k) for k in keys)

    page = client.get(f"{EV}/{ev_id}/samples", params={"page": 1, "limit": 3},
                      headers=alice.headers).json()
    assert page["total"] == 4 and len(page["samples"]) == 3
    listed = client.get(f"{EV}/", params={"environment_name": "math-env"},
                        headers=alice.headers).json()
    assert [e["evaluation_id"] for e in listed["evaluations"]] == [ev_id]
    assert listed["evaluations"][0]["environment_names"] == ["alice/math-env"]
    # The environment is private: bob sees nothing, and gets the 404 of a missing one.
    assert client.get(f"{EV}/", headers=bob.headers).json()["total"] == 0
    assert client.get(f"{EV}/{ev_id}", headers=bob.headers).status_code == 404
    closed = client.post(f"{EV}/{ev_id}/samples", headers=alice.headers,
                         json={"samples": _rows(3, [1.0])})
    assert closed.status_code == 409 and "finalized" in closed.json()["detail"]


def test_eval_push_never_creates_an_environment(
    client: TestClient, make_account: MakeAccount, db_sessions: sessionmaker[Session],
) -> None:
    carol = make_account("carol")
    reserved = resolve(client, carol.headers, "ghost-env").json()["data"]
    assert reserved["created"] is True  # prime-evals' get-or-create resolve...
    r = client.post(f"{EV}/", headers=carol.headers, json={
        "name": "x", "environments": [{"id": reserved["id"]}], "model_name": "m"})
    assert r.status_code == 404 and "prime env push" in r.json()["detail"]
    lookup = client.post(f"{HUB}/lookup", headers=carol.headers, json={"id": reserved["id"]})
    assert lookup.status_code == 404
    with db_sessions() as db:  # ...but nothing was created
        assert db.scalar(select(func.count()).select_from(Environment)) == 0


def test_hosted_run_logs_and_cancel(
    app: FastAPI, client: TestClient, make_account: MakeAccount, tmp_path: Path,
) -> None:
    sent = RecordingDispatcher()
    app.state.job_dispatcher = sent
    dave, erin = make_account("dave"), make_account("erin")
    env_id = _env_id(client, dave, "hosted-env", tmp_path)
    r = client.post("/api/v1/hosted-evaluations", headers=dave.headers, json={
        "environment_ids": [env_id], "inference_model": "local/smollm2-135m-instruct",
        "eval_config": {"num_examples": 2, "rollouts_per_example": 1, "timeout_minutes": 5}})
    assert r.status_code == 201, r.text
    ev_id = r.json()["evaluation_id"]
    assert len(sent.sent) == 1  # the job went to the workers' queue
    got = client.get(f"{EV}/{ev_id}").json()
    assert got["status"] == "PENDING" and got["is_hosted"] is True
    assert client.get(f"/api/v1/hosted-evaluations/{ev_id}/logs").json()["logs"] == ""
    denied = client.patch(f"/api/v1/hosted-evaluations/{ev_id}/cancel", headers=erin.headers)
    assert denied.status_code == 403
    stop = client.patch(f"/api/v1/hosted-evaluations/{ev_id}/cancel", headers=dave.headers)
    assert stop.status_code == 200 and stop.json()["cancelled"] is True
    assert client.get(f"{EV}/{ev_id}").json()["status"] == "CANCELLED"
    unknown = client.post("/api/v1/hosted-evaluations", headers=dave.headers, json={
        "environment_ids": [env_id], "inference_model": "nowhere/model"})
    assert unknown.status_code == 404 and isinstance(unknown.json()["detail"], str)
