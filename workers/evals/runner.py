"""Run one evaluation inside the sandbox and turn what it writes into `Sample`s.

    run_evaluation(spec, venv=..., gateway_socket=..., work_dir=..., log_path=...,
                   backend=..., on_sample=..., on_progress=..., cancel=...,
                   already_done=...) -> RunOutcome

Layout of `work_dir` (the caller owns it; one per job attempt):

    harness/   copies of harness_common.py + harness_v0.py/harness_v1.py  -> /envhub/harness (ro)
    input/     config.json (no URLs, no secrets) + done.jsonl             -> /envhub/input (ro)
    out/       the one writable dir; the harness appends out/events.jsonl -> /out

The gateway is reached only through its Unix socket: the socket's directory is bound at
/run/envhub-gateway when the socket is alone in it (a directory bind survives the gateway
re-creating its socket), else the socket file itself. Outcome rules: cancel -> cancelled,
wall clock -> timed_out, a harness `fatal` event or a crash -> failed with its reason,
every rollout of this run failed -> failed (`all_rollouts_failed`, even on exit 0); a
failed rollout otherwise is just a sample with `error` set.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Set
from dataclasses import replace
from pathlib import Path
from typing import Any

from workers.evals.normalize import NormalizeError, normalize_v0_row, normalize_v1_episode
from workers.evals.spec import EvalRunSpec, RunOutcome, Sample
from workers.evals.venvs import PreparedVenv
from workers.sandbox.base import MiB, SandboxBackend, SandboxResult, SandboxSpec

HARNESS_DIR = "/envhub/harness"
INPUT_DIR = "/envhub/input"
OUTPUT_DIR = "/out"
GATEWAY_DIR = "/run/envhub-gateway"
EVENTS_FILE = "events.jsonl"
MAX_EVENT_BYTES = 32 * MiB  # one sample line; longer ones are skipped and counted
_HERE = Path(__file__).resolve().parent
LOG_PREFIX = "[envhub-eval]"


class EventTail:
    """Reads complete lines appended to the harness's events file, safely: the file is
    written by untrusted code, so it is opened without following symlinks and without
    blocking (a FIFO), and must be a regular file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._buffer = b""
        self._skipping = False
        self.bad_lines = 0

    def _open(self) -> int | None:
        if self._fd is None:
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                return None
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                return None
            self._fd = fd
        return self._fd

    def read(self) -> Iterator[dict[str, Any]]:
        fd = self._open()
        if fd is None:
            return
        while chunk := os.read(fd, 1 << 20):
            self._buffer += chunk
            while (newline := self._buffer.find(b"\n")) >= 0:
                line, self._buffer = self._buffer[:newline], self._buffer[newline + 1:]
                if self._skipping:  # the tail of an oversized line
                    self._skipping = False
                    continue
                event = self._parse(line)
                if event is not None:
                    yield event
            if len(self._buffer) > MAX_EVENT_BYTES:
                self._buffer, self._skipping = b"", True
                self.bad_lines += 1

    def _parse(self, line: bytes) -> dict[str, Any] | None:
        if not line.strip():
            return None
        try:
            event = json.loads(line)
        except ValueError:
            self.bad_lines += 1
            return None
        if not isinstance(event, dict):
            self.bad_lines += 1
            return None
        return event

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _prepare_work_dir(spec: EvalRunSpec, work_dir: Path,
                      already_done: Set[tuple[str, int]]) -> tuple[Path, Path, Path]:
    harness, inputs, out = work_dir / "harness", work_dir / "input", work_dir / "out"
    for path in (harness, inputs, out):  # a previous attempt's files must not be re-read
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    for name in ("harness_common.py", f"harness_{spec.runtime}.py"):
        shutil.copyfile(_HERE / name, harness / name)
    (inputs / "config.json").write_text(json.dumps(spec.harness_config()))
    with (inputs / "done.jsonl").open("w") as fh:
        for example_id, rollout_index in sorted(already_done):
            fh.write(json.dumps([example_id, rollout_index]) + "\n")
    return harness, inputs, out


def _gateway_bind(gateway_socket: Path) -> tuple[Path, str]:
    """(host path, sandbox path of the socket). Bind the directory only when nothing else
    lives there: another job's socket must never become reachable."""
    if not gateway_socket.exists() or not stat.S_ISSOCK(gateway_socket.lstat().st_mode):
        raise FileNotFoundError(f"gateway socket {gateway_socket} does not exist")
    parent = gateway_socket.parent
    if [p.name for p in parent.iterdir()] == [gateway_socket.name]:
        return parent, f"{GATEWAY_DIR}/{gateway_socket.name}"
    return gateway_socket, f"{GATEWAY_DIR}/model.sock"


def build_sandbox_spec(spec: EvalRunSpec, venv: PreparedVenv, gateway_socket: Path,
                       work_dir: Path, already_done: Set[tuple[str, int]] = frozenset(),
                       **overrides: Any) -> SandboxSpec:
    """The sandbox for this run (also prepares `work_dir`). `overrides` replace
    `SandboxSpec` fields (limits) for callers and tests."""
    harness, inputs, out = _prepare_work_dir(spec, work_dir, already_done)
    host_socket, inside_socket = _gateway_bind(gateway_socket)
    env = {
        **venv.sandbox_env(),
        "ENVHUB_GATEWAY_SOCKET": inside_socket,
        "ENVHUB_OUTPUT_DIR": OUTPUT_DIR,
        "TQDM_DISABLE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NO_COLOR": "1",
    }
    fields: dict[str, Any] = {
        "argv": [str(venv.python), f"{HARNESS_DIR}/harness_{spec.runtime}.py",
                 INPUT_DIR, OUTPUT_DIR],
        "venv": venv.venv,
        "output_dir": out,
        "output_dest": OUTPUT_DIR,
        "env": env,
        "ro_binds": [(harness, HARNESS_DIR), (inputs, INPUT_DIR), *venv.sandbox_binds()],
        "sockets": [(host_socket, GATEWAY_DIR if host_socket.is_dir() else inside_socket)],
        # v1 syncs its harness program's env (~60 MB) into /tmp at run time.
        "tmpfs_bytes": (1024 if spec.runtime == "v1" else 512) * MiB,
        "timeout_s": spec.timeout_s,
        # A backstop per process, above the wall clock: a CPU-bound loop must end as
        # `timed_out` by the wall clock, not race it (CPU time of a threaded harness can
        # outrun wall time); only a process burning several cores at once meets it first.
        "cpu_s": cpu_backstop_s(spec.timeout_s),
        "max_pids": 512,
        "cwd": OUTPUT_DIR,
    }
    fields.update(overrides)
    return SandboxSpec(**fields)


def cpu_backstop_s(timeout_s: float) -> int:
    return int(2 * timeout_s) + 10


def _sample_of(spec: EvalRunSpec, event: dict[str, Any]) -> Sample | None:
    example_id, index = event.get("example_id"), event.get("rollout_index")
    if not isinstance(example_id, str) or isinstance(index, bool) or not isinstance(index, int):
        return None
    # The harness runs untrusted code: never accept rollouts beyond what the job asked for.
    if not 0 <= index < spec.rollouts_per_example or not 0 < len(example_id) <= 200:
        return None
    native = event.get("native")
    try:
        if not isinstance(native, dict):
            raise NormalizeError("sample without a native row")
        if spec.runtime == "v0":
            sample = normalize_v0_row(native, index)
        else:
            sample = normalize_v1_episode(native, index)
    except NormalizeError as exc:  # still a rollout we were owed: record it as failed
        return Sample(example_id=example_id, rollout_index=index,
                      error=f"unreadable rollout output: {exc}")
    return replace(sample, example_id=example_id)  # the harness's key is authoritative


def _log(log_path: Path, message: str) -> None:
    with contextlib.suppress(OSError), log_path.open("a") as log:
        log.write(f"{LOG_PREFIX} {message}\n")


def run_evaluation(
    spec: EvalRunSpec, *, venv: PreparedVenv, gateway_socket: Path, work_dir: Path,
    log_path: Path, backend: SandboxBackend, on_sample: Callable[[Sample], None],
    on_progress: Callable[[int, int], None], cancel: threading.Event,
    already_done: Set[tuple[str, int]] = frozenset(), poll_interval_s: float = 0.25,
    **sandbox_overrides: Any,
) -> RunOutcome:
    """Run `spec` in a sandbox and stream its samples; see the module docstring.

    Callbacks run on this thread. An exception from `on_sample`/`on_progress` kills the
    sandbox and propagates. Raises what `backend.start` raises (`SandboxError`s) and
    `FileNotFoundError` for a missing gateway socket."""
    sandbox = build_sandbox_spec(spec, venv, gateway_socket, work_dir, already_done,
                                 **sandbox_overrides)
    tail = EventTail(sandbox.output_dir / EVENTS_FILE)
    seen: set[tuple[str, int]] = set(already_done)
    state: dict[str, Any] = {"total": None, "base": 0, "fatal": None, "end": False}
    samples: list[Sample] = []

    def drain() -> None:
        for event in tail.read():
            kind = event.get("type")
            if kind == "start" and state["total"] is None:
                total, pending = event.get("total"), event.get("pending")
                if isinstance(total, int) and isinstance(pending, int):
                    state["total"], state["base"] = total, max(0, total - pending)
                    on_progress(state["base"], total)
            elif kind == "sample":
                sample = _sample_of(spec, event)
                over = state["total"] is None or state["base"] + len(samples) >= state["total"]
                if sample is None or sample.key in seen or over:  # bad, done, repeated, extra
                    tail.bad_lines += 1
                    continue
                seen.add(sample.key)
                samples.append(sample)
                on_sample(sample)
                if state["total"] is not None:
                    on_progress(state["base"] + len(samples), state["total"])
            elif kind == "fatal":
                state["fatal"] = (str(event.get("code") or "harness_error"),
                                  str(event.get("message") or "")[:2000])
            elif kind == "end":
                state["end"] = True

    handle = backend.start(sandbox, log_path)
    try:
        while not handle.poll():
            if cancel.is_set():
                handle.kill()
                break
            drain()
            cancel.wait(poll_interval_s)
        result = handle.wait()
        drain()
    finally:
        handle.kill()  # no-op once it ended; kills it if a callback raised
        tail.close()
    outcome = _decide(result, cancel.is_set(), state, samples)
    if tail.bad_lines:
        _log(log_path, f"ignored {tail.bad_lines} malformed, repeated or unplanned event(s)")
    _log(log_path, f"outcome={outcome.status} code={outcome.error_code} "
         f"samples={outcome.n_samples} failed={outcome.n_failed}")
    return outcome


def _decide(result: SandboxResult, cancelled: bool, state: dict[str, Any],
            samples: list[Sample]) -> RunOutcome:
    n, failed = len(samples), sum(1 for s in samples if s.failed)
    counts = {"n_samples": n, "n_failed": failed, "total": state["total"]}
    if cancelled or result.cancelled:
        return RunOutcome("cancelled", "cancelled", "the evaluation was cancelled", **counts)
    if result.timed_out:
        return RunOutcome("timed_out", "timeout",
                          f"the evaluation exceeded its {result.duration_s:.0f}s time limit"
                          + _pids_note(result), **counts)
    if state["fatal"] is not None:
        code, message = state["fatal"]
        return RunOutcome("failed", code, message, **counts)
    if not result.ok:
        code, message = _crash_reason(result)
        return RunOutcome("failed", code, message + _pids_note(result), **counts)
    if not state["end"]:
        return RunOutcome("failed", "harness_incomplete",
                          "the harness exited without finishing", **counts)
    if n and failed == n:
        common, times = Counter(s.error for s in samples).most_common(1)[0]
        return RunOutcome("failed", "all_rollouts_failed",
                          f"all {n} rollouts failed; most common error ({times}x): {common}",
                          **counts)
    return RunOutcome("ok", **counts)


def _pids_note(result: SandboxResult) -> str:
    return ("; it hit the sandbox's process limit (a fork bomb, or too many processes or "
            "threads)" if result.pids_limit_hit else "")


def _crash_reason(result: SandboxResult) -> tuple[str, str]:
    tail = result.log_tail.strip().splitlines()[-5:]
    last = (" | ".join(tail))[-800:]
    if result.oom_killed:
        return "out_of_memory", "the evaluation ran out of memory"
    if result.killed_by_signal == signal.SIGXCPU:
        return "resource_limit", f"it used more than its CPU-time limit: {last}"
    if result.killed_by_signal == signal.SIGKILL:
        return "resource_limit", (f"killed by signal {result.killed_by_signal} "
                                  f"(cpu or memory limit): {last}")
    if result.killed_by_signal is not None:
        return "crashed", f"killed by signal {result.killed_by_signal}: {last}"
    return "crashed", f"the harness exited with code {result.exit_code}: {last}"
