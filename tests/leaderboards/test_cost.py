"""Cost columns: a priced provider's evaluation is priced by the worker's finalize step
(the real execution path with a sandboxed scripted runner), shown on the leaderboard and
sortable; an unpriced model has no cost and sorts last."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts import service as accounts
from hub.accounts.models import TokenScope
from hub.evals.models import Evaluation
from hub.jobs.settings import JobSettings
from hub.kit.settings import Settings
from hub.kit.storage import Storage
from tests.jobs import sandbox_runner
from tests.jobs.helpers import World, make_world
from tests.support.hub import SECRET
from workers.tasks import execute_job

FAST = JobSettings(heartbeat_interval_s=0.2, sample_flush_every=2, timeout_grace_s=0)
PRICE_IN, PRICE_OUT = 3.0, 15.0  # dollars per million tokens


@pytest.fixture
def world(tmp_path: Path, committed_sessions: sessionmaker[Session], settings: Settings,
          storage: Storage) -> Iterator[World]:
    with make_world(tmp_path, committed_sessions, settings, storage) as w:
        with w.sessions() as db:
            root = accounts.create_user(db, f"root{uuid.uuid4().hex[:6]}", is_admin=True)
            admin = accounts.create_token(db, root, "t", TokenScope.ADMIN, secret_key=SECRET)
            db.commit()
        provider = {"name": f"priced{uuid.uuid4().hex[:6]}", "base_url": "https://llm.example/v1",
                    "models": ["m"], "api_key": "k", "price_input_per_mtok": PRICE_IN,
                    "price_output_per_mtok": PRICE_OUT}
        r = w.client.post("/api/v1/providers", json=provider,
                          headers={"Authorization": f"Bearer {admin.secret}"})
        assert r.status_code == 201, r.text
        w.app.state.priced_model = f"{provider['name']}/m"
        yield w


def run_to_end(world: World, model: str) -> uuid.UUID:
    ev_id, job_id = world.start(model=model, num_examples=3, rollouts_per_example=2)
    assert execute_job(job_id, sessions=world.sessions, storage=world.storage,
                       settings=world.settings, jobs=FAST, runner=sandbox_runner.run) == "succeeded"
    return ev_id


def test_priced_evaluation_has_a_cost_on_the_leaderboard(world: World) -> None:
    priced = world.app.state.priced_model
    ev_id = run_to_end(world, priced)
    run_to_end(world, "local/smollm2-135m-instruct")
    with world.sessions() as db:
        ev = db.get(Evaluation, ev_id)
        assert ev is not None and ev.tokens_in and ev.tokens_out
        expected = (ev.tokens_in * PRICE_IN + ev.tokens_out * PRICE_OUT) / 1_000_000
        assert ev.cost == pytest.approx(expected)
    detail = world.client.get(f"/api/v1/evals/{ev_id}", headers=world.account.headers).json()
    assert detail["aggregates"]["cost"] == pytest.approx(expected)
    board = world.client.get(f"/api/v1/environments/{world.env}/leaderboard?sort=cost").json()
    rows = board["rows"]
    assert [r["model"] for r in rows] == [priced, "local/smollm2-135m-instruct"]
    assert rows[0]["cost"] == pytest.approx(expected)
    assert rows[1]["cost"] is None  # unpriced: no cost, sorted after every priced row
