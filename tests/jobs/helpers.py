"""Shared helpers for job, evaluation and leaderboard tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.evals.models import Evaluation
from hub.evals.samples import aggregate, normalize, write_batch
from hub.jobs.dispatch import RecordingDispatcher
from hub.jobs.models import Job, JobState
from hub.jobs.service import Dispatcher
from hub.kit.db import utcnow
from hub.kit.settings import Settings
from hub.kit.storage import Storage
from hub.registry.models import Environment
from tests.support.hub import Account
from tests.support.packages import build
from tests.support.publishing import publish

LOCAL_MODEL = "local/smollm2-135m-instruct"


def publish_env(client: TestClient, account: Account, tmp_path: Path, name: str,
                visibility: str = "public", version: str = "0.1.0") -> str:
    built = build(tmp_path / uuid.uuid4().hex[:6], name, version)
    r = publish(client, account.headers, account.name, built, visibility)
    assert r.status_code in (200, 201), r.text
    return f"{account.name}/{name}"


def start_eval(client: TestClient, account: Account, env: str, **extra: Any) -> dict[str, Any]:
    body = {"environment": env, "model": LOCAL_MODEL, "num_examples": 3,
            "rollouts_per_example": 2} | extra
    r = client.post("/api/v1/evals", json=body, headers=account.headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def sample(example: object, rollout: int, reward: float | None, *, error: str | None = None,
           tokens: tuple[int, int] | None = (10, 5)) -> dict[str, Any]:
    return {"example_id": example, "rollout_index": rollout, "prompt": f"q{example}",
            "completion": f"a{example}.{rollout}", "answer": "x", "reward": reward,
            "metrics": {"exact": reward or 0.0}, "tokens_in": tokens[0] if tokens else None,
            "tokens_out": tokens[1] if tokens else None, "latency_s": 0.1, "error": error}


def store_samples(sessions: sessionmaker[Session], storage: Storage, eval_id: uuid.UUID,
                  samples: list[dict[str, Any]], *, finish: JobState | None = None) -> None:
    """Write samples as a worker would, then aggregate (and end the job if asked)."""
    with sessions() as db:
        write_batch(db, storage, eval_id, f"t-{uuid.uuid4().hex[:8]}",
                    [normalize(s) for s in samples])
        ev = db.get(Evaluation, eval_id)
        assert ev is not None
        aggregate(db, ev)
        ev.completed_at = utcnow()
        if finish is not None and ev.job_id is not None:
            job = db.get(Job, ev.job_id)
            assert job is not None
            job.state = finish  # test setup: bypasses the machine on purpose
        db.commit()


def env_row(sessions: sessionmaker[Session], full: str) -> Environment:
    from sqlalchemy import select

    _owner, name = full.split("/")
    with sessions() as db:
        env = db.scalar(select(Environment).where(Environment.name == name))
        assert env is not None
        return env


@dataclass
class World:
    """A hub whose sessions really commit, for tests where workers run in threads or
    processes: an app, one account, one published environment, a recording dispatcher."""

    client: TestClient
    account: Account
    sessions: sessionmaker[Session]
    storage: Storage
    settings: Settings
    sent: RecordingDispatcher
    env: str
    app: FastAPI

    def start(self, **extra: Any) -> tuple[uuid.UUID, uuid.UUID]:
        """(evaluation id, job id) of a new hosted evaluation."""
        ev = start_eval(self.client, self.account, self.env, **extra)
        return uuid.UUID(ev["id"]), uuid.UUID(ev["job"]["id"])

    def job(self, job_id: uuid.UUID) -> Job:
        with self.sessions() as db:
            job = db.get(Job, job_id)
            assert job is not None
            return job

    def sample_keys(self, eval_id: uuid.UUID) -> list[tuple[str, int]]:
        from sqlalchemy import select

        from hub.evals.models import EvalSample

        with self.sessions() as db:
            return [tuple(r) for r in db.execute(  # type: ignore[misc]
                select(EvalSample.example_id, EvalSample.rollout_index)
                .where(EvalSample.eval_id == eval_id)).all()]


@contextmanager
def make_world(tmp_path: Path, sessions: sessionmaker[Session], settings: Settings,
               storage: Storage, dispatcher: Dispatcher | None = None) -> Iterator[World]:
    from hub.accounts import service as accounts
    from hub.accounts.models import TokenScope
    from hub.app import create_app
    from tests.support.hub import SECRET

    sent = RecordingDispatcher()
    app = create_app(settings, sessions=sessions, storage=storage,
                     dispatcher=dispatcher or sent)
    name = f"u{uuid.uuid4().hex[:8]}"
    with sessions() as db:
        user = accounts.create_user(db, name)
        issued = accounts.create_token(db, user, "t", TokenScope.WRITE, secret_key=SECRET)
        db.commit()
    account = Account(user=user, token=issued.secret)
    with TestClient(app, raise_server_exceptions=False) as client:
        env = publish_env(client, account, tmp_path, "arith")
        yield World(client, account, sessions, storage, settings, sent, env, app)
