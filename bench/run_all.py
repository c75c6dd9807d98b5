"""Run every benchmark and write docs/benchmarks.md (`make bench`).

    .venv/bin/python bench/run_all.py [--duration 20] [--connections 32] [--threads 1]
                                      [--databases sqlite,postgresql] [--mib 200]
    .venv/bin/python bench/run_all.py --from-json   # only re-render the document

Raw results stay in bench/results/*.json (git-ignored); the document is regenerated whole.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import index_throughput
import upload_rss
from benchlib import (
    RESULTS,
    ROOT,
    hub_versions,
    log,
    machine,
    peer_versions,
    save_json,
    wrk_version,
)

DOC = ROOT / "docs" / "benchmarks.md"


def _rel(text: str) -> str:
    return text.replace(str(ROOT) + "/", "")


def _verdict(ok: bool) -> str:
    return "**meets**" if ok else "**misses**"


def _fmt(value: object, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def index_section(res: dict[str, Any]) -> list[str]:
    s = res["settings"]
    runs = res["runs"]
    peer = runs["pypiserver"]
    out = [
        "## 1. Index throughput: one project page, 200 versions",
        "",
        f"One project (`{s['project']}`) with {s['versions']} versions, one small wheel each, built"
        " in-process with `tests/support/packages.py`. The hub gets them through its real API"
        " (register, PUT to the signed upload URL, finalize: the three-step flow of"
        " `envhub push`); pypiserver gets the same wheel files copied into its package"
        " directory. Each server's project page is checked first to list all"
        f" {s['versions']} wheels, then loaded by the same wrk command: {s['threads']} thread,"
        f" {s['connections']} connections, {s['duration_s']} s, after an unreported"
        f" {s['warmup_s']} s warm-up at the same settings. One run each. Plain `GET` with no"
        " `Accept` header, so both answer PEP 503 HTML.",
        "",
        "What ran (ports were free ones picked at run time; paths relative to the repo):",
        "",
    ]
    for name, r in runs.items():
        if "server_command" not in r:
            continue
        env = " ".join(f"{k}={_rel(str(v))!r}" if " " in str(v) else f"{k}={_rel(str(v))}"
                       for k, v in r["server_env"].items())
        out += [f"- {name}: `{env} {_rel(r['server_command'])}`"]
    out += [
        f"- load: `{_rel(peer['command'])}` (same flags for every server, its own URL)",
        "",
        "pypiserver is run the way its official Docker image runs it: gunicorn with one gevent"
        " worker and `preload_app` (the image's `gunicorn.conf.py`, given here through"
        " `GUNICORN_CMD_ARGS`), and the `cached-dir` backend (watchdog), which its README"
        " recommends for speed. The hub is `envhub serve` as an operator starts it (one uvicorn"
        " process with uvloop and httptools, access log on), without the embedded evaluation"
        " worker and local model, which this benchmark does not use.",
        "",
        "| server | page bytes | req/s | p50 ms | p90 ms | p99 ms | non-2xx | socket errors"
        " | server CPU s | req per server CPU-s | load avg before | x pypiserver (req/s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        if "requests_per_s" not in r:
            out.append(f"| {name} | skipped: {r.get('skipped')} ||||||||||||")
            continue
        ratio = r.get("ratio_vs_pypiserver", 1.0)
        out.append(
            f"| {name} | {r['page']['bytes']} | {r['requests_per_s']:.0f} | {_fmt(r['p50_ms'])}"
            f" | {_fmt(r['p90_ms'])} | {_fmt(r['p99_ms'])} | {r['non_2xx']}"
            f" | {r['socket_errors']} | {r['server_cpu_s']} | {_fmt(r['requests_per_cpu_s'], 0)}"
            f" | {r['loadavg_before']} | {ratio:.2f} |")
    out += [
        "",
        f"The pages differ in size ({runs_bytes(runs)}): the hub's links are absolute and carry"
        " PEP 658/714 metadata hashes and `data-requires-python`, pypiserver's are relative"
        " and carry only the sha256 fragment; the hub sends more bytes per request.",
        "",
        "`server CPU s` is the user+system CPU time the server's processes used during the"
        " measured run (from /proc; for pypiserver the gunicorn master and its worker, for the"
        " hub the one `serve` process); `req per server CPU-s` divides the requests served by"
        " it. On a shared machine that ratio is steadier than requests/s, because it does not"
        " depend on how much CPU the neighbours left over.",
        "",
    ]
    for name, r in runs.items():
        if "profile" in r:
            out += profile_section(name, r, peer)
    return out


def runs_bytes(runs: dict[str, Any]) -> str:
    return ", ".join(f"{name} {r['page']['bytes']} bytes" for name, r in runs.items()
                     if "page" in r)


def profile_section(name: str, r: dict[str, Any], peer: dict[str, Any]) -> list[str]:
    p = r["profile"]
    out = [f"### Where {name}'s time goes (py-spy)", ""]
    if "error" in p:
        return [*out, f"py-spy failed: `{p['error'].strip()[-500:]}`", ""]
    out += [
        f"{name} served {r.get('ratio_vs_pypiserver')}x pypiserver's requests/s (goal:"
        f" {index_throughput.GOAL_RATIO}x), so it was profiled during an extra, unreported"
        f" run of the same load: `{_rel(p['command'])}` ({p['samples']} samples of the thread"
        f" holding the GIL; {p['requests_per_s_under_profiler']:.0f} req/s under the"
        " profiler). Each sample is put in the first category met walking from the innermost"
        " frame outwards.",
        "",
        "| where | share of GIL-held samples |",
        "|---|---|",
    ]
    out += [f"| {cat} | {pct}% |" for cat, pct in p["categories_pct"]]
    out += ["", "Hottest frames (self time):", "", "| frame | self % |", "|---|---|"]
    out += [f"| `{frame}` | {pct} |" for frame, pct in p["self_pct"][:12]]
    out += ["", "Telltale frames (share of samples with the frame anywhere on the stack):", ""]
    out += [f"- {label}: {pct}%" for label, pct in p.get("markers_pct", {}).items()]
    out += ["", f"Per server CPU-second the hub served {_fmt(_cpu_ratio(r, peer))}x what"
            f" pypiserver did. Raw stacks: `{p['raw_file']}`.", ""]
    hints = fixes_for(p)
    if hints:
        out += ["What the profile points at:", "", *[f"- {h}" for h in hints], ""]
    return out


def _cpu_ratio(r: dict[str, Any], peer: dict[str, Any]) -> float | None:
    if r.get("requests_per_cpu_s") and peer.get("requests_per_cpu_s"):
        return float(r["requests_per_cpu_s"]) / float(peer["requests_per_cpu_s"])
    return None


def fixes_for(profile: dict[str, Any]) -> list[str]:
    """Plain-language pointers for the categories and markers that dominate the profile."""
    cats = dict(profile.get("categories_pct", []))
    marks = profile.get("markers_pct", {})
    hints = []
    if cats.get("database: SQLAlchemy ORM/Core + driver", 0) >= 10:
        hints.append(
            "Database: every request looks the environment up again (namespace and"
            " environment, as ORM objects) only to find the cached page's key. Keep the"
            " (environment id, updated_at) stamp of public projects in memory for a second or"
            " so, cleared when an environment changes, or at least fetch it with one Core"
            " query.")
    if cats.get("threadpool hand-offs (anyio to_thread, queue, locks)", 0) >= 10:
        hints.append(
            "Threadpool hand-offs: FastAPI runs each plain `def` dependency (get_db,"
            " get_settings_dep, get_storage, optional_principal) and the endpoint in the"
            " threadpool, and TransactionalRoute adds one more for the commit. The trivial"
            " dependencies can be `async def`, anonymous callers need no principal lookup,"
            " and the commit hop can be skipped when no session was opened.")
    if cats.get("FastAPI/Starlette routing, middleware, dependency injection", 0) >= 15:
        hints.append(
            "Framework: route matching over every registered route and dependency solving"
            " cost as much as the work; fewer dependencies on hot routes help, and a page"
            " served from memory avoids the rest of the per-request work.")
    if cats.get("uvicorn access log (logging)", 0) >= 3:
        hints.append("Access log: uvicorn logs every request; an option to turn it off"
                     " (as pypiserver's image does) saves that share.")
    if marks.get("opening new database connections (pool overflow churn)", 0) >= 1:
        hints.append(
            "Connection churn: the SQLAlchemy pool (pool_size + max_overflow) is smaller than"
            " the 40-thread threadpool, so under load overflow connections are opened and"
            " closed per request; size the pool to the threadpool (or cap the threadpool).")
    if marks.get("pool pre-ping (SELECT 1 per checkout)", 0) >= 1:
        hints.append("pool_pre_ping costs a round trip per checkout; pool_recycle would do.")
    return hints


def upload_section(res: dict[str, Any]) -> list[str]:
    w = res["wheel"]
    out = [
        "## 2. Upload of a 200 MiB archive through the local backend",
        "",
        f"A real wheel, `{w['filename']}`, {w['size_bytes']} bytes ({w['size_mib']} MiB): valid"
        " METADATA and RECORD plus one member of random (incompressible) bytes, stored. It is"
        " registered through the API with its real sha256 and size, PUT to the hub's signed"
        " upload URL (`/api/v1/uploads/blob/{token}`) from a generator that reads 1 MiB at a"
        " time (so the client never holds it; `Content-Length` is sent), and then finalized"
        " (which re-reads and hashes it as a stream, checks the archive and stores the blob)."
        f" The hub process's VmRSS is read from /proc every {res['sample_interval_ms']} ms; the"
        " kernel's peak (VmHWM, reset through /proc/PID/clear_refs before each phase) is read"
        " after it, and the larger of the two is the peak. The baseline is the median VmRSS over"
        " the quiet second before each phase, after one small publish warmed the code paths.",
        "",
        f"Hub: `{_rel(res['server_command'])}` (SQLite, local-disk storage: the embedded"
        f" defaults). RSS right after start: {res['rss_at_start_mib']} MiB.",
        "",
        "| phase | HTTP status | baseline MiB | peak MiB (sampled / VmHWM) | growth MiB | seconds"
        " | goal: growth < 64 MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for phase in ("upload", "finalize"):
        r = res[phase]
        speed = f" ({r['mib_per_s']} MiB/s)" if "mib_per_s" in r else ""
        out.append(
            f"| {'PUT' if phase == 'upload' else 'finalize'} | {r['status']}"
            f" | {r['baseline_mib']} | {r['peak_mib']} ({r['peak_sampled_mib']} /"
            f" {_fmt(r['peak_vmhwm_mib'], 1)}) | {r['growth_mib']} | {r['seconds']}{speed}"
            f" | {_verdict(r['meets_goal'])} |")
    out += ["", f"The version was published and listed on its index page: {res['published']}.",
            ""]
    return out


def document(info: dict[str, Any], index: dict[str, Any], upload: dict[str, Any]) -> str:
    m = info["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (`bench/run_all.py`) on {info['date']}; rerun it to refresh"
        " this page. Raw numbers: `bench/results/*.json` (not committed).",
        "",
        "## Verdict",
        "",
        "| goal | result | per server CPU-second | verdict |",
        "|---|---|---|---|",
    ]
    peer = index["runs"]["pypiserver"]
    for name, r in index["runs"].items():
        if not name.startswith("hub-"):
            continue
        if "requests_per_s" not in r:
            lines.append(f"| index page, {name}: >= 2x pypiserver's req/s | skipped:"
                         f" {r.get('skipped')} | | n/a |")
            continue
        lines.append(
            f"| index page, {name}: >= {index_throughput.GOAL_RATIO:g}x pypiserver's req/s"
            f" | {r['requests_per_s']:.0f} vs {peer['requests_per_s']:.0f} req/s ="
            f" {r['ratio_vs_pypiserver']:.2f}x; p99 {_fmt(r['p99_ms'])} vs"
            f" {_fmt(peer['p99_ms'])} ms | {_fmt(r['requests_per_cpu_s'], 0)} vs"
            f" {_fmt(peer['requests_per_cpu_s'], 0)} req = {_fmt(_cpu_ratio(r, peer))}x"
            f" | {_verdict(r['meets_goal'])} |")
    for phase in ("upload", "finalize"):
        r = upload[phase]
        what = "PUT" if phase == "upload" else "finalize"
        lines.append(
            f"| 200 MiB upload ({what}): RSS growth < {upload_rss.GOAL_GROWTH_MIB} MiB"
            f" | {r['baseline_mib']} -> {r['peak_mib']} MiB = +{r['growth_mib']} MiB"
            f" | | {_verdict(r['meets_goal'])} |")
    lines += [
        "",
        "The index goal is judged on requests/s, as the issue states it. On this shared"
        " machine that figure flatters the hub: pypiserver serves from one gevent thread,"
        " the hub from an event loop plus a threadpool, and an oversubscribed scheduler gives"
        " the process with more runnable threads more CPU. Requests per server CPU-second"
        " removes that effect and is the fairer efficiency comparison.",
        "",
        "## Machine",
        "",
        f"- {m['nproc']} CPUs: {m['cpu']}; {m['ram']} RAM; {m['os']}, Linux {m['kernel']};"
        f" Python {m['python']}.",
        f"- **Shared machine**: colleagues' builds and tests ran at the same time (load average"
        f" {m['loadavg_at_start']} at the start on {m['nproc']} CPUs; each run's load average"
        " is in its table). Requests/s and latencies are therefore noisy and lower than on an"
        " idle machine; compare the servers with each other, and see the CPU-normalised"
        " column.",
        "- All traffic on 127.0.0.1; client and servers share the same CPUs.",
        "",
        "## Versions",
        "",
        "| component | version |",
        "|---|---|",
    ]
    for k, v in info["hub_versions"].items():
        note = " (HEAD; the working tree can hold uncommitted work)" if k == "envhub commit" else ""
        lines.append(f"| {k} | {v}{note} |")
    lines += [f"| peer venv: {k} | {v} |" for k, v in info["peer_versions"].items()]
    lines += [f"| load tool | {info['wrk']} |", ""]
    lines += index_section(index)
    lines += upload_section(upload)
    lines += [
        "## Reproduce",
        "",
        "```sh",
        "make bench                        # both, then rewrites this page",
        ".venv/bin/python bench/index_throughput.py --duration 20 --connections 32",
        ".venv/bin/python bench/upload_rss.py --mib 200",
        "```",
        "",
        "Needs `wrk` (Debian package; the script installs it with apt-get when run as root) and"
        " PostgreSQL on 127.0.0.1:5432 with trust auth for the PostgreSQL run (skipped"
        " otherwise; a scratch database is created and dropped). pypiserver, gunicorn, gevent"
        " and py-spy go into a separate virtualenv, `bench/results/.venv-peer`, which the"
        " scripts create; nothing is added to the project's environment.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=20)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--databases", default="sqlite,postgresql")
    p.add_argument("--profile", choices=["auto", "always", "never"], default="auto")
    p.add_argument("--mib", type=int, default=200)
    p.add_argument("--from-json", action="store_true",
                   help="only rewrite the document from bench/results/run_all.json")
    args = p.parse_args()
    if args.from_json:
        saved = json.loads((RESULTS / "run_all.json").read_text())
        DOC.write_text(document(saved["info"], saved["index"], saved["upload"]))
        log(f"rewrote {DOC.relative_to(ROOT)} from the saved results")
        return

    info: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": machine()}
    index_args = index_throughput.parser().parse_args(
        ["--duration", str(args.duration), "--connections", str(args.connections),
         "--threads", str(args.threads), "--databases", args.databases,
         "--profile", args.profile])
    index = index_throughput.run(index_args)
    log(index_throughput.summary(index))
    upload = upload_rss.run(upload_rss.parser().parse_args(["--mib", str(args.mib)]))
    log(upload_rss.summary(upload))
    info |= {"hub_versions": hub_versions(), "peer_versions": peer_versions(),
             "wrk": wrk_version()}
    save_json("run_all.json", {"info": info, "index": index, "upload": upload})
    DOC.write_text(document(info, index, upload))
    log(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
