"""The evaluation CLI against a real HTTP server: run --follow (exit code follows the job),
list/show/logs/cancel/push, the leaderboard, and the operator's add-provider."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from hub.cli.main import app as cli
from hub.jobs.settings import JobSettings
from hub.kit.settings import Settings, get_settings
from hub.kit.storage import Storage
from tests.evals.test_upload import jsonl, v1_episode
from tests.jobs import sandbox_runner
from tests.jobs.helpers import World, make_world
from workers.gateway import BackgroundServer
from workers.tasks import execute_job

JOBS = JobSettings(heartbeat_interval_s=0.2, sample_flush_every=1)


class InProcessWorker:
    """A dispatcher that runs each job on a thread, as a worker would after the send."""

    def __init__(self) -> None:
        self.world: World | None = None
        self.threads: list[threading.Thread] = []

    def __call__(self, job_id: uuid.UUID, queue: str) -> None:
        world = self.world
        assert world is not None

        def work() -> None:
            execute_job(job_id, sessions=world.sessions, storage=world.storage,
                        settings=world.settings, jobs=JOBS, runner=sandbox_runner.run)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        self.threads.append(thread)


@pytest.fixture
def served(tmp_path: Path, committed_sessions: sessionmaker[Session], settings: Settings,
           storage: Storage, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    worker = InProcessWorker()
    with make_world(tmp_path, committed_sessions, settings, storage, dispatcher=worker) as w:
        worker.world = w
        server = BackgroundServer.tcp(w.app)
        server.start()
        monkeypatch.setenv("HUB_URL", f"http://127.0.0.1:{server.port}")
        monkeypatch.setenv("HUB_TOKEN", w.account.token)
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
        monkeypatch.setenv("COLUMNS", "200")
        try:
            yield w
        finally:
            for thread in worker.threads:
                thread.join(60)
            server.stop()


def envhub(*args: str, input_text: str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=input_text, catch_exceptions=False)


def test_run_follow_list_show_logs_leaderboard(served: World) -> None:
    ok = envhub("eval", "run", f"{served.env}@0.1.0", "-n", "2", "-r", "2", "--follow",
                "--json")
    assert ok.exit_code == 0, ok.output
    ev = json.loads(ok.stdout[ok.stdout.index("{"):])
    assert ev["status"] == "succeeded" and ev["aggregates"]["n_samples"] == 4
    bad = envhub("eval", "run", served.env, "-n", "2", "--follow", "--env-args",
                 '{"mode": "fail"}')
    assert bad.exit_code == 1 and "all-rollouts-failed" in bad.output
    listed = json.loads(envhub("eval", "list", "--json").stdout)
    assert listed["total"] == 2
    shown = envhub("eval", "show", ev["id"])
    assert "succeeded" in shown.stdout and "mean reward" in shown.stdout
    logs = envhub("eval", "logs", ev["id"])
    assert "rollout 1.1 reward=" in logs.stdout and "finished: succeeded" in logs.stdout
    board = json.loads(envhub("leaderboard", served.env, "--json").stdout)
    assert [r["model"] for r in board["rows"]] == ["local/smollm2-135m-instruct"]
    table = envhub("leaderboard", served.env)
    assert "smollm2" in table.stdout and table.exit_code == 0
    assert envhub("eval", "run", "not-a-ref").exit_code == 1


def test_logs_show_control_sequences_from_the_sandbox_inert(served: World) -> None:
    ok = envhub("eval", "run", served.env, "-n", "1", "--follow", "--env-args",
                '{"mode": "noisy"}')
    assert ok.exit_code == 0, ok.output
    listed = json.loads(envhub("eval", "list", "--json").stdout)
    logs = envhub("eval", "logs", listed["items"][0]["id"]).stdout
    assert "\x1b" not in logs and "\x07" not in logs
    assert "\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[2K[envhub] finished: forged" in logs


def test_cancel_and_push(served: World, tmp_path: Path) -> None:
    started = envhub("eval", "run", served.env, "-n", "200", "--env-args", '{"delay": 0.2}',
                     "--json")
    ev = json.loads(started.stdout)
    cancelled = envhub("eval", "cancel", ev["id"])
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.stdout
    run_dir = tmp_path / "vf-run"
    run_dir.mkdir()
    (run_dir / "traces.jsonl").write_bytes(jsonl([v1_episode("a", 1.0), v1_episode("b", 0.0)]))
    pushed = envhub("eval", "push", str(run_dir), "--env", served.env, "--model", "me/my-model",
                    "--json")
    assert pushed.exit_code == 0, pushed.output
    assert json.loads(pushed.stdout)["verified"] is False
    empty = envhub("eval", "push", str(tmp_path), "--env", served.env)
    assert empty.exit_code == 1 and "No traces.jsonl" in empty.output


def test_admin_add_provider(served: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", served.settings.database_url)
    monkeypatch.setenv("HUB_SECRET_KEY", served.settings.secret_key)
    get_settings.cache_clear()
    try:
        r = envhub("admin", "add-provider", "openai", "--base-url", "https://api.openai.com/v1",
                   "--model", "gpt-4o-mini", "--api-key-stdin", "--price-in", "0.15",
                   input_text="sk-secret-value\n")
        assert r.exit_code == 0, r.output
        dup = envhub("admin", "add-provider", "openai", "--base-url", "https://x/v1",
                     "--model", "m")
        assert dup.exit_code == 1 and "exists" in dup.output
    finally:
        get_settings.cache_clear()
    with served.sessions() as db:
        stored = db.execute(text("SELECT secret_encrypted FROM providers")).scalar_one()
        assert "sk-secret-value" not in stored
    names = [p["name"] for p in served.client.get("/api/v1/providers").json()]
    assert names == ["local", "openai"]
