"""Index throughput: one project page with 200 versions, the hub vs pypiserver.

The same 200 wheels are published through the hub's real API (register -> PUT -> finalize)
into `envhub serve` (SQLite, and PostgreSQL when one answers on 127.0.0.1:5432) and
copied into a directory served by pypiserver, run as its Docker image runs it (gunicorn,
one gevent worker, watchdog directory cache). Then the same wrk command, same threads,
connections and duration, hits each project page once:

    hub:        /index/{owner}/{name}/simple/{name}/
    pypiserver: /simple/{name}/

If the hub misses the goal (2x pypiserver's requests/s), it is profiled with py-spy during
an extra run and the profile is summarised (see --profile).

Usage: .venv/bin/python bench/index_throughput.py [--duration 20] [--connections 32]
Results: bench/results/index_throughput.json (and a summary on stdout).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from benchlib import (
    PEER_VENV,
    RESULTS,
    LiveHub,
    ensure_peer_venv,
    ensure_wrk,
    live_hub,
    live_pypiserver,
    log,
    pg_available,
    process_tree,
    run_wrk,
    save_json,
    scratch_pg,
    wrk_command,
)
from report_index import GOAL_RATIO, NEEDS, section, summary, verdict_notes, verdict_rows

from tests.support.packages import Built, build

# The five functions run_all.py calls on every benchmark: parser and run are here; summary,
# verdict_rows and section (and the optional verdict_notes and NEEDS) are in report_index.py.
__all__ = ["GOAL_RATIO", "NEEDS", "parser", "run", "section", "summary", "verdict_notes",
           "verdict_rows"]

PROJECT = "bench-env"
OWNER = "admin"  # the user `envhub serve` bootstraps on an empty hub


def versions(n: int) -> list[str]:
    return [f"{1 + i // 100}.{(i // 10) % 10}.{i % 10}" for i in range(n)]


def build_all(work: Path, n: int) -> tuple[list[Built], Path]:
    """n versions built in-process; the wheels are also copied flat for pypiserver."""
    src = work / "build"
    if src.exists():
        shutil.rmtree(src)
    flat = work / "packages"
    if flat.exists():
        shutil.rmtree(flat)
    flat.mkdir(parents=True)
    built = []
    for v in versions(n):
        b = build(src, PROJECT, v, description="Benchmark environment")
        shutil.copy2(b.wheel, flat / b.wheel.name)
        built.append(b)
    return built, flat


def publish_all(hub: LiveHub, built: list[Built]) -> float:
    """The three-step publish flow over HTTP, as `envhub push` does it. Returns seconds."""
    t0 = time.monotonic()
    with httpx.Client(base_url=hub.url, headers=hub.headers, timeout=60) as api, \
            httpx.Client(timeout=60) as blobs:
        for b in built:
            r = api.post(f"/api/v1/environments/{OWNER}/{PROJECT}/uploads",
                         json=b.register_body("public"))
            r.raise_for_status()
            reg = r.json()
            paths = {"wheel": b.wheel, "source": b.source}
            for f in reg["files"]:
                # The upload URL is its own credential: no Authorization header.
                put = blobs.put(f["upload_url"], content=paths[f["kind"]].read_bytes(),
                                headers={"Content-Type": "application/octet-stream"})
                put.raise_for_status()
            fin = api.post(f"/api/v1/uploads/{reg['id']}/finalize")
            if fin.status_code != 201:
                raise RuntimeError(f"finalize {b.version}: {fin.status_code} {fin.text}")
    return time.monotonic() - t0


def check_page(url: str, n: int) -> dict[str, Any]:
    """The page answers 200 with n wheel links (so both servers serve the same thing)."""
    r = httpx.get(url, timeout=30)
    r.raise_for_status()
    links = r.text.count(".whl#sha256=")
    if links != n:
        raise RuntimeError(f"{url} lists {links} wheels, expected {n}:\n{r.text[:2000]}")
    return {"status": r.status_code, "bytes": len(r.content), "wheel_links": links,
            "content_type": r.headers.get("content-type"),
            "cache_control": r.headers.get("cache-control"), "etag": r.headers.get("etag")}


def load(url: str, pids: list[int], args: argparse.Namespace) -> dict[str, Any]:
    # A short unreported warm-up at the same settings (caches, connection pools), then the run.
    subprocess.run(wrk_command(url, threads=args.threads, connections=args.connections,
                               duration=args.warmup), capture_output=True, check=True)
    res = run_wrk(url, pids, threads=args.threads, connections=args.connections,
                  duration=args.duration)
    log(f"  {res['requests_per_s']:.0f} req/s, p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms,"
        f" server CPU {res['server_cpu_s']} s, load {res['loadavg_before']}")
    return res


def profile_hub(hub: LiveHub, url: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """py-spy (GIL holder only) on the hub during an extra, unreported wrk run."""
    raw = out.with_suffix(".txt")
    seconds = args.profile_duration
    spy_cmd = [str(PEER_VENV / "bin" / "py-spy"), "record", "--pid", str(hub.pid), "--duration",
               str(seconds), "--rate", "100", "--gil", "--format", "raw", "--nonblocking",
               "--output", str(raw)]
    spy = subprocess.Popen(spy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1)
    wrk = run_wrk(url, [hub.pid], threads=args.threads, connections=args.connections,
                  duration=max(seconds - 2, 3))
    _, err = spy.communicate(timeout=seconds + 60)
    if spy.returncode != 0 or not raw.exists():
        return {"error": err.decode(errors="replace")[-2000:], "command": " ".join(spy_cmd)}
    return {"command": " ".join(spy_cmd), "raw_file": str(raw.relative_to(RESULTS.parent.parent)),
            "requests_per_s_under_profiler": wrk["requests_per_s"]} | summarize_stacks(raw)


# Where a GIL-holding sample goes: walking from the innermost frame outwards, the first
# frame that matches a rule decides (so SQL issued by hub code counts as database time).
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("page rendering (cache miss)", ("render_project (",)),
    ("uvicorn access log (logging)", ("logging/__init__.py",)),
    ("database: SQLAlchemy ORM/Core + driver", ("sqlalchemy/", "sqlite3/", "psycopg/")),
    ("threadpool hand-offs (anyio to_thread, queue, locks)",
     ("anyio/to_thread.py", "anyio/_backends/_asyncio.py", "queue.py", "threading.py",
      "starlette/concurrency.py")),
    ("response send + HTTP parsing (uvicorn/httptools)", ("uvicorn/protocols/",)),
    ("hub code (routes, access checks, ETag)", ("hub/",)),
    ("FastAPI/Starlette routing, middleware, dependency injection",
     ("fastapi/", "starlette/")),
    ("asyncio event loop", ("asyncio/", "uvloop")),
]


def categorize(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, needles in CATEGORIES:
            if any(n in frame for n in needles):
                return name
    return "other"


# Telltale frames worth a share of their own (inclusive).
MARKERS = {
    "opening new database connections (pool overflow churn)": "Pool._create_connection (",
    "pool pre-ping (SELECT 1 per checkout)": "do_ping (",
    "rendering a project page (cache miss)": "render_project (",
}


def summarize_stacks(raw: Path, top: int = 25) -> dict[str, Any]:
    """Category, marker, inclusive and self sample shares from py-spy's collapsed stacks."""
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    markers: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")]
        total += count
        self_[frames[-1]] += count
        categories[categorize(frames)] += count
        for frame in set(frames):
            inclusive[frame] += count
        for label, needle in MARKERS.items():
            if needle in stack:
                markers[label] += count

    def pct(c: Counter[str], n: int = top) -> list[tuple[str, float]]:
        return [(f, round(100 * k / total, 1)) for f, k in c.most_common(n)] if total else []

    return {"samples": total, "categories_pct": pct(categories, len(CATEGORIES) + 1),
            "markers_pct": {k: round(100 * markers[k] / total, 1) if total else 0.0
                            for k in MARKERS},
            "inclusive_pct": pct(inclusive), "self_pct": pct(self_)}


def _short(frame: str) -> str:
    # "func (/x/site-packages/pkg/mod.py:123)" -> "func (pkg/mod.py)": lines of a function merge.
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/hub/" in path:
        path = "hub/" + path.split("/hub/", 1)[1]
    elif re.search(r"/lib/python3[\d.]*/", path):
        path = re.split(r"/lib/python3[\d.]*/", path, maxsplit=1)[1]
    return f"{name} ({path})"


def run(args: argparse.Namespace) -> dict[str, Any]:
    ensure_wrk()
    ensure_peer_venv()
    work = RESULTS / "index"
    log(f"building {args.versions} wheels ...")
    t0 = time.monotonic()
    built, flat = build_all(work, args.versions)
    result: dict[str, Any] = {
        "settings": {"versions": args.versions, "threads": args.threads,
                     "connections": args.connections, "duration_s": args.duration,
                     "warmup_s": args.warmup, "project": PROJECT},
        "build_s": round(time.monotonic() - t0, 1),
        "runs": {},
    }
    runs = result["runs"]
    # The peer first, so each hub run knows at once whether it met the goal.
    with live_pypiserver(work / "pypiserver", flat) as (base, proc, command, env):
        url = f"{base}/simple/{PROJECT}/"
        page = check_page(url, args.versions)
        log(f"pypiserver: load on {url}")
        res = load(url, process_tree(proc.pid), args)  # gunicorn master + worker
        runs["pypiserver"] = res | {
            "url": url, "page": page, "server_command": " ".join(command), "server_env": env,
            "server_processes": len(process_tree(proc.pid))}
    peer = runs["pypiserver"]["requests_per_s"]

    for db in [d for d in args.databases.split(",") if d]:
        if db == "postgresql" and not pg_available():
            log("PostgreSQL is not answering on 127.0.0.1:5432: skipping it")
            runs["hub-postgresql"] = {"skipped": "PostgreSQL unavailable on 127.0.0.1:5432"}
            continue
        with _Database(db) as db_url, live_hub(work / f"hub-{db}", db_url) as hub:
            log(f"hub ({db}) at {hub.url}: publishing {len(built)} versions ...")
            publish_s = publish_all(hub, built)
            url = f"{hub.url}/index/{OWNER}/{PROJECT}/simple/{PROJECT}/"
            page = check_page(url, args.versions)
            log(f"hub ({db}): load on {url}")
            res = load(url, [hub.pid], args)  # uvicorn serves in the `serve` process
            ratio = round(res["requests_per_s"] / peer, 2)
            res |= {"url": url, "page": page, "publish_s": round(publish_s, 1),
                    "server_command": " ".join(hub.command),
                    "server_env": {k: v for k, v in hub.env.items() if k != "HUB_SECRET_KEY"},
                    "ratio_vs_pypiserver": ratio, "meets_goal": ratio >= GOAL_RATIO}
            if args.profile == "always" or (args.profile == "auto" and not res["meets_goal"]):
                log(f"hub ({db}): {ratio}x pypiserver; profiling with py-spy ...")
                res["profile"] = profile_hub(hub, url, args, RESULTS / f"profile-hub-{db}")
            runs[f"hub-{db}"] = res
    save_json("index_throughput.json", result)
    return result


class _Database:
    """None (the hub's SQLite default) or a scratch PostgreSQL database."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._pg: Any = None

    def __enter__(self) -> str | None:
        if self.kind == "sqlite":
            return None
        if self.kind != "postgresql":
            raise SystemExit(f"unknown database {self.kind!r}")
        self._pg = scratch_pg()
        return str(self._pg.__enter__())

    def __exit__(self, *exc: object) -> None:
        if self._pg is not None:
            self._pg.__exit__(*exc)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--versions", type=int, default=200)
    p.add_argument("--duration", type=int, default=20, help="seconds per measured run")
    p.add_argument("--warmup", type=int, default=3, help="seconds of unreported warm-up")
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--databases", default="sqlite,postgresql",
                   help="comma list of sqlite, postgresql")
    p.add_argument("--profile", choices=["auto", "always", "never"], default="auto",
                   help="profile the hub with py-spy during an extra run (auto: if it misses"
                   " the goal)")
    p.add_argument("--profile-duration", type=int, default=15)
    return p


def main() -> None:
    result = run(parser().parse_args())
    print(summary(result))


if __name__ == "__main__":
    main()
