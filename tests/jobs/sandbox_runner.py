"""A real but trivial evaluation runner for the job machinery's tests.

It runs a small Python script inside the REAL bubblewrap sandbox; the script writes one
JSON sample per rollout to /out/samples.jsonl (slowly, so tests can kill or cancel it
mid-run) and prints a log line per rollout. The runner tails that file and reports each
sample, obeys `cancel` by killing the sandbox, and honours `request.skip` (resume).
Knobs come from `env_args`: delay (s per rollout), mode (ok | fail | crash | hang | noisy:
also prints terminal control sequences, as hostile environment code could).
Select it in a worker process with HUB_EVAL_RUNNER=tests.jobs.sandbox_runner:run.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.evals.execution import RunOutcome, RunRequest
from workers.sandbox import BubblewrapBackend, SandboxSpec

SCRIPT = r"""
import json, os, sys, time
n, r = int(os.environ["N"]), int(os.environ["R"])
delay, mode = float(os.environ["DELAY"]), os.environ["MODE"]
skip = {tuple(k) for k in json.loads(os.environ["SKIP"])}
if mode == "hang":
    time.sleep(3600)
if mode == "noisy":  # OSC 52 (set the viewer's clipboard), then a line rewrite
    print("\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2K[envhub] finished: forged", flush=True)
with open("/out/samples.jsonl", "a") as out:
    for i in range(n):
        for k in range(r):
            if (str(i), k) in skip:
                continue
            time.sleep(delay)
            failed = mode == "fail"
            rec = {"example_id": i, "rollout_index": k, "prompt": f"what is {i}+{k}?",
                   "completion": str(i + k), "answer": str(i + k),
                   "reward": None if failed else float((i + k) % 2 == 0),
                   "error": "ValueError: the environment always fails" if failed else None,
                   "tokens_in": 12, "tokens_out": 3, "latency_s": delay, "metrics": {}}
            out.write(json.dumps(rec) + "\n")
            out.flush()
            print(f"rollout {i}.{k} reward={rec['reward']}", flush=True)
            if mode == "crash" and i == 1:
                sys.exit(3)
print("done", flush=True)
"""

_backend: BubblewrapBackend | None = None
_lock = threading.Lock()


def backend() -> BubblewrapBackend:
    global _backend
    with _lock:
        if _backend is None:
            _backend = BubblewrapBackend()
        return _backend


def _drain(path: Path, pos: int, on_sample: Callable[[dict[str, Any]], None]) -> int:
    try:
        with path.open("rb") as fh:
            fh.seek(pos)
            data = fh.read()
    except FileNotFoundError:
        return pos
    end = data.rfind(b"\n") + 1
    for line in data[:end].splitlines():
        on_sample(json.loads(line))
    return pos + end


def run(request: RunRequest, *, on_sample: Callable[[dict[str, Any]], None],
        on_progress: Callable[[int, int], None], cancel: threading.Event) -> RunOutcome:
    out = request.workdir / "out"
    out.mkdir(parents=True, exist_ok=True)
    args = request.env_args
    env = {"N": str(request.num_examples), "R": str(request.rollouts_per_example),
           "DELAY": str(args.get("delay", 0.05)), "MODE": str(args.get("mode", "ok")),
           "SKIP": json.dumps(sorted(request.skip))}
    # The job id in argv marks the sandbox's processes, so tests can find leftovers.
    spec = SandboxSpec(argv=["python", "-c", SCRIPT, f"envhub-job-{request.job_id}"],
                       venv=Path(sys.prefix), output_dir=out, env=env,
                       timeout_s=request.timeout_s, kill_grace_s=1.0)
    handle = backend().start(spec, request.log_path)
    pos = 0
    total = request.num_examples * request.rollouts_per_example
    while not handle.poll():
        pos = _drain(out / "samples.jsonl", pos, on_sample)
        on_progress(0, total)
        if cancel.is_set():
            handle.kill()
            handle.wait()
            return RunOutcome("cancelled", "cancelled", "cancel requested")
        time.sleep(0.05)
    result = handle.wait()
    _drain(out / "samples.jsonl", pos, on_sample)
    if result.timed_out:
        return RunOutcome("timed_out", "timeout", f"sandbox timed out after {spec.timeout_s}s")
    if result.exit_code != 0:
        return RunOutcome("failed", "sandbox-exit", f"exit {result.exit_code}: "
                          f"{result.log_tail[-300:]}")
    return RunOutcome("completed")
