"""`run_evaluation` end to end: real venvs (installed from a PEP 503 index), real
bubblewrap, a real model gateway on a Unix socket, a deterministic upstream server.

verifiers comes from PyPI when the venvs are prepared (once per session); at run time
the sandbox has no network at all.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import procs
from tests.workers.evals.conftest import BuiltEnv, GatewayHandle, Upstream
from workers.evals import PreparedVenv, RunOutcome, Sample, run_evaluation
from workers.evals.spec import EvalRunSpec
from workers.sandbox import BubblewrapBackend, probe_host

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend() -> BubblewrapBackend:
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap is not installed: run `apt-get install -y bubblewrap`")
    return BubblewrapBackend(probe_host())


class Recorder:
    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.progress: list[tuple[int, int]] = []

    def on_sample(self, sample: Sample) -> None:
        self.samples.append(sample)

    def on_progress(self, done: int, total: int) -> None:
        self.progress.append((done, total))


def run(spec: EvalRunSpec, venv: PreparedVenv, gateway: GatewayHandle, tmp_path: Path,
        backend: BubblewrapBackend, rec: Recorder, cancel: threading.Event | None = None,
        **kw: Any) -> RunOutcome:
    return run_evaluation(spec, venv=venv, gateway_socket=gateway.socket,
                          work_dir=tmp_path / "work", log_path=tmp_path / "job.log",
                          backend=backend, on_sample=rec.on_sample,
                          on_progress=rec.on_progress, cancel=cancel or threading.Event(),
                          **kw)


def test_v0_end_to_end_through_gateway_without_network(
        built_envs: dict[str, BuiltEnv], v0_venv: PreparedVenv, upstream: Upstream,
        make_gateway: Callable[[str], GatewayHandle], backend: BubblewrapBackend,
        tmp_path: Path) -> None:
    gateway = make_gateway("stub-model")
    # The env probes the model server's own port, a redis-like port and PyPI from inside.
    spec = built_envs["arith-v0"].spec(env_args={"probe_ports": [upstream.port, 6379]})
    rec = Recorder()
    outcome = run(spec, v0_venv, gateway, tmp_path, backend, rec)
    log = (tmp_path / "job.log").read_text()
    assert outcome == RunOutcome("ok", n_samples=6, n_failed=0, total=6), log
    assert sorted(s.key for s in rec.samples) == [(e, r) for e in "012" for r in (0, 1)]
    for sample in rec.samples:
        assert sample.reward == 1.0 and sample.error is None
        assert sample.metrics["correct_answer"] == 1.0
        assert (sample.tokens_in, sample.tokens_out) == (20, 7)
        assert sample.latency_s is not None and sample.latency_s > 0
        assert sample.prompt[-1]["role"] == "user" and "What is" in sample.prompt[-1]["content"]
        assert "\\boxed{" in sample.completion[-1]["content"]
    assert {s.answer for s in rec.samples} == {"19", "83", "63"}
    assert rec.progress[0] == (0, 6) and rec.progress[-1] == (6, 6)
    assert [d for d, _ in rec.progress] == sorted(d for d, _ in rec.progress)
    assert len(gateway.usage) == 6 and all(u.status == 200 for u in gateway.usage)
    probe = json.loads((tmp_path / "work" / "out" / "probe.json").read_text())
    assert probe == {f"tcp:{upstream.port}": "ConnectionRefusedError",
                     "tcp:6379": "ConnectionRefusedError",
                     "dns:pypi.org": "gaierror", "https:pypi.org": "URLError"}, probe


def test_v0_resume_skips_done_pairs(
        built_envs: dict[str, BuiltEnv], v0_venv: PreparedVenv,
        make_gateway: Callable[[str], GatewayHandle], backend: BubblewrapBackend,
        tmp_path: Path) -> None:
    gateway = make_gateway("stub-model")
    rec = Recorder()
    done = {("0", 0), ("2", 1)}
    outcome = run(built_envs["arith-v0"].spec(), v0_venv, gateway, tmp_path, backend, rec,
                  already_done=done)
    assert outcome.status == "ok" and outcome.n_samples == 4
    assert {s.key for s in rec.samples} == {("0", 1), ("1", 0), ("1", 1), ("2", 0)}
    assert rec.progress[0] == (2, 6) and rec.progress[-1] == (6, 6)
    assert len(gateway.usage) == 4  # the done pairs cost nothing


def test_v0_all_rollouts_failed_is_a_failed_run_despite_exit_0(
        built_envs: dict[str, BuiltEnv], v0_venv: PreparedVenv,
        make_gateway: Callable[[str], GatewayHandle], backend: BubblewrapBackend,
        tmp_path: Path) -> None:
    gateway = make_gateway("stub-fail")
    rec = Recorder()
    spec = built_envs["arith-v0"].spec(model="stub-fail", num_examples=2,
                                       rollouts_per_example=1)
    outcome = run(spec, v0_venv, gateway, tmp_path, backend, rec)
    log = (tmp_path / "job.log").read_text()
    assert "exit_code=0" in log  # the harness itself finished normally
    assert outcome.status == "failed" and outcome.error_code == "all_rollouts_failed", log
    assert outcome.n_samples == outcome.n_failed == 2
    assert outcome.error_message is not None and "stub refuses" in outcome.error_message
    assert all(s.error and "stub refuses" in s.error for s in rec.samples)


def test_v0_bad_env_args_fail_with_the_reason(
        built_envs: dict[str, BuiltEnv], v0_venv: PreparedVenv,
        make_gateway: Callable[[str], GatewayHandle], backend: BubblewrapBackend,
        tmp_path: Path) -> None:
    rec = Recorder()
    spec = built_envs["arith-v0"].spec(env_args={"num_examples": "three"})
    outcome = run(spec, v0_venv, make_gateway("stub-model"), tmp_path, backend, rec)
    assert outcome.status == "failed" and outcome.error_code == "env_load_failed"
    assert "'<' not supported" in (outcome.error_message or "")
    assert rec.samples == []


def _sandbox_pids(marker: str) -> list[int]:
    return [pid for pid, cmdline in procs.cmdlines()
            if marker in cmdline.decode(errors="replace")]


def test_cancel_kills_the_sandbox_promptly(
        built_envs: dict[str, BuiltEnv], v0_venv: PreparedVenv, upstream: Upstream,
        make_gateway: Callable[[str], GatewayHandle], backend: BubblewrapBackend,
        tmp_path: Path) -> None:
    gateway = make_gateway("stub-slow")
    rec = Recorder()
    cancel = threading.Event()
    result: list[RunOutcome] = []
    spec = built_envs["arith-v0"].spec(model="stub-slow")
    before = len(upstream.requests)
    thread = threading.Thread(target=lambda: result.append(
        run(spec, v0_venv, gateway, tmp_path, backend, rec, cancel)))
    thread.start()
    deadline = time.monotonic() + 120
    while len(upstream.requests) == before and time.monotonic() < deadline:
        time.sleep(0.2)  # wait until a rollout is waiting on the model
    assert len(upstream.requests) > before
    cancelled_at = time.monotonic()
    cancel.set()
    thread.join(15)
    assert not thread.is_alive()
    assert time.monotonic() - cancelled_at < 5
    assert result[0].status == "cancelled" and result[0].error_code == "cancelled"
    assert _sandbox_pids(str(tmp_path / "work" / "harness")) == []


def test_wall_clock_timeout(
        built_envs: dict[str, BuiltEnv], v0_venv: PreparedVenv,
        make_gateway: Callable[[str], GatewayHandle], backend: BubblewrapBackend,
        tmp_path: Path) -> None:
    rec = Recorder()
    spec = built_envs["arith-v0"].spec(model="stub-slow", timeout_s=12.0)
    outcome = run(spec, v0_venv, make_gateway("stub-slow"), tmp_path, backend, rec)
    assert outcome.status == "timed_out" and outcome.error_code == "timeout"
    assert rec.samples == []


def test_v1_end_to_end_offline_with_resume(
        built_envs: dict[str, BuiltEnv], v1_venv: PreparedVenv,
        make_gateway: Callable[[str], GatewayHandle], backend: BubblewrapBackend,
        tmp_path: Path) -> None:
    gateway = make_gateway("stub-model")
    env = built_envs["arith-v1"]
    rec = Recorder()
    first = run(env.spec(num_examples=2, rollouts_per_example=2), v1_venv, gateway,
                tmp_path / "a", backend, rec)
    log = (tmp_path / "a" / "job.log").read_text()
    assert first == RunOutcome("ok", n_samples=4, n_failed=0, total=4), log
    keys = sorted({s.example_id for s in rec.samples})
    assert len(keys) == 2 and all(len(k) == 64 for k in keys)  # v1 task keys
    for sample in rec.samples:
        assert sample.reward == 1.0 and sample.error is None
        assert sample.metrics == {"correct_answer": 1.0}
        assert (sample.tokens_in, sample.tokens_out) == (20, 7)
        assert sample.answer in {"19", "83"}
        assert sample.completion[-1]["role"] == "assistant"
    # A retry that already stored three of the four: only the missing pair runs.
    done = {(keys[0], 0), (keys[0], 1), (keys[1], 1)}
    again = Recorder()
    second = run(env.spec(num_examples=2, rollouts_per_example=2), v1_venv, gateway,
                 tmp_path / "b", backend, again, already_done=done)
    assert second.status == "ok" and [s.key for s in again.samples] == [(keys[1], 0)]
    assert again.progress[0] == (3, 4) and again.progress[-1] == (4, 4)


def test_v1_all_rollouts_failed(
        built_envs: dict[str, BuiltEnv], v1_venv: PreparedVenv,
        make_gateway: Callable[[str], GatewayHandle], backend: BubblewrapBackend,
        tmp_path: Path) -> None:
    rec = Recorder()
    spec = built_envs["arith-v1"].spec(model="stub-fail", num_examples=1,
                                       rollouts_per_example=2)
    outcome = run(spec, v1_venv, make_gateway("stub-fail"), tmp_path, backend, rec)
    log = (tmp_path / "job.log").read_text()
    assert outcome.status == "failed" and outcome.error_code == "all_rollouts_failed", log
    assert outcome.n_failed == 2 and all(s.reward is None for s in rec.samples)
    assert "400" in (outcome.error_message or "")


def test_prepared_venv_is_reused_and_cached_by_content_hash(
        built_envs: dict[str, BuiltEnv], v0_venv: PreparedVenv) -> None:
    from workers.evals.venvs import VenvCache

    cache = VenvCache(v0_venv.root.parent.parent)
    again = cache.prepare(built_envs["arith-v0"].spec(model="another", num_examples=9))
    assert again == v0_venv  # same content hash: no rebuild
    other = built_envs["arith-v0"].spec(content_hash="0" * 64)
    assert cache.key(other) != v0_venv.key
    assert os.access(v0_venv.python, os.X_OK)
