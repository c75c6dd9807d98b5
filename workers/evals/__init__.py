"""Hosted evaluations of verifiers environments (both generations) in the sandbox.

`venvs.VenvCache` prepares the environment's virtualenv (+ offline wheelhouse),
`runner.run_evaluation` runs it in a `workers.sandbox` backend through the model gateway,
`normalize` turns native `vf-eval` output into `spec.Sample`s. See
docs/design/eval-runners.md.
"""

from workers.evals.normalize import (
    NormalizeError,
    normalize_v0_results,
    normalize_v0_rows,
    normalize_v1_rows,
    normalize_v1_traces,
)
from workers.evals.runner import run_evaluation
from workers.evals.spec import EvalRunSpec, RunOutcome, Sample
from workers.evals.venvs import PreparedVenv, VenvCache, VenvPrepareError

__all__ = [
    "EvalRunSpec",
    "NormalizeError",
    "PreparedVenv",
    "RunOutcome",
    "Sample",
    "VenvCache",
    "VenvPrepareError",
    "normalize_v0_results",
    "normalize_v0_rows",
    "normalize_v1_rows",
    "normalize_v1_traces",
    "run_evaluation",
]
