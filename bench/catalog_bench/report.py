"""The catalog benchmark's summary, Verdict rows and section 4 of docs/benchmarks.md.

Rendering only, from the result dict `catalog_render.run` returns (and saves as
bench/results/catalog_render.json).
"""

from __future__ import annotations

import math
import os
from typing import Any

from benchlib.markdown import verdict as _verdict

from . import GOAL_MS, HOME_PER_LIST, SEARCH_SHARE

# The Reproduce section's note on what this benchmark needs besides the project's venv.
NEEDS = (
    "The catalog benchmark needs Debian's Chromium (`/usr/bin/chromium`; `make system-deps`"
    " installs it), which Playwright drives: no browser is downloaded. It uses the same"
    " PostgreSQL for its PostgreSQL run when one answers, and skips it otherwise.")


def _v(st: dict[str, Any], key: str, p: str = "p50") -> str:
    value = st.get(key, {}).get(p)
    return "n/a" if value is None else f"{value:.0f}"


def _kb(n: float) -> str:
    return f"{n / 1000:.1f} kB"


def summary(res: dict[str, Any]) -> str:
    lines = []
    for name, r in res["runs"].items():
        if "skipped" in r:
            lines.append(f"{name}: skipped ({r['skipped']})")
            continue
        lines.append(f"{name}: seeded {r['seed']['environments']} environments /"
                     f" {r['seed']['versions']} versions in {r['seed']['total_s']} s")
        for key, sc in r["scenarios"].items():
            c, w = sc["cold"]["stats"]["visible_ms"], sc["warm"]["stats"]["visible_ms"]
            lines.append(f"  {key:<8} cold p50 {c['p50']:.0f} p90 {c['p90']:.0f} max"
                         f" {c['max']:.0f} ms | warm p50 {w['p50']:.0f} p90 {w['p90']:.0f} ms"
                         f" | {'meets' if sc['meets_goal'] else 'MISSES'} p90 cold"
                         f" < {GOAL_MS:.0f} ms")
    return "\n".join(lines)


def verdict_rows(res: dict[str, Any]) -> list[str]:
    n = res["settings"]["environments"]
    rows = []
    for name, r in res["runs"].items():
        if "skipped" in r:
            rows.append(f"| catalog first page ({n:,} environments), {name} | skipped:"
                        f" {r['skipped']} | | n/a |")
            continue
        for key in ("catalog", "search"):
            sc = r["scenarios"][key]
            c, w = sc["cold"]["stats"]["visible_ms"], sc["warm"]["stats"]["visible_ms"]
            rows.append(
                f"| {sc['label']} ({n:,} environments), {name}: first {sc['rows_waited']} rows"
                f" visible, p90 cold < {GOAL_MS:.0f} ms | cold p50 {c['p50']:.0f} / p90"
                f" {c['p90']:.0f} / max {c['max']:.0f} ms; warm p90 {w['p90']:.0f} ms"
                f" | | {_verdict(sc['meets_goal'])} |")
    return rows


def section(res: dict[str, Any]) -> list[str]:
    s = res["settings"]
    out = [
        f"## 4. Catalog first page with {s['environments']:,} environments",
        "",
        *_data_paragraphs(res),
        "",
        *_method_paragraphs(s),
        "",
        "| hub | page | mode | rows visible p50 / p90 / max ms | FCP p50 | DOMContentLoaded p50"
        " | API request p50 (browser) | transferred p50 | goal: p90 cold < 1000 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in res["runs"].items():
        if "skipped" in r:
            out.append(f"| {name} | skipped: {r['skipped']} ||||||||")
            continue
        for sc in r["scenarios"].values():
            for mode in ("cold", "warm"):
                st = sc[mode]["stats"]
                verdict = _verdict(sc["meets_goal"]) if mode == "cold" else ""
                out.append(
                    f"| {name} | {sc['label']} | {mode} | {_v(st, 'visible_ms')} /"
                    f" {_v(st, 'visible_ms', 'p90')} / {_v(st, 'visible_ms', 'max')}"
                    f" | {_v(st, 'fcp_ms')} | {_v(st, 'dcl_ms')} | {_v(st, 'api_ms')} ms"
                    f" | {_kb(st['transfer_bytes']['p50'])} | {verdict} |")
    out += ["", *_first_load_lines(res), "", *_load_lines(res), "", *_timeline(res), "",
            *_api_lines(res), "", *_findings(res), ""]
    return out


def _load_lines(res: dict[str, Any]) -> list[str]:
    """The machine is shared: show how busy it was while each page was measured."""
    parts = [f"{name} {key} {sc['loadavg_before'].split()[0]} -> {sc['loadavg_after'].split()[0]}"
             for name, r in res["runs"].items() for key, sc in r.get("scenarios", {}).items()]
    nproc = res.get("nproc") or os.cpu_count()
    return [f"1-minute load average ({nproc} CPUs; the browser, the hub and PostgreSQL share"
            " them with whatever else runs) before -> after each page's"
            f" repeats: {', '.join(parts)}. Start {res['loadavg_at_start']}, end"
            f" {res['loadavg_at_end']} (1/5/15 min)."]


def _data_paragraphs(res: dict[str, Any]) -> list[str]:
    s, cat = res["settings"], res["catalog"]
    seeds = [f"{name} {r['seed']['total_s']} s ({r['seed']['publish_s']:.0f} s publishing,"
             f" {r['seed']['popularity_s']:.0f} s stars and downloads"
             + (f", {r['seed']['analyze_s']:.1f} s ANALYZE" if r["seed"]["analyze_s"] else "")
             + ")" for name, r in res["runs"].items() if "seed" in r]
    return [
        f"Data: {cat['environments']:,} public environments from {cat['owners']} owners (users"
        f" and organizations, a few prolific and a long tail) with {cat['versions']:,} versions"
        f" in all (70% have one, the rest 2 to 5), each a real wheel plus source archive built"
        f" by `tests/support/packages.py`, generated from seed {s['seed']}: a one-line"
        f" description, {cat['tags_per_env_avg']} tags on average (the wheels' keywords), a"
        f" markdown README of {cat['readme_bytes_avg']:,} bytes on average, v0, v1 and unknown"
        " runtimes, and downloads drawn from a log-normal distribution (min / median / max"
        f" {' / '.join(str(round(x)) for x in cat['downloads_min_median_max'])}) so that"
        f" sorting matters. Every {SEARCH_SHARE}th environment mentions the word"
        f" `{s['search_word']}` (in its name, a tag, its description or only its README),"
        f" so the search page has {cat['search_matches']} matches.",
        "",
        "Seeding: the hub is started first (`envhub serve`, which migrates and creates the"
        " admin), then this script publishes into the same database and storage in-process"
        " with the hub's own code: `publish.register`, the staged bytes written with"
        " `storage.put_stream` (what the signed upload URL does), and `publish.finalize`,"
        " each step in its own committed transaction as with the three HTTP requests. So"
        " every row (environments, versions, files, source entries, tags, search text,"
        " uploads) is what a real `envhub push` creates. Stars go through `catalog.set_star`"
        " for 30 real users; download counters are written as the totals `count_download`"
        " would have accumulated (daily rows over 30 days plus the running total), since one"
        " upsert per download would be hundreds of thousands of statements. The hub has no"
        " catalog cache, so seeding under a running hub serves the same pages as a restart."
        f" Building the packages took {res['build_s']} s (once, reused for both databases);"
        f" seeding took {'; '.join(seeds)}.",
    ]


def _method_paragraphs(s: dict[str, Any]) -> list[str]:
    return [
        f"Browser: Debian Chromium {s.get('chromium_version', '')} (`{s['chromium']}`, flags"
        f" `{' '.join(s['chromium_flags'])}`) driven by Playwright, viewport"
        f" {s['viewport']['width']}x{s['viewport']['height']}, on the same machine as the hub."
        f" Per page and database, {s['repeats']} repeats; each repeat opens a **new browser"
        " context** (empty HTTP cache and cookies) and loads the page (**cold**), then reloads"
        " it in the same context (**warm**: the content-hashed assets come from the cache,"
        " `index.html` and the API calls go to the hub again). Before the repeats, one"
        " unreported load of each page is made on the freshly started hub (reported below).",
        "",
        "**Rows visible** is the time from navigation start (the page's `performance.now()`"
        " origin) to the moment the N-th result row (`[data-testid=\"env-row\"]`) is in the"
        " DOM with a non-empty layout box and `checkVisibility()` true, taken by a"
        " MutationObserver installed before any page script runs. N is the whole first page:"
        f" {s['per_page']} rows on `/environments` and on the search page (or all matches if"
        f" fewer), and {2 * HOME_PER_LIST} on the home page ({HOME_PER_LIST} \"Popular\" +"
        f" {HOME_PER_LIST} \"Recently updated\"). Playwright waits for the same row"
        " (`state=visible`) before the timings are read. FCP and DOMContentLoaded come from"
        " the Paint and Navigation Timing entries; the API request time is the Resource Timing"
        " duration of `GET /api/v1/environments?...` as the browser saw it (the longest one on"
        " the home page, which makes two); transferred bytes are the sum of `transferSize`"
        " over the document and all resources.",
        "",
        f"Goal: the issue asks for \"well under a second\". The verdict is **p90 of cold loads"
        f" < {s['goal_ms']:.0f} ms**: p90 rather than the median, because a visitor's first"
        " visit with nothing cached is the slow case and one slow load in ten would already be"
        " felt; cold rather than warm for the same reason; and the p50 and warm columns show"
        f" how far under the line the usual case is. p90 of {s['repeats']} repeats is the"
        f" {math.ceil(0.9 * s['repeats'])}th smallest (nearest rank). The machine is shared"
        " (see Machine), so these are upper bounds of an idle machine's times.",
    ]


def _first_load_lines(res: dict[str, Any]) -> list[str]:
    parts = []
    for name, r in res["runs"].items():
        if "scenarios" not in r:
            continue
        firsts = ", ".join(f"{k} {sc['first_load']['visible_ms']:.0f} ms"
                           for k, sc in r["scenarios"].items())
        parts.append(f"{name}: {firsts}")
    return ["First load of each page right after the hub started and was seeded (browser"
            f" cold too; not in the statistics): {'; '.join(parts)}."]


def _timeline(res: dict[str, Any]) -> list[str]:
    out = ["Where the time goes (cold loads, p50 of each milestone, ms from navigation start;"
           " `render` is rows visible minus the API answer's end; `script` and `layout+style`"
           " are the renderer's busy time over the load from DevTools `Performance.getMetrics`):",
           "",
           "| hub | page | HTML received | JS received | DOMContentLoaded | FCP | API start"
           " | API end | render | rows visible | script | layout+style |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in res["runs"].items():
        for key, sc in r.get("scenarios", {}).items():
            st = sc["cold"]["stats"]
            layout = st.get("layout_ms", {}).get("p50", 0) + st.get("style_ms", {}).get("p50", 0)
            out.append(
                f"| {name} | {key} | {_v(st, 'html_end_ms')} | {_v(st, 'js_end_ms')}"
                f" | {_v(st, 'dcl_ms')} | {_v(st, 'fcp_ms')} | {_v(st, 'api_start_ms')}"
                f" | {_v(st, 'api_end_ms')} | {_v(st, 'render_after_api_ms')}"
                f" | {_v(st, 'visible_ms')} | {_v(st, 'script_ms')} | {layout:.0f} |")
    return out


def _api_lines(res: dict[str, Any]) -> list[str]:
    out = ["The same API calls without the browser: from a plain HTTP client (30 sequential"
           " requests after one warm-up), and the hub's `catalog.search` (the list endpoint's"
           " database work) called in-process on the same database (median of 5):", "",
           "| hub | call | HTTP p50 ms | HTTP p90 ms | response bytes | hub CPU ms per request"
           " | `catalog.search` in-process p50 ms |",
           "|---|---|---|---|---|---|---|"]
    for name, r in res["runs"].items():
        for key, a in r.get("api_direct", {}).items():
            query = "&".join(f"{k}={v}" for k, v in a["query"].items())
            db = r["db"][key]["search_p50_ms"]
            out.append(f"| {name} | {key}: `/api/v1/environments?{query}` | {a['p50_ms']}"
                       f" | {a['p90_ms']} | {a['bytes']:,} | {a['server_cpu_ms_per_request']}"
                       f" | {db} |")
    return out


def _findings(res: dict[str, Any]) -> list[str]:
    out = ["Observations:", ""]
    runs = {n: r for n, r in res["runs"].items() if "scenarios" in r}
    for name, r in runs.items():
        out += _slow_query_findings(name, r)
    first = next(iter(runs.values()), None)
    if first is not None:
        out += _waterfall_findings(first) + _compression_findings(first)
    return out


def _slow_query_findings(name: str, r: dict[str, Any]) -> list[str]:
    """A call whose HTTP time is mostly outside the hub process points at the database."""
    out = []
    for key, plan_info in r["db"].items():
        api = r["api_direct"][key]
        # In-process search time far above the hub's CPU per request = waiting on the
        # database server; on SQLite both are the same work, so this never fires there.
        if plan_info["search_p50_ms"] < max(30, 2 * api["server_cpu_ms_per_request"]):
            continue
        plans = plan_info.get("plans", [])
        detail = "; ".join(f"{p['execution_ms']} ms ({', '.join(p['scans']) or 'no scan'})"
                           f" for `{p['sql'][:60]}...`" for p in plans)
        out.append(
            f"- {name}, {key}: the API takes {api['p50_ms']} ms (p50) while the hub process uses"
            f" {api['server_cpu_ms_per_request']} ms of CPU per request; the rest is the"
            f" database: `catalog.search` alone takes {plan_info['search_p50_ms']} ms"
            + (f". EXPLAIN ANALYZE of its statements: {detail}." if detail else ".")
            + (" The full-text match computes `to_tsvector('english', search_text)` for every"
               " environment on every search (twice: once for the count, once for the page),"
               " so it grows with the number of environments and the length of their READMEs."
               " Fix: a stored tsvector column (generated from search_text) with a GIN index,"
               " used in both the match and `ts_rank`."
               if key == "search" and plans else ""))
    return out


def _waterfall_findings(r: dict[str, Any]) -> list[str]:
    st = r["scenarios"]["catalog"]["cold"]["stats"]
    gap = st["api_start_ms"]["p50"] - st["dcl_ms"]["p50"]
    return [
        f"- The page fetches its data only after React's first render: on a cold catalog load"
        f" the API request starts {st['api_start_ms']['p50']:.0f} ms after navigation, {gap:.0f}"
        f" ms after DOMContentLoaded and next to the first paint (FCP"
        f" {st['fcp_ms']['p50']:.0f} ms), although the HTML arrived at"
        f" {st['html_end_ms']['p50']:.0f} ms. Starting the first page's request from"
        " `main.tsx` before `render` (the URL already says which page), or a"
        " `<link rel=\"preload\" as=\"fetch\">` the hub writes into `index.html` for"
        " `/environments`, would overlap it with downloading and evaluating the bundle."
        f" Rendering the {r['scenarios']['catalog']['rows_waited']} rows after the answer"
        f" took {st['render_after_api_ms']['p50']:.0f} ms (p50)."]


def _compression_findings(r: dict[str, Any]) -> list[str]:
    asset = r["asset"]
    cold = r["scenarios"]["catalog"]["cold"]["stats"]
    if asset["content_encoding"] != "identity" and asset["api_content_encoding"] != "identity":
        return []
    return [
        f"- Nothing is compressed: the entry bundle `{asset['entry']}`"
        f" ({_kb(asset['bytes_on_wire'])}) and the catalog JSON"
        f" ({_kb(cold['api_body_bytes']['p50'])} for 50 rows) go out as"
        f" {asset['content_encoding']} / {asset['api_content_encoding']} although the browser"
        f" accepts gzip and br; a cold load transfers {_kb(cold['transfer_bytes']['p50'])},"
        f" {_kb(cold['js_transfer_bytes']['p50'])} of it JavaScript (the build reports about"
        " a third of that gzipped). On localhost this costs nothing measurable; over a real"
        " network it is the largest part of a cold load. Pre-compressed assets (`.gz`/`.br`"
        " written at build time) or Starlette's `GZipMiddleware` would fix it."]
