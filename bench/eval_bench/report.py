"""The eval benchmark's summary, Verdict rows and section 3 of docs/benchmarks.md.

Rendering only, from the result dict `eval_overhead.run` returns (and saves as
bench/results/eval_overhead.json).
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from benchlib import ROOT

from . import ENV_NAME, GOAL_RATIO, GOAL_SLACK_S, POLL_S, QUIET_ENV, WATCH_S
from .watcher import PHASES, plumbing_s


def summary(res: dict[str, Any]) -> str:
    v = res["verdict"]
    word = "meets" if v["meets_goal"] else "MISSES"
    return (f"hosted eval {v['hosted_warm_median_s']} s (warm median) vs vf-eval"
            f" {v['direct_median_s']} s = {v['ratio']}x ({v['overhead_s']:+} s); goal <="
            f" {GOAL_RATIO}x + {GOAL_SLACK_S:g} s = {v['limit_s']} s: {word}; cold cache"
            f" {v['cold_s']} s; load {res['machine']['loadavg_at_start']} ->"
            f" {res['loadavg_at_end']}")


def _bold(ok: bool) -> str:
    return "**meets**" if ok else "**misses**"


def _work(res: dict[str, Any]) -> str:
    p = res["params"]
    return (f"{p['examples']} examples x {p['rollouts']} rollouts, max_tokens"
            f" {p['sampling_args']['max_tokens']}, temperature 0")


def verdict_rows(res: dict[str, Any]) -> list[str]:
    v = res["verdict"]
    return [
        f"| hosted evaluation ({_work(res)}), warm venv cache: <= {GOAL_RATIO}x `vf-eval` +"
        f" {GOAL_SLACK_S:g} s | {v['hosted_warm_median_s']} s vs {v['direct_median_s']} s ="
        f" {v['ratio']}x ({v['overhead_s']:+} s; limit {v['limit_s']} s) | |"
        f" {_bold(v['meets_goal'])} |",
        f"| hosted evaluation, cold venv cache (report only) | {v['cold_s']} s"
        f" ({v['cold_extra_over_warm_s']:+} s over warm) | | reported |",
    ]


def _med(values: list[float | None]) -> float | None:
    present = [x for x in values if x is not None]
    return round(statistics.median(present), 2) if present else None


def _cell(value: object) -> str:
    return "n/a" if value is None else str(value)


def section(res: dict[str, Any]) -> list[str]:
    return [*_what_ran(res), *_direct_table(res), *_hosted_table(res), *_verdict_text(res),
            *_phase_table(res), *_explanation(res)]


def _rel(text: str) -> str:
    return text.replace(str(ROOT) + "/", "")


def _what_ran(res: dict[str, Any]) -> list[str]:
    p, d = res["params"], res["direct_setup"]
    return [
        "## 3. Hosted evaluation overhead over vf-eval",
        "",
        f"The v0 example environment (`envhub init {ENV_NAME} --v0`, eight inline arithmetic"
        f" questions, the one the e2e test evaluates) evaluated with {_work(res)} and max"
        f" concurrency {p['max_concurrency']}, against the same model server on both sides:"
        f" the SmolLM2-135M server that `envhub serve` starts for its `local` provider"
        f" (`{res['hub']['model_url']}`, one torch thread). Greedy decoding makes both sides"
        " produce the same tokens; the tables show the completion tokens of every run.",
        "",
        f"- hub: `{_rel(res['hub']['command'])}` with the embedded defaults (SQLite, local"
        " storage, filesystem broker, Celery worker, local model), in a fresh data dir; the"
        f" environment published with `{'`, `'.join(res['publish']['commands'])}`.",
        f"- hosted: `POST /api/v1/evals` with `{json.dumps(p['hosted_body'])}`, then `GET"
        f" /api/v1/evals/{{id}}` every {p['client_poll_s']} s until terminal; timed from"
        " sending the POST to seeing `succeeded`.",
        f"- direct: `{_rel(res['vf_eval_command'])}` in a fresh working directory per run, with"
        f" `{' '.join(f'{k}={v}' for k, v in QUIET_ENV.items())}` as the sandbox has; timed"
        f" from spawn to exit.{_display_note(d)} verifiers {d['verifiers']} (what the hub's"
        " venv resolved for the environment's `verifiers>=0.1.9,<0.2`); the virtualenv was"
        " built with"
        f" `{_rel(d['commands'][0])}` and `{_rel(d['commands'][1])}` (the constraints are"
        " `uv pip freeze` of the hub's prepared venv, so both sides run the same packages).",
        f"- order: one cold hosted run (empty venv cache), then {p['repeats']} pairs of a"
        " direct and a warm hosted run, alternating which goes first, so changes in the"
        " machine's load hit both sides.",
        "",
    ]


def _display_note(direct_setup: dict[str, Any]) -> str:
    flags = " ".join(direct_setup.get("display_flags") or [])
    if not flags:
        return ""
    return (f" `{flags}` is how this vf-eval turns its live Rich display off (there is no"
            " terminal, and the hosted side draws none); it logs plainly instead.")


def _direct_table(res: dict[str, Any]) -> list[str]:
    out = ["| direct run | seconds | vf-eval's own \"completed in\" s | samples | completion"
           " tokens | load avg before -> after |", "|---|---|---|---|---|---|"]
    for r in res["direct"]:
        out.append(f"| {r['label']} | {r['seconds']} | {_cell(r['vf_eval_reported_s'])}"
                   f" | {r['n_samples']} | {r['tokens_out']} | {r['loadavg_before']} ->"
                   f" {r['loadavg_after']} |")
    med = res["verdict"]["direct_median_s"]
    return [*out, f"| **median** | **{med}** | | | | |", ""]


def _hosted_table(res: dict[str, Any]) -> list[str]:
    out = ["| hosted run | seconds | hub plumbing s | server: queued s / ran s | samples"
           " | completion tokens | model requests (gateway latency sum s)"
           " | load avg before -> after |", "|---|---|---|---|---|---|---|---|"]
    for r in [res["cold"], *res["warm"]]:
        g, s = r["gateway"], r["server"]
        out.append(f"| {r['label']} | {r['seconds']} | {plumbing_s(r)} | {_cell(s['queued_s'])}"
                   f" / {_cell(s['ran_s'])} | {r['n_samples']} | {r['tokens_out']}"
                   f" | {g['requests']} ({g['latency_sum_s']}) | {r['loadavg_before']} ->"
                   f" {r['loadavg_after']} |")
    med = res["verdict"]["hosted_warm_median_s"]
    plumbing = _med([plumbing_s(r) for r in res["warm"]])
    return [*out, f"| **median of warm runs** | **{med}** | {plumbing} | | | | | |",
            "", "Hub plumbing = every phase below except harness start and the rollouts (the"
            " work both sides do).", ""]


def _verdict_text(res: dict[str, Any]) -> list[str]:
    v, m = res["verdict"], res["machine"]
    held = "already held" if res["uv_cache_had_verifiers"] else "did not hold"
    work = ("Every run produced the same number of samples and completion tokens: both sides"
            " did the same model work." if v["equal_work"] else
            "**The runs did not all produce the same completion tokens** (see the tables):"
            " compare with care.")
    return [
        f"Goal `hosted <= {GOAL_RATIO} * direct + {GOAL_SLACK_S:g} s` with a warm venv cache:"
        f" {v['hosted_warm_median_s']} s <= {GOAL_RATIO} x {v['direct_median_s']} +"
        f" {GOAL_SLACK_S:g} = {v['limit_s']} s? {_bold(v['meets_goal'])} (ratio"
        f" {v['ratio']}x, {v['overhead_s']:+} s). {work} {_spread_text(v)}",
        "",
        f"Cold venv cache: the first hosted run took {v['cold_s']} s, {v['cold_extra_over_warm_s']}"
        " s more than a warm one, almost all of it building the environment's venv"
        " (`uv venv`, `uv pip install` from the hub's index and PyPI, bytecode compilation)."
        f" uv's download cache {held} verifiers at the start. For comparison, building the"
        " direct side's virtualenv (same pins, uv cache warm by then, bytecode compiled) took"
        f" {res['direct_setup']['seconds']} s.",
        "",
        f"Load average (1/5/15 min, {m['nproc']} CPUs): {m['loadavg_at_start']} at the start,"
        f" {res['loadavg_at_end']} at the end, and before and after every run in the tables."
        " When other work shares the machine single runs vary a lot; the alternating order,"
        f" the medians and the pairs are there for that. Whole benchmark: {res['total_s']} s,"
        f" of which starting the hub {res['hub']['startup_s']['api_s']} s and loading its"
        f" local model {res['hub']['startup_s']['model_s']} s.",
        "",
    ]


def _spread_text(v: dict[str, Any]) -> str:
    """Run-to-run noise next to the verdict, and the paired view of the same runs."""
    (h_low, h_high), (d_low, d_high) = v["hosted_warm_range_s"], v["direct_range_s"]
    diffs = [p["diff_s"] for p in v["pairs"]]
    meeting = sum(1 for p in v["pairs"] if p["meets_goal"])
    return (f"Spread: hosted warm {h_low}-{h_high} s, direct {d_low}-{d_high} s. Paired (each"
            " direct run with the hosted run next to it, which saw about the same load):"
            f" hosted minus direct = {', '.join(f'{d:+}' for d in diffs)} s, median"
            f" {statistics.median(diffs):+.2f} s; the goal holds in {meeting} of"
            f" {len(diffs)} pairs.")


def _phase_table(res: dict[str, Any]) -> list[str]:
    warm, cold = res["warm"], res["cold"]
    out = ["Where a hosted run's time goes, from when each step first became visible in the"
           f" worker's files (polled every {int(WATCH_S * 1000)} ms; the job's directory is"
           " watched while it runs):", "",
           "| phase | what happens | cold s | warm median s |", "|---|---|---|---|"]
    for name, _, what in PHASES:
        out.append(f"| {name} | {what} | {_cell(cold['phases_s'].get(name))}"
                   f" | {_cell(_med([r['phases_s'].get(name) for r in warm]))} |")
    return [*out, ""]


def _explanation(res: dict[str, Any]) -> list[str]:
    warm, v, hop = res["warm"], res["verdict"], res["gateway_hop"]

    def med(name: str) -> float:
        return _med([r["phases_s"].get(name) for r in warm]) or 0.0

    plumbing = _med([plumbing_s(r) for r in warm]) or 0.0
    generation = med("first_rollout") + med("rollouts")
    direct = v["direct_median_s"]
    vf_own = _med([r["vf_eval_reported_s"] for r in res["direct"]])
    outside = round(direct - vf_own, 2) if vf_own is not None else None
    cold = res["cold"]
    return [
        "Where the time goes (warm medians unless said otherwise):",
        "",
        f"- **Hub plumbing: {plumbing:.2f} s per run.** POST {med('post')} s; queue"
        f" {med('queue')} s: the embedded broker is kombu's filesystem transport, which the"
        " worker polls (the hub sets kombu's `polling_interval` to 0.1 s; kombu's default"
        f" is 1 s) before the job is claimed; prepare {med('prepare')} s: a"
        " venv cache hit, the model gateway (a uvicorn server on a fresh Unix socket) and"
        " the run's input files; sandbox start"
        f" {med('sandbox_start')} s (bwrap and the venv's interpreter); sandbox exit"
        f" {med('sandbox_exit')} s; finalize {med('finalize')} s: the result upload (the"
        " last JSONL chunk of samples to storage plus their index rows), the aggregates,"
        f" the log moved to storage, the state change, and up to one client poll ({POLL_S} s).",
        f"- **Harness start: {med('harness_load')} s**, importing verifiers and datasets and"
        " loading the environment inside the sandbox; `vf-eval` does the same before its"
        " first request.",
        f"- **Model work: {generation:.2f} s** from the harness's start to its last sample."
        " The gateway hop itself is small: `GET /v1/models` straight to the model server"
        f" {hop['models']['direct_ms']} ms, through a `ModelGateway`"
        f" {hop['models']['gateway_ms']} ms ({hop['models']['hop_ms']:+} ms, medians of"
        f" {hop['models']['requests']}); a one-token chat completion"
        f" {hop['chat']['direct_ms']} ms vs {hop['chat']['gateway_ms']} ms"
        f" ({hop['chat']['hop_ms']:+} ms, medians of {hop['chat']['requests']}"
        f"{_spread(hop['chat'])}).",
        f"- **The direct side's own fixed costs**: `vf-eval` reports \"completed in\""
        f" {_cell(vf_own)} s (median) of its {direct} s; the other {_cell(outside)} s are"
        " interpreter start, importing verifiers and its CLI, printing the summary and"
        f" exit.{_env_server(res)}",
        f"- **Cold cache**: prepare took {_cell(cold['phases_s'].get('prepare'))} s, of which"
        f" {_cell(cold.get('venv_built_s'))} s building the venv; uv reports"
        f" {_uv_steps(cold['uv_install_s'])} for the install itself, so the other"
        f" {_cell(_compile_share(cold))} s are `uv venv` (a fraction of a second) and"
        " compiling the whole venv's bytecode (`python -m compileall`, one process). The"
        f" first POST after the hub started took {_cell(cold['phases_s'].get('post'))} s: the"
        " API process imports Celery and builds its broker client on the first send"
        " (`hub/jobs/dispatch.py` imports `workers.celery_app` lazily), inside the request.",
        "",
        f"In all, the hosted run took {abs(v['overhead_s'])} s"
        f" {'more' if v['overhead_s'] >= 0 else 'less'} than `vf-eval` ({v['ratio']}x).",
        "",
    ]


def _spread(hop: dict[str, Any]) -> str:
    """How much the direct calls alone varied: a hop smaller than that is noise."""
    low, high = hop["direct_range_ms"]
    noise = ", so the difference is within noise" if abs(hop["hop_ms"]) < high - low else ""
    return f"; the direct calls alone ranged {low}-{high} ms{noise}"


def _compile_share(cold: dict[str, Any]) -> float | None:
    built = cold.get("venv_built_s")
    if built is None or not cold["uv_install_s"]:
        return None
    steps: dict[str, float] = cold["uv_install_s"]
    return round(float(built) - sum(steps.values()), 1)


def _uv_steps(steps: dict[str, float]) -> str:
    if not steps:
        return "nothing (no install in the log)"
    return ", ".join(f"{name} {sec} s" for name, sec in steps.items())


def _env_server(res: dict[str, Any]) -> str:
    """vf-eval 0.1.10+ runs rollouts through an environment server; say so when it did."""
    if not all(r.get("env_server") for r in res["direct"]):
        return ""
    return (" Inside its \"completed in\" it also starts an environment server (its log says"
            " so: a second process that loads the environment again and serves rollouts over"
            f" ZMQ), as `vf-eval` of verifiers {res['direct_setup']['verifiers']} does on every"
            " run; the hub's harness calls `env.generate` in process, so the direct side"
            " carries costs the hosted one does not.")
