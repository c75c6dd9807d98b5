"""The production runner adapter (`workers.tasks.hosted_runner`) on the real runner,
venv cache, model gateway and sandbox, with the runner tests' deterministic upstream and
locally built v0/v1 environments (fixtures shared from tests/workers/evals)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.evals.execution import RunRequest
from hub.jobs.settings import get_job_settings
from tests.workers.evals.conftest import (  # noqa: F401 - fixtures used by name
    BuiltEnv,
    Upstream,
    built_envs,
    upstream,
    venv_cache,
)
from workers.evals.venvs import VenvCache
from workers.tasks import hosted_runner


@pytest.fixture
def runner_env(venv_cache: VenvCache, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
               tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("HUB_VENV_CACHE_DIR", str(venv_cache.root))
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "data"))
    get_job_settings.cache_clear()
    yield
    get_job_settings.cache_clear()


def request_for(env: BuiltEnv, up: Upstream, tmp_path: Path, **over: Any) -> RunRequest:
    fields: dict[str, Any] = {
        "job_id": uuid.uuid4(), "evaluation_id": uuid.uuid4(), "attempt": 1,
        "environment": f"t/{env.name}", "package": env.name, "version": "0.1.0",
        "content_hash": env.content_hash, "runtime": env.runtime, "index_url": env.index_url,
        "provider": "stub", "model": "stub-model", "upstream_base_url": up.base_url,
        "upstream_api_key": "sk-upstream", "num_examples": 3, "rollouts_per_example": 2,
        "sampling_args": {"max_tokens": 64}, "env_args": {}, "max_concurrency": 2,
        "timeout_s": 600.0, "seed": None, "max_tokens_budget": None,
        "workdir": tmp_path / "work", "log_path": tmp_path / "work" / "job.log"}
    fields.update(over)
    (tmp_path / "work").mkdir(exist_ok=True)
    return RunRequest(**fields)


def ignore(*_: object) -> None:
    return None


@pytest.mark.parametrize("name", ["arith-v0", "arith-v1"])
def test_hosted_runner_end_to_end(name: str, built_envs: dict[str, BuiltEnv],  # noqa: F811
                                  upstream: Upstream, runner_env: None,  # noqa: F811
                                  tmp_path: Path) -> None:
    samples: list[dict[str, Any]] = []
    request = request_for(built_envs[name], upstream, tmp_path,
                          skip=frozenset({("0", 0)}) if name == "arith-v0" else frozenset())
    outcome = hosted_runner(request, on_sample=samples.append,
                            on_progress=ignore, cancel=threading.Event())
    assert outcome.status == "completed", (outcome, request.log_path.read_text()[-3000:])
    keys = {(s["example_id"], s["rollout_index"]) for s in samples}
    expected = 5 if name == "arith-v0" else 6  # a resumed run skips what is stored
    assert len(keys) == len(samples) == expected
    assert all(set(s) >= {"reward", "error", "tokens_in", "prompt"} for s in samples)


def test_hosted_runner_maps_failures(built_envs: dict[str, BuiltEnv],  # noqa: F811
                                     upstream: Upstream, runner_env: None,  # noqa: F811
                                     tmp_path: Path) -> None:
    request = request_for(built_envs["arith-v0"], upstream, tmp_path, model="stub-fail",
                          num_examples=2, rollouts_per_example=1)
    outcome = hosted_runner(request, on_sample=ignore,
                            on_progress=ignore, cancel=threading.Event())
    assert outcome.status == "failed" and outcome.error_code == "all-rollouts-failed"
    bad = request_for(built_envs["arith-v0"], upstream, tmp_path, runtime="unknown")
    assert hosted_runner(bad, on_sample=ignore, on_progress=ignore,
                         cancel=threading.Event()).error_code == "unknown-runtime"
