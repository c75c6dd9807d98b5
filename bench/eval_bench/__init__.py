"""The eval overhead benchmark's parts; `bench/eval_overhead.py` is its entry point.

    serve    `envhub serve` with its embedded worker and local model, and the published
             environment
    watcher  the worker-side file watcher that times a hosted job's phases
    hosted   one hosted evaluation through the API, and what its job log and row say
    direct   the plain virtualenv and one `vf-eval` run in it
    hop      the model gateway's own cost per call, measured alone
    verdict  the goal judged on the runs (medians, pairs, equal work)
    report   the summary, Verdict rows and section 3 of docs/benchmarks.md

The knobs below are shared by those modules.
"""

from benchlib import RESULTS

GOAL_RATIO = 1.15
GOAL_SLACK_S = 3.0
OWNER = "admin"  # the user `envhub serve` bootstraps on an empty hub
ENV_NAME = "tiny-arith"
PROVIDER_MODEL = "local/smollm2-135m-instruct"
MODEL_ID = "smollm2-135m-instruct"  # what the local server answers to
PYPI = "https://pypi.org/simple"  # what the hub's venv builder resolves dependencies from
WORK = RESULTS / "eval_overhead"
TERMINAL = {"succeeded", "failed", "cancelled", "timed_out"}
POLL_S = 0.2  # client poll of the evaluation's state
WATCH_S = 0.05  # watcher poll of the worker's files
# What the sandbox sets for the harness; the direct run gets the same, so neither side
# pays for progress bars or Hugging Face network checks the other skips.
QUIET_ENV = {"TQDM_DISABLE": "1", "NO_COLOR": "1", "HF_HUB_OFFLINE": "1",
             "HF_DATASETS_OFFLINE": "1"}
API_KEY_VAR = "ENVHUB_BENCH_MODEL_KEY"  # the local model checks no key; vf-eval wants one
