"""What an evaluation run is asked to do, what one rollout produces, and how a run ended.

`EvalRunSpec` is the worker-side description of one hosted evaluation (the job side
builds it from the job's spec and the registry's version row). `Sample` is the ONE
normalized record both verifiers generations are reduced to, by hosted runs and by
self-reported uploads alike. `RunOutcome` is what `run_evaluation` returns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Runtime = Literal["v0", "v1"]
OutcomeStatus = Literal["ok", "failed", "timed_out", "cancelled"]

PYPI_SIMPLE = "https://pypi.org/simple"
MAX_ERROR_CHARS = 2000  # same cap as the evals domain stores


@dataclass(frozen=True)
class EvalRunSpec:
    """One hosted evaluation of `dist_name==version` against `model`.

    `index_url` is the hub's package-scoped simple index for the environment (it may embed
    a basic-auth token for private environments: never log it). `extra_index_url` is where
    the environment's other dependencies come from. `env_args` are the v0
    `load_environment(**env_args)` keyword arguments; for v1 they are the `[env]` config
    block of `vf-eval` (e.g. `{"taskset": {"num_tasks": 4}}`), merged onto the hub's own
    settings. `num_examples <= 0` means all. `seed=None` takes the first examples in
    dataset order (what `vf-eval` does); an int shuffles with that seed first.

    `environment` (owner/name) and `wheel_sha256` (the sha256 the hub recorded for the
    version's wheel) name what gets installed: they key the venv cache, and the wheel is
    installed pinned to that hash. Hosted runs always set both; "" is for local tools.
    """

    dist_name: str
    version: str
    runtime: Runtime
    content_hash: str
    index_url: str
    model: str
    extra_index_url: str = PYPI_SIMPLE
    num_examples: int = 5
    rollouts_per_example: int = 1
    sampling_args: Mapping[str, Any] = field(default_factory=dict)
    env_args: Mapping[str, Any] = field(default_factory=dict)
    max_concurrency: int = 4
    seed: int | None = None
    timeout_s: float = 3600.0
    environment: str = ""
    wheel_sha256: str = ""

    def __post_init__(self) -> None:
        if self.runtime not in ("v0", "v1"):
            raise ValueError(f"runtime must be 'v0' or 'v1', not {self.runtime!r}")
        if self.rollouts_per_example < 1:
            raise ValueError("rollouts_per_example must be >= 1")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        if not self.dist_name or not self.version:
            raise ValueError("dist_name and version are required")

    def harness_config(self) -> dict[str, Any]:
        """The JSON handed to the in-sandbox harness: no URLs, no credentials."""
        return {
            "runtime": self.runtime,
            "dist_name": self.dist_name,
            "version": self.version,
            "model": self.model,
            "num_examples": self.num_examples,
            "rollouts_per_example": self.rollouts_per_example,
            "sampling_args": dict(self.sampling_args),
            "env_args": dict(self.env_args),
            "max_concurrency": self.max_concurrency,
            "seed": self.seed,
        }


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class Sample:
    """One rollout, normalized. `error` set means the rollout failed (it is still data:
    its row counts toward the error rate). `reward` is None when it was never scored.
    `prompt`/`completion` are chat message lists (or plain strings for completion-style
    environments), as the environment produced them."""

    example_id: str
    rollout_index: int
    prompt: Any = None
    completion: Any = None
    answer: Any = None
    reward: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    error: str | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.example_id, self.rollout_index)

    @property
    def failed(self) -> bool:
        return self.error is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Sample:
        """Lenient constructor for stored rows: drops non-finite numbers and non-numeric
        metrics instead of failing."""
        metrics = raw.get("metrics")
        clean_metrics = {
            str(k): f
            for k, v in (metrics.items() if isinstance(metrics, Mapping) else ())
            if (f := _finite(v)) is not None
        }
        tokens_in, tokens_out = _finite(raw.get("tokens_in")), _finite(raw.get("tokens_out"))
        error = raw.get("error")
        return cls(
            example_id=str(raw["example_id"]),
            rollout_index=int(raw.get("rollout_index", 0)),
            prompt=raw.get("prompt"),
            completion=raw.get("completion"),
            answer=raw.get("answer"),
            reward=_finite(raw.get("reward")),
            metrics=clean_metrics,
            tokens_in=None if tokens_in is None else int(tokens_in),
            tokens_out=None if tokens_out is None else int(tokens_out),
            latency_s=_finite(raw.get("latency_s")),
            error=None if error in (None, "") else str(error)[:MAX_ERROR_CHARS],
        )


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended. `error_code` is a stable machine code (see docs/design/
    eval-runners.md); `n_samples` counts the samples this run produced (not ones skipped
    as already done), `n_failed` those among them with an error."""

    status: OutcomeStatus
    error_code: str | None = None
    error_message: str | None = None
    n_samples: int = 0
    n_failed: int = 0
    total: int | None = None  # rollouts the run was planned to produce, when known

    @property
    def ok(self) -> bool:
        return self.status == "ok"
