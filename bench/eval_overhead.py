"""Hosted evaluation overhead: `POST /api/v1/evals` on a live hub vs `vf-eval` run directly.

One `envhub serve` with its single-machine defaults (SQLite, local storage, embedded
broker and Celery worker, the built-in SmolLM2-135M model server) runs in a scratch data
dir. The v0 example environment (`envhub init --v0`, as the e2e test uses) is pushed to
it. Then, side by side and against the SAME model server (the TCP endpoint `envhub
serve` starts for its `local` provider):

    hosted: POST /api/v1/evals, poll GET /api/v1/evals/{id} until the job is terminal
    direct: vf-eval <env> -m <model> -b <model url> -n N -r R -c C -S <sampling> -s
            (+ the flag that turns its live display off) in a plain virtualenv holding
            the same environment from the hub's index, pinned to the exact versions the
            hub's prepared venv resolved

Both use N examples x R rollouts, greedy decoding (temperature 0) and a small
max_tokens, so they do the same model work; the completion tokens of every run are
reported to show it. The first hosted run finds the venv cache empty (the cold cost);
then K warm hosted runs alternate with K direct runs (medians compared). While a hosted
job runs, its worker-side files are watched to time its phases.

Usage: .venv/bin/python bench/eval_overhead.py [--examples N] [--rollouts R] [--repeats K]
Results: bench/results/eval_overhead.json (and a summary on stdout); scratch state (hub
data, the direct virtualenv, vf-eval outputs, job logs) in bench/results/eval_overhead/.
Needs bubblewrap (the sandbox) and PyPI access (the venvs).

This file is the entry point and the run's outline; the parts live in bench/eval_bench/
(serve, watcher, hosted, direct, hop, verdict, report).
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path
from typing import Any

from benchlib import RESULTS, ROOT, VENV_BIN, loadavg, log, machine, save_json
from eval_bench import GOAL_RATIO, GOAL_SLACK_S, POLL_S, WORK
from eval_bench.direct import direct_run, direct_venv, hub_venv, vf_eval_argv
from eval_bench.hop import gateway_hop
from eval_bench.hosted import eval_body, hosted_run, sampling
from eval_bench.report import section, summary, verdict_rows
from eval_bench.serve import publish, worker_hub
from eval_bench.verdict import verdict

# The five functions run_all.py calls on every benchmark: parser and run are here; summary,
# verdict_rows and section render, in eval_bench/report.py.
__all__ = ["GOAL_RATIO", "GOAL_SLACK_S", "parser", "run", "section", "summary", "verdict_rows"]


def run(args: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {"machine": machine(), "params": params(args),
                           "goal": {"ratio": GOAL_RATIO, "slack_s": GOAL_SLACK_S},
                           "uv_cache_had_verifiers": uv_cache_has("verifiers")}
    started = time.monotonic()
    log(f"starting envhub serve (worker + local model) in {WORK.relative_to(ROOT)} ...")
    with worker_hub(WORK) as (hub, startup):
        res["hub"] = {"command": " ".join(hub.command), "startup_s": startup,
                      "model_url": hub.model_url}
        res["publish"] = publish(hub, WORK)
        log("hosted, cold venv cache ...")
        res["cold"] = hosted_run(hub, args, "hosted cold")
        res["cold"]["venv_built_s"] = hub_venv(hub)[1].get("built_s")
        log("direct virtualenv from the hub's index ...")
        venv = direct_venv(hub, WORK)
        res["direct_setup"] = {"seconds": venv.setup_s, "commands": venv.commands,
                               "python": venv.python, "verifiers": venv.verifiers,
                               "display_flags": venv.display}
        res["vf_eval_command"] = " ".join(vf_eval_argv(venv, hub, args))
        res["direct"], res["warm"] = [], []
        for i in range(1, args.repeats + 1):
            # Alternate, and swap who goes first, so load drifts hit both sides alike.
            for side in ("direct", "hosted") if i % 2 else ("hosted", "direct"):
                if side == "direct":
                    res["direct"].append(direct_run(venv, hub, args, WORK, f"direct {i}"))
                else:
                    res["warm"].append(hosted_run(hub, args, f"hosted warm {i}"))
        log("gateway hop ...")
        res["gateway_hop"] = gateway_hop(hub, args.hop_requests)
    res["verdict"] = verdict(res)
    res["loadavg_at_end"] = loadavg()
    res["total_s"] = round(time.monotonic() - started, 1)
    res["raw_file"] = str((RESULTS / "eval_overhead.json").relative_to(ROOT))
    save_json("eval_overhead.json", res)
    return res


def params(args: argparse.Namespace) -> dict[str, Any]:
    return {"examples": args.examples, "rollouts": args.rollouts, "repeats": args.repeats,
            "max_concurrency": args.concurrency, "sampling_args": sampling(args),
            "hosted_body": eval_body(args), "vf_eval_flags": args.vf_eval_flags,
            "client_poll_s": POLL_S}


def uv_cache_has(name: str) -> bool:
    """Whether uv's download cache already held `name` (a cold venv build is faster then)."""
    proc = subprocess.run([str(VENV_BIN / "uv"), "cache", "dir"], capture_output=True, text=True)
    root = Path(proc.stdout.strip() or Path.home() / ".cache" / "uv")
    return any(root.glob(f"wheels-*/*/{name}")) or any(root.glob(f"wheels-*/*/{name}-*"))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", "-n", type=int, default=2, help="examples per run")
    p.add_argument("--rollouts", "-r", type=int, default=2, help="rollouts per example")
    p.add_argument("--repeats", "-k", type=int, default=5, help="warm hosted and direct runs")
    p.add_argument("--max-tokens", type=int, default=16,
                   help="max_tokens per model call (small: the model runs on one CPU thread)")
    p.add_argument("--concurrency", type=int, default=4, help="max concurrency, both sides")
    p.add_argument("--hop-requests", type=int, default=5,
                   help="one-token chat requests per path for the gateway hop (x6 GET /models)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    p.add_argument("--vf-eval-flag", dest="vf_eval_flags", action="append", default=[],
                   help="extra vf-eval flag (repeatable), e.g. --vf-eval-flag=--verbose")
    return p


def main() -> None:
    print(summary(run(parser().parse_args())))


if __name__ == "__main__":
    main()
