"""Measuring pages in headless Chromium: time from navigation start until the N-th result
row has a box, taken inside the page on its own clock, cold (new context) and warm (reload)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from benchlib import LiveHub, cpu_seconds, loadavg, process_tree
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page

from . import GOAL_MS, HOME_PER_LIST, PER_PAGE, ROW, SEARCH_WORD, VIEWPORT
from .stats import stats


@dataclass
class Scenario:
    key: str
    label: str
    path: str
    rows: int            # wait for the rows-th result row
    expected_total: int | None  # what the page's result count must say (None: not shown)


# Runs before any page script, on every navigation and reload of the context: records the
# page-clock time (ms since navigation start) at which the N-th row first has a box.
INIT_JS = """
(() => {
  const want = __WANT__;
  window.__bench = { visible: null, frame: null };
  const seen = () => {
    const rows = document.querySelectorAll('[data-testid="env-row"]');
    if (rows.length < want) return false;
    const row = rows[want - 1];
    const box = row.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && row.checkVisibility();
  };
  const observer = new MutationObserver(() => {
    if (window.__bench.visible !== null || !seen()) return;
    window.__bench.visible = performance.now();
    observer.disconnect();
    requestAnimationFrame(() => { window.__bench.frame = performance.now(); });
  });
  observer.observe(document, { childList: true, subtree: true });
})();
"""

COLLECT_JS = """
() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const paint = {};
  for (const p of performance.getEntriesByType("paint")) paint[p.name] = p.startTime;
  const resources = performance.getEntriesByType("resource").map((r) => ({
    name: r.name, start: r.startTime, request: r.requestStart, first_byte: r.responseStart,
    end: r.responseEnd, transfer: r.transferSize, body: r.encodedBodySize }));
  return {
    mark: window.__bench,
    nav: { first_byte: nav.responseStart, html_end: nav.responseEnd,
           dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
           transfer: nav.transferSize, body: nav.encodedBodySize },
    paint, resources };
}
"""

CDP_METRICS = {"ScriptDuration": "script_ms", "LayoutDuration": "layout_ms",
               "RecalcStyleDuration": "style_ms", "TaskDuration": "task_ms"}


def cdp_metrics(cdp: CDPSession) -> dict[str, float]:
    """The renderer's cumulative busy time (s -> ms) for script, layout, style and all tasks."""
    got = cdp.send("Performance.getMetrics")["metrics"]
    return {CDP_METRICS[m["name"]]: m["value"] * 1000 for m in got if m["name"] in CDP_METRICS}


def _path(url: str) -> str:
    return urlsplit(url).path


def summarize_entries(raw: dict[str, Any]) -> dict[str, Any]:
    """One load's milestones (ms from navigation start) and byte counts."""
    res = raw["resources"]
    js = [r for r in res if _path(r["name"]).endswith(".js")]
    css = [r for r in res if _path(r["name"]).endswith(".css")]
    api = [r for r in res if _path(r["name"]) == "/api/v1/environments"]
    session = [r for r in res if _path(r["name"]) == "/api/v1/session"]
    nav = raw["nav"]
    return {
        "visible_ms": raw["mark"]["visible"],
        "frame_ms": raw["mark"]["frame"],
        "html_first_byte_ms": nav["first_byte"],
        "html_end_ms": nav["html_end"],
        "js_end_ms": max((r["end"] for r in js), default=None),
        "css_end_ms": max((r["end"] for r in css), default=None),
        "dcl_ms": nav["dcl"],
        "load_ms": nav["load"],
        "fcp_ms": raw["paint"].get("first-contentful-paint"),
        "api_start_ms": min((r["start"] for r in api), default=None),
        "api_end_ms": max((r["end"] for r in api), default=None),
        "api_ms": max((r["end"] - r["start"] for r in api), default=None),
        "api_wait_ms": max((r["first_byte"] - r["request"] for r in api), default=None),
        "render_after_api_ms": (raw["mark"]["visible"] - max(r["end"] for r in api)
                                if api else None),
        "api_requests": len(api),
        "api_body_bytes": sum(r["body"] for r in api),
        "session_end_ms": max((r["end"] for r in session), default=None),
        "js_transfer_bytes": sum(r["transfer"] for r in js),
        "js_body_bytes": sum(r["body"] for r in js),
        "transfer_bytes": nav["transfer"] + sum(r["transfer"] for r in res),
    }


def one_load(page: Page, cdp: CDPSession, scenario: Scenario, go: Any) -> dict[str, Any]:
    """Navigate (or reload) with `go`, wait for the N-th row, read the page's own timings."""
    before = cdp_metrics(cdp)
    t0 = time.perf_counter()
    go()
    page.locator(ROW).nth(scenario.rows - 1).wait_for(state="visible", timeout=30_000)
    wall = (time.perf_counter() - t0) * 1000
    page.wait_for_function("window.__bench && window.__bench.frame !== null", timeout=10_000)
    page.wait_for_load_state("load")
    sample = summarize_entries(page.evaluate(COLLECT_JS))
    after = cdp_metrics(cdp)
    # Counters are per renderer; a reload may get a fresh one, so never report a negative.
    sample |= {k: after[k] - before.get(k, 0) if after[k] >= before.get(k, 0) else after[k]
               for k in after}
    sample["wall_ms"] = wall
    sample["rows_in_dom"] = page.locator(ROW).count()
    if scenario.expected_total is not None:
        sample["result_count"] = page.get_by_test_id("result-count").inner_text()
    return sample


@contextmanager
def fresh_page(browser: Browser, scenario: Scenario) -> Iterator[tuple[Page, CDPSession]]:
    """A new context: its own, empty HTTP cache and cookie jar."""
    context: BrowserContext = browser.new_context(viewport=VIEWPORT)
    try:
        context.add_init_script(INIT_JS.replace("__WANT__", str(scenario.rows)))
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        yield page, cdp
    finally:
        context.close()


def check_total(scenario: Scenario, sample: dict[str, Any]) -> None:
    """The page must show the catalog we seeded, or the timing means nothing."""
    if scenario.expected_total is None:
        return
    shown = sample["result_count"].split(" ")[0].replace(",", "")
    if int(shown) != scenario.expected_total:
        raise RuntimeError(f"{scenario.key}: page says {sample['result_count']!r}, expected"
                           f" {scenario.expected_total}")


def measure_scenario(browser: Browser, hub: LiveHub, scenario: Scenario,
                     repeats: int) -> dict[str, Any]:
    url = hub.url + scenario.path
    pids = process_tree(hub.pid)
    out: dict[str, Any] = {"url_path": scenario.path, "rows_waited": scenario.rows,
                           "expected_total": scenario.expected_total,
                           "loadavg_before": loadavg()}
    # The hub's first ever request for this page (fresh process: lazy imports, statement
    # compilation) is kept apart: it is a one-off after a restart, not the steady state.
    with fresh_page(browser, scenario) as (page, cdp):
        out["first_load"] = one_load(page, cdp, scenario,
                                     lambda: page.goto(url, wait_until="commit"))
    check_total(scenario, out["first_load"])
    cold, warm = [], []
    cpu0 = cpu_seconds(pids)
    for _ in range(repeats):
        with fresh_page(browser, scenario) as (page, cdp):
            cold.append(one_load(page, cdp, scenario,
                                 lambda p=page: p.goto(url, wait_until="commit")))
            warm.append(one_load(page, cdp, scenario,
                                 lambda p=page: p.reload(wait_until="commit")))
    cpu = cpu_seconds(pids) - cpu0
    for s in cold + warm:
        check_total(scenario, s)
    out |= {"cold": {"samples": cold, "stats": stats(cold)},
            "warm": {"samples": warm, "stats": stats(warm)},
            "server_cpu_ms_per_load": round(cpu * 1000 / (2 * repeats), 1),
            "loadavg_after": loadavg()}
    out["meets_goal"] = out["cold"]["stats"]["visible_ms"]["p90"] < GOAL_MS
    return out


def scenarios(n: int, matches: int) -> list[Scenario]:
    return [
        Scenario("catalog", "catalog `/environments`", "/environments", min(PER_PAGE, n), n),
        Scenario("search", f"search `/environments?q={SEARCH_WORD}`",
                 f"/environments?q={SEARCH_WORD}", min(PER_PAGE, matches), matches),
        Scenario("home", "home `/`", "/", 2 * min(HOME_PER_LIST, n), None),
    ]
