"""The evaluation API: create (task sent after commit), read, list, samples, logs, events,
cancel, and privacy (a private environment's evaluations are 404 to outsiders everywhere)."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.jobs import service as jobs
from hub.jobs.dispatch import RecordingDispatcher
from hub.jobs.models import Job, JobState
from hub.kit.storage import Storage
from tests.jobs.helpers import publish_env, sample, start_eval, store_samples
from tests.support.hub import MakeAccount


def test_create_sends_one_task_after_commit(client: TestClient, make_account: MakeAccount,
                                            tmp_path: Path, sent: RecordingDispatcher) -> None:
    alice = make_account("alice")
    env = publish_env(client, alice, tmp_path, "gsm-lite")
    ev = start_eval(client, alice, env, seed=7, sampling_args={"temperature": 0.2})
    assert ev["status"] == "queued" and ev["verified"] is True and ev["source"] == "hosted"
    assert ev["environment"] == env and ev["version"] == "0.1.0" and len(ev["content_hash"]) == 64
    assert ev["model"] == "local/smollm2-135m-instruct"
    assert ev["progress_total"] == 6 and ev["job"]["state"] == "queued"
    assert ev["spec"]["seed"] == 7 and ev["spec"]["sampling_args"] == {"temperature": 0.2}
    assert sent.sent == [(uuid.UUID(ev["job"]["id"]), "evals")]
    assert client.get(f"/api/v1/evals/{ev['id']}").json()["id"] == ev["id"]


def test_refused_requests_send_nothing(client: TestClient, make_account: MakeAccount,
                                       tmp_path: Path, sent: RecordingDispatcher) -> None:
    alice = make_account("alice")
    env = publish_env(client, alice, tmp_path, "gsm-lite")
    cases = [
        ({"model": "nope/x"}, 404, "provider-not-found"),
        ({"model": "local/gpt-9"}, 404, "model-not-found"),
        ({"model": "no-slash"}, 422, "invalid-model"),
        ({"version": "9.9.9"}, 404, "version-not-found"),
        ({"environment": "alice/missing"}, 404, "environment-not-found"),
        ({"num_examples": 0}, 422, "validation-failed"),
        ({"rollouts_per_example": 1000}, 422, "too-many-rollouts"),
    ]
    for change, status, code in cases:
        body = {"environment": env, "model": "local/smollm2-135m-instruct"} | change
        r = client.post("/api/v1/evals", json=body, headers=alice.headers)
        assert (r.status_code, r.json()["code"]) == (status, code), (change, r.text)
    assert client.post("/api/v1/evals", json={"environment": env, "model": "local/x"}
                       ).status_code == 401
    assert sent.sent == []


def test_private_env_evals_are_invisible_to_outsiders(
        client: TestClient, make_account: MakeAccount, tmp_path: Path,
        sent: RecordingDispatcher) -> None:
    alice, eve = make_account("alice"), make_account("eve")
    env = publish_env(client, alice, tmp_path, "secret-env", visibility="private")
    ev = start_eval(client, alice, env)
    paths = ["", "/samples", "/logs", "/events"]
    for who in (eve.headers, {}):
        for suffix in paths:
            r = client.get(f"/api/v1/evals/{ev['id']}{suffix}", headers=who)
            assert r.status_code == 404 and r.json()["code"] == "evaluation-not-found", suffix
        assert client.get("/api/v1/evals", headers=who).json()["total"] == 0
        r = client.get(f"/api/v1/environments/{env}/leaderboard", headers=who)
        assert r.status_code == 404
    r = client.post(f"/api/v1/evals/{ev['id']}/cancel", headers=eve.headers)
    assert r.status_code == 404
    r = client.post("/api/v1/evals", json={"environment": env, "model":
                                           "local/smollm2-135m-instruct"}, headers=eve.headers)
    assert r.status_code == 404 and r.json()["code"] == "environment-not-found"
    assert client.get("/api/v1/evals", headers=alice.headers).json()["total"] == 1
    assert len(sent.sent) == 1


def test_list_filters(client: TestClient, make_account: MakeAccount, tmp_path: Path,
                      sent: RecordingDispatcher, db_sessions: sessionmaker[Session]) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    one = publish_env(client, alice, tmp_path, "one")
    two = publish_env(client, alice, tmp_path, "two")
    a = start_eval(client, alice, one)
    start_eval(client, bob, two)
    with db_sessions() as db:
        job = db.get(Job, uuid.UUID(a["job"]["id"]))
        assert job is not None
        jobs.set_state(job, JobState.RUNNING)
        db.commit()
    assert client.get("/api/v1/evals").json()["total"] == 2
    assert client.get(f"/api/v1/evals?environment={one}").json()["total"] == 1
    assert client.get("/api/v1/evals?status=running").json()["items"][0]["id"] == a["id"]
    assert client.get("/api/v1/evals?status=queued").json()["total"] == 1
    mine = client.get("/api/v1/evals?mine=true", headers=bob.headers).json()
    assert [e["environment"] for e in mine["items"]] == [two]
    assert client.get("/api/v1/evals?status=bogus").status_code == 422


def test_cancel_queued(client: TestClient, make_account: MakeAccount, tmp_path: Path,
                       sent: RecordingDispatcher) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    env = publish_env(client, alice, tmp_path, "one")
    ev = start_eval(client, alice, env)
    r = client.post(f"/api/v1/evals/{ev['id']}/cancel", headers=bob.headers)
    assert r.status_code == 403
    r = client.post(f"/api/v1/evals/{ev['id']}/cancel", headers=alice.headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["error_code"] == "cancelled"
    again = client.post(f"/api/v1/evals/{ev['id']}/cancel", headers=alice.headers)
    assert again.json()["status"] == "cancelled"


def test_samples_paging_and_filters(client: TestClient, make_account: MakeAccount,
                                    tmp_path: Path, sent: RecordingDispatcher, storage: Storage,
                                    db_sessions: sessionmaker[Session]) -> None:
    alice = make_account("alice")
    env = publish_env(client, alice, tmp_path, "one")
    ev = start_eval(client, alice, env)
    rows = [sample(i, r, reward=(0.25 if i % 2 else 1.0)) for i in range(5) for r in range(2)]
    rows[3] = sample(1, 1, None, error="ValueError: boom")
    store_samples(db_sessions, storage, uuid.UUID(ev["id"]), rows)
    page = client.get(f"/api/v1/evals/{ev['id']}/samples?per_page=4").json()
    assert page["total"] == 10 and len(page["items"]) == 4
    assert page["items"][0] == {"example_id": "0", "rollout_index": 0, "prompt": "q0",
                                "completion": "a0.0", "answer": "x", "reward": 1.0,
                                "metrics": {"exact": 1.0}, "tokens_in": 10, "tokens_out": 5,
                                "latency_s": 0.1, "error": None}
    last = client.get(f"/api/v1/evals/{ev['id']}/samples?per_page=4&page=3").json()
    assert len(last["items"]) == 2
    failed = client.get(f"/api/v1/evals/{ev['id']}/samples?filter=failed").json()
    assert [(s["example_id"], s["error"]) for s in failed["items"]] == [("1", "ValueError: boom")]
    low = client.get(f"/api/v1/evals/{ev['id']}/samples?filter=low_reward").json()
    assert low["total"] == 3 and {s["reward"] for s in low["items"]} == {0.25}
    body = client.get(f"/api/v1/evals/{ev['id']}").json()["aggregates"]
    assert body["n_samples"] == 10 and body["n_errors"] == 1 and body["n_examples"] == 5
    assert body["error_rate"] == 0.1 and body["rollouts_per_example"] == 2


def test_logs_tail_and_events(client: TestClient, make_account: MakeAccount, tmp_path: Path,
                              sent: RecordingDispatcher, db_sessions: sessionmaker[Session]
                              ) -> None:
    alice = make_account("alice")
    env = publish_env(client, alice, tmp_path, "one")
    ev = start_eval(client, alice, env)
    job_id = uuid.UUID(ev["job"]["id"])
    with db_sessions() as db:
        job = jobs.get_job(db, job_id)
        jobs.set_state(job, JobState.RUNNING)
        jobs.append_log(db, job_id, "line one\n", cap=1 << 20)
        db.commit()
    first = client.get(f"/api/v1/evals/{ev['id']}/logs").json()
    assert first == {"offset": 0, "next_offset": 9, "text": "line one\n", "complete": False}
    with db_sessions() as db:
        jobs.append_log(db, job_id, "line two\n", cap=1 << 20)
        job = jobs.get_job(db, job_id)
        jobs.set_state(job, JobState.SUCCEEDED)
        db.commit()
    nxt = client.get(f"/api/v1/evals/{ev['id']}/logs?offset=9").json()
    assert nxt == {"offset": 9, "next_offset": 18, "text": "line two\n", "complete": True}
    with client.stream("GET", f"/api/v1/evals/{ev['id']}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    assert "event: status" in text and '"status": "succeeded"' in text
    assert "event: log" in text and "line one" in text and "line two" in text
    assert "id: 18" in text and text.rstrip().endswith('data: {"status": "succeeded"}')
    with client.stream("GET", f"/api/v1/evals/{ev['id']}/events",
                       headers={"Last-Event-ID": "9"}) as stream:
        resumed = "".join(stream.iter_text())
    assert "line one" not in resumed and "line two" in resumed


def test_job_route_shows_the_requester_only(client: TestClient, make_account: MakeAccount,
                                           tmp_path: Path, sent: RecordingDispatcher) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    root = make_account("root", admin=True)
    ev = start_eval(client, alice, publish_env(client, alice, tmp_path, "one"))
    path = f"/api/v1/jobs/{ev['job']['id']}"
    body = client.get(path, headers=alice.headers).json()
    assert body["state"] == "queued" and body["kind"] == "evaluation" and body["attempts"] == 0
    assert client.get(path, headers=bob.headers).status_code == 404
    assert client.get(path, headers=root.headers).status_code == 200
    assert client.get(path).status_code == 401
    r = client.post(f"/api/v1/evals/{ev['id']}/cancel", headers=alice.headers)
    assert client.get(path, headers=alice.headers).json()["state"] == r.json()["status"]
