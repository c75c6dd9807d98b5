"""Run the benchmarks and write docs/benchmarks.md (`make bench`).

    .venv/bin/python bench/run_all.py [--only index,upload,catalog] [benchmark options]
    .venv/bin/python bench/run_all.py --from-json   # only re-render the document

Any other option goes to every selected benchmark whose own parser takes it (--duration,
--connections, --threads and --profile to index, --mib to upload, --databases to index and
catalog, ...; --help lists them), so each one's defaults are what `make bench` runs.
--only runs a subset and keeps the others' previous results: those in
bench/results/run_all.json, or a benchmark's own bench/results/<module>.json where that is
newer (after running the benchmark alone). Raw results stay in bench/results/*.json
(git-ignored); the document is regenerated whole, with a "not run" section for any
benchmark that has no results yet.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

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
from benchlib.markdown import rel
from report_document import Benchmark, document

DOC = ROOT / "docs" / "benchmarks.md"
SAVED = RESULTS / "run_all.json"

# Each module exposes parser, run, summary, verdict_rows and section (see report_document).
BENCHMARKS = sorted([
    Benchmark("index", "index_throughput", 1, "Index throughput: one project page, 200 versions"),
    Benchmark("upload", "upload_rss", 2, "Upload of a 200 MiB archive through the local backend"),
    Benchmark("eval", "eval_overhead", 3, "Hosted evaluation overhead over vf-eval"),
    Benchmark("catalog", "catalog_render", 4, "Catalog first page with 1,000 environments"),
], key=lambda b: b.number)


def parser() -> argparse.ArgumentParser:
    epilog = "\n".join(f"{b.key}: {_usage(b)}" for b in BENCHMARKS)
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"benchmark options (each goes to every selected benchmark that takes it):\n"
               f"{epilog}")
    p.add_argument("--only", default="",
                   help=f"comma list of {', '.join(b.key for b in BENCHMARKS)} (default: all)")
    p.add_argument("--from-json", action="store_true",
                   help="only rewrite the document from the saved results")
    return p


def _usage(b: Benchmark) -> str:
    p = b.mod.parser()
    p.prog = f"{b.module}.py"
    return str(p.format_usage()).removeprefix("usage: ").strip()


def select(only: str) -> list[Benchmark]:
    keys = [k.strip() for k in only.split(",") if k.strip()]
    unknown = set(keys) - {b.key for b in BENCHMARKS}
    if unknown:
        raise SystemExit(f"run_all.py: unknown benchmark {', '.join(sorted(unknown))}"
                         f" (known: {', '.join(b.key for b in BENCHMARKS)})")
    return [b for b in BENCHMARKS if not keys or b.key in keys]


def module_args(selected: list[Benchmark], rest: list[str]) -> dict[str, argparse.Namespace]:
    """Each benchmark's arguments from the options it knows; an option that no selected
    benchmark takes is an error, found before anything runs."""
    out: dict[str, argparse.Namespace] = {}
    unused: set[str] | None = None
    for b in selected:
        p = b.mod.parser()
        p.prog = f"{b.module}.py"
        out[b.key], extra = p.parse_known_args(rest)
        options = {a.split("=", 1)[0] for a in extra if a.startswith("-")}
        unused = options if unused is None else unused & options
    if unused:
        raise SystemExit(f"run_all.py: no selected benchmark takes {', '.join(sorted(unused))}")
    return out


def _date(epoch: float | None = None) -> str:
    return time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(epoch))


def previous() -> tuple[dict[str, Any] | None, dict[str, str], dict[str, Any]]:
    """The saved info, run dates and results: run_all.json's, except where a benchmark's
    own result file is newer or run_all.json lacks it."""
    saved = json.loads(SAVED.read_text()) if SAVED.exists() else {}
    info = saved.get("info")
    ran: dict[str, str] = dict(saved.get("ran", {}))
    results: dict[str, Any] = {}
    for b in BENCHMARKS:
        own = RESULTS / f"{b.module}.json"
        if own.exists() and (b.key not in saved or own.stat().st_mtime > SAVED.stat().st_mtime):
            results[b.key] = json.loads(own.read_text())
            ran[b.key] = _date(own.stat().st_mtime)
            log(f"{b.key}: results of {ran[b.key]} from {rel(str(own))}")
        elif b.key in saved:
            results[b.key] = saved[b.key]
            ran.setdefault(b.key, info["date"] if info else _date(SAVED.stat().st_mtime))
        else:
            ran.pop(b.key, None)
            log(f"{b.key}: no saved results")
    return info, ran, results


def versions() -> dict[str, Any]:
    return {"hub_versions": hub_versions(), "peer_versions": peer_versions(),
            "wrk": wrk_version()}


def write(info: dict[str, Any], ran: dict[str, str], results: dict[str, Any]) -> None:
    DOC.write_text(document(info, ran, results, BENCHMARKS))
    log(f"wrote {rel(str(DOC))}")


def rerender() -> None:
    info, ran, results = previous()
    if info is None:  # nothing ran through run_all: describe the machine as it is now
        info = {"date": _date(), "machine": machine()} | versions()
        info["machine"].pop("loadavg_at_start")
    write(info, ran, results)


def run_selected(selected: list[Benchmark], options: dict[str, argparse.Namespace]) -> None:
    """Run them in section order, saving run_all.json (merged) after each one."""
    _, ran, results = previous()
    info: dict[str, Any] = {"date": _date(), "machine": machine()}
    for b in selected:
        log(f"{b.key}: running bench/{b.module}.py")
        res = b.mod.run(options[b.key])
        log(b.mod.summary(res))
        results[b.key], ran[b.key] = res, info["date"]
        info |= versions()
        save_json("run_all.json", {"info": info, "ran": ran, **results})
    write(info, ran, results)


def main() -> None:
    p = parser()
    args, rest = p.parse_known_args()
    if args.from_json:
        if rest or args.only:
            p.error("--from-json re-renders the saved results; it takes no other options")
        rerender()
        return
    selected = select(args.only)
    run_selected(selected, module_args(selected, rest))


if __name__ == "__main__":
    main()
