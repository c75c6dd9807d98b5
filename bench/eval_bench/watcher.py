"""A hosted job's phases, timed from when each step shows in the worker's files."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from . import WATCH_S


class JobWatcher(threading.Thread):
    """Records when each phase of a job first becomes visible in the worker's files.

    The worker runs a job in `<data>/work/<job id>/<attempt dir>/`: `job.log` appears at
    claim, `run/input/config.json` right before the sandbox starts (venv ready, gateway
    up), `run/out/events.jsonl` when the harness's interpreter is up, then its `start`
    event (verifiers imported, environment loaded), one `sample` per rollout and `end`;
    the runner logs `outcome=` once the sandbox has exited. The directory is deleted at
    the end of the job, so it is watched while it runs.
    """

    def __init__(self, job_dir: Path, n_samples: int) -> None:
        super().__init__(daemon=True)
        self.job_dir = job_dir
        self.n_samples = n_samples
        self.marks: dict[str, float] = {}
        self.done = threading.Event()

    def _mark(self, name: str, seen: bool) -> None:
        if seen and name not in self.marks:
            self.marks[name] = time.monotonic()

    def _look(self) -> None:
        for attempt in self.job_dir.glob("*"):
            job_log = _read(attempt / "job.log")
            self._mark("claimed", job_log is not None)
            self._mark("sandbox_launch", (attempt / "run" / "input" / "config.json").exists())
            events = _read(attempt / "run" / "out" / "events.jsonl")
            self._mark("harness_up", events is not None)
            if events:
                self._mark("harness_start", '"type": "start"' in events)
                samples = events.count('"type": "sample"')
                self._mark("first_sample", samples >= 1)
                self._mark("last_sample", samples >= self.n_samples)
                self._mark("harness_end", '"type": "end"' in events)
            self._mark("sandbox_exit", "[envhub-eval] outcome=" in (job_log or ""))

    def run(self) -> None:
        while not self.done.is_set():
            self._look()
            self.done.wait(WATCH_S)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


# Consecutive marks, and what the time between them is spent on.
PHASES = [
    ("post", "created", "POST /evals answered (job row committed, task sent)"),
    ("queue", "claimed", "broker delivery + claim (filesystem transport polling)"),
    ("prepare", "sandbox_launch", "run request, venv cache lookup or build, gateway start"),
    ("sandbox_start", "harness_up", "bwrap + interpreter start in the sandbox"),
    ("harness_load", "harness_start", "import verifiers/datasets, load_environment"),
    ("first_rollout", "first_sample", "first group: model calls through the gateway"),
    ("rollouts", "last_sample", "remaining rollouts (model calls through the gateway)"),
    ("sandbox_exit", "sandbox_exit", "harness exit, sandbox teardown"),
    ("finalize", "terminal", "sample flush, aggregates, log archive, state; client poll"),
]


def phases(marks: dict[str, float], t0: float) -> dict[str, float | None]:
    """Seconds per phase from the first-seen times. A missed mark (a step shorter than the
    watcher's poll) gives None, and its time counts in the next phase."""
    out: dict[str, float | None] = {}
    prev = t0
    for name, mark, _ in PHASES:
        at = marks.get(mark)
        out[name] = round(at - prev, 2) if at is not None else None
        prev = at if at is not None else prev
    return out


HUB_PHASES = ("post", "queue", "prepare", "sandbox_start", "sandbox_exit", "finalize")


def plumbing_s(run: dict[str, Any]) -> float:
    """The hub's own share of a hosted run: every phase but harness start and rollouts."""
    return round(sum(run["phases_s"].get(name) or 0.0 for name in HUB_PHASES), 2)
