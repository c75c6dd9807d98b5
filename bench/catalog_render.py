"""Catalog render: the first page of a 1,000-environment catalog in headless Chromium.

A real hub (`envhub serve`, as an operator starts it) on SQLite and on PostgreSQL is
filled with public environments through the hub's own publish code (register, staged
bytes, finalize: the same functions the upload endpoints call, run in-process against the
hub's database and storage). Debian's Chromium, driven by Playwright, then opens
`/environments`, a search page and the home page: cold (a fresh browser context, so an
empty HTTP cache) and warm (a reload in the same context). The number that counts is the
time from navigation start until the N-th result row is in the DOM with a non-empty box,
taken inside the page by a MutationObserver on the page's own clock.

This file is the entry point and the run's outline; the parts live in bench/catalog_bench/
(dataset, seed, browser, serverside, stats, report).

Usage: .venv/bin/python bench/catalog_render.py [--environments 1000] [--repeats 10]
Results: bench/results/catalog_render.json (and a summary on stdout).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from typing import Any

from benchlib import RESULTS, live_hub, loadavg, log, pg_available, save_json, scratch_pg
from catalog_bench import GOAL_MS, PER_PAGE, SEARCH_WORD, VIEWPORT
from catalog_bench.browser import measure_scenario, scenarios
from catalog_bench.dataset import EnvSpec, catalog_specs, describe
from catalog_bench.report import NEEDS, section, summary, verdict_rows
from catalog_bench.seed import build_all, seed_hub
from catalog_bench.serverside import api_direct, asset_encoding, db_times
from playwright.sync_api import Browser, sync_playwright

from tests.support.browser import CHROMIUM, FLAGS
from tests.support.packages import Built

# The five functions run_all.py calls on every benchmark: parser and run are here; summary,
# verdict_rows and section render, in catalog_bench/report.py.
__all__ = ["GOAL_MS", "NEEDS", "parser", "run", "section", "summary", "verdict_rows"]


def run_hub(name: str, database_url: str | None, specs: list[EnvSpec],
            built: dict[tuple[str, str, str], Built], browser: Browser,
            args: argparse.Namespace) -> dict[str, Any]:
    with live_hub(RESULTS / "catalog" / name, database_url) as hub:
        out: dict[str, Any] = {"server_command": " ".join(hub.command),
                               "server_env": {k: v for k, v in hub.env.items()
                                              if k != "HUB_SECRET_KEY"},
                               "loadavg_before_seed": loadavg()}
        log(f"{name}: seeding {len(specs)} environments through publish.finalize ...")
        t0 = time.monotonic()
        seeded = seed_hub(hub, specs, built, args.seed)
        out["seed"] = vars(seeded) | {"total_s": round(time.monotonic() - t0, 1)}
        log(f"{name}: seeded in {out['seed']['total_s']} s; measuring ...")
        out["api_direct"] = {
            "catalog": api_direct(hub, {"sort": "downloads", "order": "desc", "page": 1,
                                        "per_page": PER_PAGE}),
            "search": api_direct(hub, {"q": SEARCH_WORD, "page": 1, "per_page": PER_PAGE}),
        }
        out["asset"] = asset_encoding(hub)
        out["db"] = db_times(hub)
        out["scenarios"] = {}
        for sc in scenarios(len(specs), seeded.search_matches):
            out["scenarios"][sc.key] = measure_scenario(browser, hub, sc, args.repeats)
            out["scenarios"][sc.key]["label"] = sc.label
            cold = out["scenarios"][sc.key]["cold"]["stats"]["visible_ms"]
            log(f"{name}: {sc.key}: cold p50 {cold['p50']} / p90 {cold['p90']} ms")
    shutil.rmtree(RESULTS / "catalog" / name, ignore_errors=True)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = RESULTS / "catalog"
    shutil.rmtree(work, ignore_errors=True)
    specs = catalog_specs(args.environments, args.seed)
    log(f"building {sum(len(s.versions) for s in specs)} packages for"
        f" {len(specs)} environments ...")
    t0 = time.monotonic()
    built = build_all(work / "packages", specs)
    result: dict[str, Any] = {
        "settings": {"environments": args.environments, "repeats": args.repeats,
                     "seed": args.seed, "per_page": PER_PAGE, "search_word": SEARCH_WORD,
                     "goal_ms": GOAL_MS, "viewport": VIEWPORT, "chromium": CHROMIUM,
                     "chromium_flags": FLAGS},
        "build_s": round(time.monotonic() - t0, 1),
        "catalog": describe(specs),
        "loadavg_at_start": loadavg(),
        "nproc": os.cpu_count(),
        "runs": {},
    }
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        result["settings"]["chromium_version"] = browser.version
        try:
            for db in args.databases.split(","):
                result["runs"][f"hub-{db}"] = run_database(db, specs, built, browser, args)
        finally:
            browser.close()
    result["loadavg_at_end"] = loadavg()
    shutil.rmtree(work, ignore_errors=True)
    save_json("catalog_render.json", result)
    return result


def run_database(db: str, specs: list[EnvSpec], built: dict[tuple[str, str, str], Built],
                 browser: Browser, args: argparse.Namespace) -> dict[str, Any]:
    if db == "sqlite":
        return run_hub("hub-sqlite", None, specs, built, browser, args)
    if db != "postgresql":
        raise SystemExit(f"unknown database {db!r} (sqlite, postgresql)")
    if not pg_available():
        return {"skipped": "PostgreSQL is not reachable on 127.0.0.1:5432"}
    with scratch_pg() as url:
        return run_hub("hub-postgresql", url, specs, built, browser, args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--environments", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--databases", default="sqlite,postgresql")
    p.add_argument("--seed", type=int, default=5, help="random seed of the generated catalog")
    return p


def main() -> None:
    print(summary(run(parser().parse_args())))


if __name__ == "__main__":
    main()
