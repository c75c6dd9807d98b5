"""The production shape, end to end with the real pieces: PostgreSQL, Redis as the Celery
broker, `envhub serve --no-worker` (the API only), a separate `envhub worker -Q
evals,maintenance --beat` process, the local model server as its own process (as
docker-compose runs it), the real sandboxed runner and the real SmolLM2 model.

1. `envhub eval run --follow` through Redis and the separate worker: success, samples,
   the leaderboard row.
2. The worker is SIGKILLed mid-evaluation (with everything under it: its pool process,
   gateway and sandbox, as when its container or host dies) after some samples were
   stored; a new `envhub worker` starts; its beat's reconciler finds the job's heartbeat
   stale and re-queues it through Redis, and the new worker resumes it: the job ends
   consistently (succeeded on attempt 2, or failed with a stated code) and no sample is
   stored twice.

Redis is shared with other test runs: a dedicated db number and a random key prefix
(HUB_BROKER_KEY_PREFIX) keep our queues ours. The environment is scaffolded like
tests/e2e/test_embedded_default.py's, so with the session's shared venv cache it is
prepared once.
"""

from __future__ import annotations

import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.support.db import create_database, drop_database
from tests.support.live import LiveHub, free_port, start_hub, stop_hub
from tests.support.live_worker import (
    ENVHUB,
    LOCAL_MODEL,
    Service,
    start_service,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
REDIS_DB = 11  # nothing else in the test suite uses this db; the prefix isolates runs
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
SAMPLING = '{"max_tokens": 48, "temperature": 0.7}'
STARTED = re.compile(r"Started evaluation ([0-9a-f-]{36})")
# Fast enough to recover within a test, slow enough that a busy box's late heartbeat
# is not taken for a lost worker.
WORKER_TIMING = {"HUB_HEARTBEAT_INTERVAL_S": "1", "HUB_STALE_AFTER_S": "12",
                 "HUB_RECONCILE_EVERY_S": "2"}


@dataclass
class Deployment:
    hub: LiveHub
    token: str  # the first admin's
    prefix: str
    worker_env: dict[str, str]
    home: Path
    workers: list[Service]
    model: Service

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.hub.url}/api/v1", timeout=60,
                            headers={"Authorization": f"Bearer {self.token}"})

    def start_worker(self) -> Service:
        n = len(self.workers)
        worker = start_service(
            f"worker-{n}", [str(ENVHUB), "worker", "-Q", "evals,maintenance", "--beat"],
            self.worker_env, self.home / f"worker-{n}.log")
        self.workers.append(worker)
        wait_for(f"worker-{n} ready", lambda: worker.proc.poll() is None
                 and b" ready." in worker.log.read_bytes(), 120, self.explain)
        return worker

    def explain(self) -> str:
        return "\n".join([self.hub.log_tails(), self.model.tail(20),
                          *(w.tail() for w in self.workers)])


def _model_ready(url: str, model: Service) -> bool:
    if model.proc.poll() is not None:
        pytest.fail(f"the local model server exited:\n{model.tail()}", pytrace=False)
    try:
        r = httpx.get(url, timeout=5)
        return r.status_code == 200 and r.json().get("loaded") is True
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory,
               shared_venv_cache: Path) -> Iterator[Deployment]:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis must run on 127.0.0.1:6379 ({exc})", pytrace=False)
    home = tmp_path_factory.mktemp("production-shape")
    prefix = f"envhub-e2e-{uuid.uuid4().hex[:8]}:"
    db_url = create_database("envhub_redis_e2e")

    # The model server as compose runs it (`python -m workers.inference.local_model`).
    model_port = free_port()
    model_url = f"http://127.0.0.1:{model_port}/v1"
    base = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    model = start_service("local-model", [sys.executable, "-m", "workers.inference.local_model",
                                          "--port", str(model_port)],
                          base | {"HF_HUB_OFFLINE": "1"}, home / "local-model.log")
    shared = {"HUB_BROKER_URL": REDIS_URL, "HUB_BROKER_KEY_PREFIX": prefix,
              "HUB_LOCAL_MODEL_URL": model_url}
    proc = None
    workers: list[Service] = []
    try:
        proc, hub = start_hub(home, db_url, shared)  # `envhub serve --no-worker ...`
        wait_for("the local model loaded",
                 lambda: _model_ready(f"http://127.0.0.1:{model_port}/health", model),
                 900, model.tail)
        # The worker shares the database, broker, storage and secret with the API, and has
        # a data dir (scratch, beat schedule) of its own, as on another machine.
        worker_env = dict(hub.env) | shared | WORKER_TIMING | {
            "HUB_DATA_DIR": str(home / "worker-data"),
            "HUB_VENV_CACHE_DIR": str(shared_venv_cache)}
        token = (hub.data_dir / "initial-admin-token").read_text().strip()
        dep = Deployment(hub, token, prefix, worker_env, home, workers, model)
        src = home / "src"
        src.mkdir()
        hub.envhub("init", "my-env", "--path", str(src))
        hub.envhub("push", str(src / "my-env"), token=token)
        dep.start_worker()
        yield dep
    finally:
        for worker in workers:
            worker.stop()
        if proc is not None:
            stop_hub(proc, timeout=30)
        model.stop()
        drop_database(db_url)
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


def _eval(api: httpx.Client, eval_id: str) -> dict[str, Any]:
    r = api.get(f"/evals/{eval_id}")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def _sample_keys(api: httpx.Client, eval_id: str) -> list[tuple[str, int]]:
    page = api.get(f"/evals/{eval_id}/samples", params={"per_page": 100}).json()
    return [(str(s["example_id"]), int(s["rollout_index"])) for s in page["items"]]


def test_eval_through_redis_and_a_separate_worker(deployment: Deployment) -> None:
    started = time.monotonic()
    run = deployment.hub.envhub(
        "eval", "run", "admin/my-env", "--model", LOCAL_MODEL, "-n", "2", "-r", "2",
        "--sampling-args", SAMPLING, "--follow", token=deployment.token, check=False,
        timeout=1500)
    seconds = time.monotonic() - started
    found = STARTED.search(run.stderr)
    assert found, f"{run.stdout}\n{run.stderr}\n{deployment.explain()}"
    eval_id = found.group(1)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n{deployment.explain()}"
    with deployment.api() as api:
        ev = _eval(api, eval_id)
        assert ev["status"] == "succeeded" and ev["verified"] is True
        assert ev["aggregates"]["n_samples"] == 4 and ev["aggregates"]["tokens_out"] > 0
        assert (ev["job"]["state"], ev["job"]["attempts"]) == ("succeeded", 1)
        keys = _sample_keys(api, eval_id)
        assert len(keys) == len(set(keys)) == 4
        board = api.get("/environments/admin/my-env/leaderboard").json()
        rows = [r for r in board["rows"] if r["model"] == LOCAL_MODEL]
        assert len(rows) == 1 and rows[0]["evaluation_id"] == eval_id, board
        assert (rows[0]["n_examples"], rows[0]["rollouts_per_example"]) == (2, 2)
    # It went through our Redis namespace, and the separate worker ran it.
    assert any(redis.Redis.from_url(REDIS_URL).scan_iter(f"{deployment.prefix}*"))
    assert "Task envhub.run_job[" in deployment.workers[0].log.read_text(errors="replace")
    print(f"\nRedis + separate worker: `envhub eval run -n 2 -r 2 --follow` {seconds:.0f} s")


def test_sigkilled_worker_is_replaced_and_the_job_ends_consistently(
        deployment: Deployment) -> None:
    body = {"environment": "admin/my-env", "model": LOCAL_MODEL, "num_examples": 4,
            "rollouts_per_example": 1, "max_concurrency": 1,
            "sampling_args": {"max_tokens": 48, "temperature": 0.7}}
    with deployment.api() as api:
        created = api.post("/evals", json=body)
        assert created.status_code == 201, created.text
        eval_id = created.json()["id"]
        victim = deployment.workers[-1]
        wait_for("a first sample stored", lambda: len(_sample_keys(api, eval_id)) >= 1,
                 600, deployment.explain)
        victim.kill_tree()
        before = set(_sample_keys(api, eval_id))
        ev = _eval(api, eval_id)
        if ev["status"] != "running":  # finished in the instant before the kill
            pytest.fail(f"the job was not running when its worker died: {ev['status']}\n"
                        f"{deployment.explain()}", pytrace=False)
        assert len(before) < 4, "nothing left to resume: the kill came too late"

        killed_at = time.monotonic()
        deployment.start_worker()
        wait_for("the job to end", lambda: _eval(api, eval_id)["status"] in
                 ("succeeded", "failed", "cancelled", "timed_out"), 900, deployment.explain)
        recovered_s = time.monotonic() - killed_at
        ev = _eval(api, eval_id)
        keys = _sample_keys(api, eval_id)
        assert len(keys) == len(set(keys)), keys  # nothing stored twice
        assert before <= set(keys)  # nothing stored before the kill was lost
        log = api.get(f"/evals/{eval_id}/logs", params={"limit": 1 << 20}).json()["text"]
        if ev["status"] == "succeeded":
            assert ev["job"]["attempts"] == 2, ev["job"]
            assert len(keys) == 4 and ev["aggregates"]["n_samples"] == 4
            assert "attempt 2" in log and f"resuming: {len(before)}" in log, log[-3000:]
        else:  # an end is acceptable only with a stated reason
            assert ev["status"] == "failed" and ev["error_code"], ev
    print(f"\nSIGKILL after {len(before)} of 4 samples -> {ev['status']} on attempt"
          f" {ev['job']['attempts']}, {recovered_s:.0f} s after the kill")
