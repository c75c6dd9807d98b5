"""The runner's own logic with a scripted backend (no sandbox): the sandbox spec it builds,
how it follows the events file (safely), and how it decides a run's outcome."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workers.evals.runner import EventTail, build_sandbox_spec, run_evaluation
from workers.evals.spec import EvalRunSpec, RunOutcome, Sample
from workers.evals.venvs import PreparedVenv
from workers.sandbox.base import SandboxBackend, SandboxHandle, SandboxResult, SandboxSpec

Script = Callable[[Path, threading.Event], int | None]


class FakeHandle(SandboxHandle):
    def __init__(self, spec: SandboxSpec, log: Path, script: Script) -> None:
        self.killed = threading.Event()
        self._log = log
        self._code: int | None = None
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(spec, script))
        self._thread.start()

    def _run(self, spec: SandboxSpec, script: Script) -> None:
        self._code = script(spec.output_dir / "events.jsonl", self.killed)

    @property
    def pid(self) -> int:
        return 1

    def poll(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> SandboxResult:
        self._thread.join(timeout)
        timed_out = self._code == 124
        return SandboxResult(
            exit_code=None if self.killed.is_set() or timed_out else self._code,
            timed_out=timed_out, killed_by_signal=9 if self.killed.is_set() else None,
            cancelled=self.killed.is_set(), duration_s=time.monotonic() - self._started,
            log_path=self._log, log_tail="last words")

    def kill(self) -> None:
        if self._thread.is_alive():
            self.killed.set()


class FakeBackend(SandboxBackend):
    name = "fake"

    def __init__(self, script: Script) -> None:
        self.script = script
        self.handles: list[FakeHandle] = []

    def start(self, spec: SandboxSpec, log_path: Path) -> FakeHandle:
        self.handles.append(FakeHandle(spec, log_path, self.script))
        return self.handles[-1]


def v0_row(example: int, reward: float | None = 1.0, error: Any = None) -> dict[str, Any]:
    return {"example_id": example, "prompt": [{"role": "user", "content": "q"}],
            "completion": [{"role": "assistant", "content": "a"}], "reward": reward,
            "error": error, "metrics": {"m": reward or 0.0},
            "token_usage": {"input_tokens": 3, "output_tokens": 2}}


def events_script(events: list[dict[str, Any] | bytes], code: int | None = 0,
                  hang: bool = False) -> Script:
    def script(path: Path, killed: threading.Event) -> int | None:
        with path.open("ab") as fh:
            for event in events:
                fh.write(event if isinstance(event, bytes) else json.dumps(event).encode() + b"\n")
                fh.flush()
                time.sleep(0.02)
        if hang:
            killed.wait(30)
        return code

    return script


@pytest.fixture
def venv(tmp_path: Path) -> PreparedVenv:
    root = tmp_path / "entry"
    for sub in ("venv/bin", "wheelhouse", "empty-index"):
        (root / sub).mkdir(parents=True)
    return PreparedVenv(root=root, key="k", runtime="v0", verifiers_version="0.1.14")


@pytest.fixture
def gateway_socket(tmp_path: Path) -> Any:
    directory = tmp_path / "gw"
    directory.mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(directory / "model.sock"))
    yield directory / "model.sock"
    sock.close()


SPEC = EvalRunSpec(dist_name="env", version="1", runtime="v0", content_hash="h",
                   index_url="https://user:tok@hub/simple/env/", model="m",
                   num_examples=2, rollouts_per_example=2)


def go(tmp_path: Path, venv: PreparedVenv, sock: Path, backend: FakeBackend,
       cancel: threading.Event | None = None, **kw: Any
       ) -> tuple[RunOutcome, list[Sample], list[tuple[int, int]]]:
    samples: list[Sample] = []
    progress: list[tuple[int, int]] = []
    outcome = run_evaluation(SPEC, venv=venv, gateway_socket=sock, work_dir=tmp_path / "w",
                             log_path=tmp_path / "log", backend=backend,
                             on_sample=samples.append,
                             on_progress=lambda d, t: progress.append((d, t)),
                             cancel=cancel or threading.Event(), poll_interval_s=0.01, **kw)
    return outcome, samples, progress


def test_sandbox_spec_binds_and_environment(tmp_path: Path, venv: PreparedVenv,
                                            gateway_socket: Path) -> None:
    spec = build_sandbox_spec(SPEC, venv, gateway_socket, tmp_path / "w", {("0", 1)})
    assert spec.argv == [str(venv.python), "/envhub/harness/harness_v0.py", "/envhub/input",
                         "/out"]
    assert (gateway_socket.parent, "/run/envhub-gateway") in spec.sockets
    assert spec.env["ENVHUB_GATEWAY_SOCKET"] == "/run/envhub-gateway/model.sock"
    assert spec.env["UV_DEFAULT_INDEX"] == venv.empty_index.as_uri()
    assert spec.env["HF_HUB_OFFLINE"] == "1"
    work = tmp_path / "w"
    assert sorted(p.name for p in (work / "harness").iterdir()) == ["harness_common.py",
                                                                   "harness_v0.py"]
    config = (work / "input" / "config.json").read_text()
    assert "tok@" not in config and "hub/simple" not in config  # no URLs, no credentials
    assert (work / "input" / "done.jsonl").read_text() == '["0", 1]\n'
    assert not any("tok" in v for v in spec.env.values())
    # Another file beside the socket: bind only the socket, never its neighbours.
    (gateway_socket.parent / "other.sock").touch()
    spec = build_sandbox_spec(SPEC, venv, gateway_socket, tmp_path / "w")
    assert spec.sockets == [(gateway_socket, "/run/envhub-gateway/model.sock")]


def test_streams_samples_progress_and_skips_done_and_repeats(
        tmp_path: Path, venv: PreparedVenv, gateway_socket: Path) -> None:
    backend = FakeBackend(events_script([
        {"type": "start", "total": 4, "pending": 3},
        {"type": "sample", "example_id": "0", "rollout_index": 1, "native": v0_row(0)},
        {"type": "sample", "example_id": "0", "rollout_index": 1, "native": v0_row(0)},
        {"type": "sample", "example_id": "0", "rollout_index": 0, "native": v0_row(0)},
        b"{not json\n", b'"a string"\n',
        {"type": "sample", "example_id": "1", "rollout_index": 0, "native": "garbage"},
        {"type": "sample", "example_id": "1", "rollout_index": 1,
         "native": v0_row(1, 0.0, {"error": "ModelError", "error_chain_str": "boom"})},
        # Beyond the plan (rollout index out of range, then one sample too many): dropped.
        {"type": "sample", "example_id": "1", "rollout_index": 7, "native": v0_row(1)},
        {"type": "sample", "example_id": "9", "rollout_index": 0, "native": v0_row(9)},
        {"type": "end"}]))
    outcome, samples, progress = go(tmp_path, venv, gateway_socket, backend,
                                    already_done={("0", 0)})
    assert [s.key for s in samples] == [("0", 1), ("1", 0), ("1", 1)]
    assert samples[0] == Sample("0", 1, [{"role": "user", "content": "q"}],
                                [{"role": "assistant", "content": "a"}], None, 1.0,
                                {"m": 1.0}, 3, 2, None, None)
    assert samples[1].error is not None and "unreadable" in samples[1].error
    assert samples[2].error == "boom"
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert outcome == RunOutcome("ok", n_samples=3, n_failed=2, total=4)
    assert "ignored 6 malformed, repeated or unplanned" in (tmp_path / "log").read_text()


def test_all_failed_run_is_failed_even_with_exit_0(tmp_path: Path, venv: PreparedVenv,
                                                    gateway_socket: Path) -> None:
    bad = {"error": "ModelError", "error_chain_str": "ModelError: 429 budget exceeded"}
    backend = FakeBackend(events_script([
        {"type": "start", "total": 2, "pending": 2},
        {"type": "sample", "example_id": "0", "rollout_index": 0, "native": v0_row(0, 0.0, bad)},
        {"type": "sample", "example_id": "1", "rollout_index": 0, "native": v0_row(1, 0.0, bad)},
        {"type": "end"}], code=0))
    outcome, _, _ = go(tmp_path, venv, gateway_socket, backend)
    assert outcome.status == "failed" and outcome.error_code == "all_rollouts_failed"
    assert "429 budget exceeded" in (outcome.error_message or "")


@pytest.mark.parametrize(("events", "code", "expected"), [
    ([{"type": "fatal", "code": "env_load_failed", "message": "no module"}], 2,
     ("failed", "env_load_failed")),
    ([{"type": "start", "total": 1, "pending": 1}], 1, ("failed", "crashed")),
    ([{"type": "start", "total": 1, "pending": 1}], 0, ("failed", "harness_incomplete")),
    ([{"type": "start", "total": 1, "pending": 1}], 124, ("timed_out", "timeout")),
    ([{"type": "start", "total": 0, "pending": 0}, {"type": "end"}], 0, ("ok", None)),
])
def test_outcomes(tmp_path: Path, venv: PreparedVenv, gateway_socket: Path,
                  events: list[dict[str, Any]], code: int, expected: tuple[str, str | None]
                  ) -> None:
    outcome, _, _ = go(tmp_path, venv, gateway_socket, FakeBackend(events_script(events, code)))
    assert (outcome.status, outcome.error_code) == expected


def test_cancel_kills_and_reports_cancelled(tmp_path: Path, venv: PreparedVenv,
                                            gateway_socket: Path) -> None:
    cancel = threading.Event()
    backend = FakeBackend(events_script([{"type": "start", "total": 4, "pending": 4}],
                                        hang=True))
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    started = time.monotonic()
    outcome, _, progress = go(tmp_path, venv, gateway_socket, backend, cancel)
    assert outcome.status == "cancelled" and time.monotonic() - started < 5
    assert progress == [(0, 4)]


def test_a_failing_callback_kills_the_sandbox(tmp_path: Path, venv: PreparedVenv,
                                              gateway_socket: Path) -> None:
    backend = FakeBackend(events_script([
        {"type": "start", "total": 1, "pending": 1},
        {"type": "sample", "example_id": "0", "rollout_index": 0, "native": v0_row(0)}],
        hang=True))

    def broken(_: Sample) -> None:
        raise RuntimeError("storage down")

    with pytest.raises(RuntimeError, match="storage down"):
        run_evaluation(SPEC, venv=venv, gateway_socket=gateway_socket, work_dir=tmp_path / "w",
                       log_path=tmp_path / "log", backend=backend, on_sample=broken,
                       on_progress=lambda *_: None, cancel=threading.Event())
    handle = backend.handles[0]
    assert handle.killed.is_set()  # the sandbox was not left running
    handle.wait(5)
    assert handle.poll()


def test_event_tail_refuses_symlinks_and_fifos_and_skips_huge_lines(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text('{"type": "sample", "stolen": true}\n')
    link = tmp_path / "events.jsonl"
    link.symlink_to(secret)
    assert list(EventTail(link).read()) == []
    link.unlink()
    os.mkfifo(link)
    assert list(EventTail(link).read()) == []  # no blocking on a FIFO
    link.unlink()
    tail = EventTail(link)
    with link.open("wb") as fh:
        fh.write(b'{"type": "a"}\n{"type": "b"')
    assert [e["type"] for e in tail.read()] == ["a"]  # partial line waits
    with link.open("ab") as fh:
        fh.write(b"}\n" + b"x" * (33 * 1024 * 1024) + b"\n" + b'{"type": "c"}\n')
    assert [e["type"] for e in tail.read()] == ["b", "c"]
    assert tail.bad_lines == 1
    tail.close()
