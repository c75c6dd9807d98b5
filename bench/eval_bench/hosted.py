"""One hosted evaluation: POST /api/v1/evals, polled until terminal, and what it left."""

from __future__ import annotations

import argparse
import re
import time
from datetime import datetime
from typing import Any

import httpx
from benchlib import loadavg, log

from . import ENV_NAME, OWNER, POLL_S, PROVIDER_MODEL, TERMINAL, WORK
from .serve import WorkerHub
from .watcher import JobWatcher, phases


def eval_body(args: argparse.Namespace) -> dict[str, Any]:
    return {"environment": f"{OWNER}/{ENV_NAME}", "version": "0.1.0", "model": PROVIDER_MODEL,
            "num_examples": args.examples, "rollouts_per_example": args.rollouts,
            "sampling_args": sampling(args), "max_concurrency": args.concurrency}


def sampling(args: argparse.Namespace) -> dict[str, Any]:
    return {"max_tokens": args.max_tokens, "temperature": 0}


def hosted_run(hub: WorkerHub, args: argparse.Namespace, label: str) -> dict[str, Any]:
    """One hosted evaluation, timed from sending the POST to the client seeing it terminal."""
    load_before = loadavg()
    with httpx.Client(base_url=f"{hub.url}/api/v1", timeout=60,
                      headers={"Authorization": f"Bearer {hub.token}"}) as api:
        t0 = time.monotonic()
        created = api.post("/evals", json=eval_body(args))
        t_created = time.monotonic()
        created.raise_for_status()
        ev = created.json()
        watcher = JobWatcher(hub.data_dir / "work" / ev["job"]["id"],
                             args.examples * args.rollouts)
        watcher.marks["created"] = t_created
        watcher.start()
        try:
            ev = follow(api, ev, t0 + args.timeout)
        finally:
            watcher.marks["terminal"] = time.monotonic()
            watcher.done.set()
            watcher.join()
        job_log = fetch_log(api, ev["id"])
    (WORK / f"job-{label.replace(' ', '-')}.log").write_text(job_log)
    if ev["status"] != "succeeded":
        raise RuntimeError(f"{label}: evaluation {ev['status']}: {ev.get('error_message')}\n"
                           f"{job_log[-3000:]}\n{hub.log_tail('worker.log')}")
    agg = ev["aggregates"]
    res = {"label": label, "seconds": round(watcher.marks["terminal"] - t0, 2),
           "eval_id": ev["id"], "tokens_out": agg["tokens_out"], "tokens_in": agg["tokens_in"],
           "n_samples": agg["n_samples"], "n_errors": agg["n_errors"],
           "phases_s": phases(watcher.marks, t0), "server": server_times(ev["job"]),
           "marks_s": {k: round(at - t0, 2) for k, at in sorted(watcher.marks.items(),
                                                                key=lambda kv: kv[1])},
           "gateway": gateway_stats(job_log), "uv_install_s": uv_install_report(job_log),
           "loadavg_before": load_before, "loadavg_after": loadavg()}
    log(f"  {label}: {res['seconds']} s, {res['tokens_out']} completion tokens,"
        f" phases {res['phases_s']}")
    return res


def follow(api: httpx.Client, ev: dict[str, Any], deadline: float) -> dict[str, Any]:
    """Poll the evaluation until it is terminal (what `envhub eval run --follow` waits for)."""
    while ev["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            raise RuntimeError(f"evaluation {ev['id']} not done in time (last: {ev['status']})")
        time.sleep(POLL_S)
        ev = api.get(f"/evals/{ev['id']}").json()
    return ev


def fetch_log(api: httpx.Client, eval_id: str) -> str:
    text, offset = "", 0
    while True:
        piece: dict[str, Any] = api.get(f"/evals/{eval_id}/logs", params={"offset": offset}).json()
        text += str(piece["text"])
        if piece["complete"] or piece["next_offset"] == offset:
            return text
        offset = piece["next_offset"]


_UV_STEP = re.compile(r"(Resolved|Prepared|Installed) \d+ packages? in ([\d.]+)(ms|s)\b")


def uv_install_report(job_log: str) -> dict[str, float]:
    """uv's own timing lines from a venv build in the job log (empty on a cache hit)."""
    return {step.lower(): round(float(n) / (1000 if unit == "ms" else 1), 2)
            for step, n, unit in _UV_STEP.findall(job_log)}


def server_times(job: dict[str, Any]) -> dict[str, float | None]:
    """The job row's own timestamps: queued (created -> started), ran (started -> finished)."""
    def at(key: str) -> float | None:
        value = job.get(key)
        return _iso_seconds(value) if value else None

    created, started, finished = at("created_at"), at("started_at"), at("finished_at")
    return {
        "queued_s": round(started - created, 2) if started and created else None,
        "ran_s": round(finished - started, 2) if finished and started else None,
    }


def _iso_seconds(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


_GATEWAY = re.compile(r"\[gateway\] request \d+: HTTP (\d+), (\d+)\+(\d+) tokens[^,]*, ([\d.]+)s")


def gateway_stats(job_log: str) -> dict[str, Any]:
    """What the gateway recorded per model request (upstream latency seen from the gateway)."""
    rows = [(int(s), int(p), int(c), float(lat)) for s, p, c, lat in _GATEWAY.findall(job_log)]
    return {"requests": len(rows), "completion_tokens": sum(r[2] for r in rows),
            "latency_sum_s": round(sum(r[3] for r in rows), 2),
            "non_200": sum(1 for r in rows if r[0] != 200)}
