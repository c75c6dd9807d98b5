"""The server's share without the browser: the page's API calls from a plain HTTP client,
the entry bundle's encoding, and `catalog.search` in-process (with PostgreSQL's plans)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from benchlib import LiveHub, cpu_seconds, process_tree
from sqlalchemy import event
from sqlalchemy.engine import Engine

from hub.kit.db import make_engine, session_factory
from hub.registry import catalog

from . import PER_PAGE, SEARCH_WORD
from .seed import hub_settings
from .stats import percentile


def api_direct(hub: LiveHub, query: dict[str, Any], n: int = 30) -> dict[str, Any]:
    """The same API call the page makes, from a plain client: the server's share of the wait."""
    pids = process_tree(hub.pid)
    times = []
    with httpx.Client(base_url=hub.url, timeout=30) as client:
        client.get("/api/v1/environments", params=query).raise_for_status()
        cpu0 = cpu_seconds(pids)
        for _ in range(n):
            t0 = time.perf_counter()
            r = client.get("/api/v1/environments", params=query)
            times.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
        cpu = cpu_seconds(pids) - cpu0
    return {"query": query, "requests": n, "p50_ms": round(statistics.median(times), 1),
            "p90_ms": round(percentile(times, 0.9), 1), "max_ms": round(max(times), 1),
            "bytes": len(r.content), "total": r.json()["total"],
            "server_cpu_ms_per_request": round(cpu * 1000 / n, 1)}


def asset_encoding(hub: LiveHub) -> dict[str, Any]:
    """Whether the entry bundle and the catalog's JSON are compressed on the wire for a
    browser that accepts gzip and br."""
    accept = {"Accept-Encoding": "gzip, deflate, br"}
    html = httpx.get(hub.url + "/", timeout=10).text
    entry = html.split('type="module" crossorigin src="', 1)[1].split('"', 1)[0]
    r = httpx.get(hub.url + entry, headers=accept, timeout=10)
    api = httpx.get(hub.url + "/api/v1/environments", headers=accept, timeout=10,
                    params={"sort": "downloads", "order": "desc", "per_page": PER_PAGE})
    return {"entry": entry, "content_encoding": r.headers.get("content-encoding", "identity"),
            "bytes_on_wire": int(r.headers.get("content-length", len(r.content))),
            "cache_control": r.headers.get("cache-control"),
            "api_content_encoding": api.headers.get("content-encoding", "identity"),
            "api_cache_control": api.headers.get("cache-control")}


# --- the database's share, in-process --------------------------------------------------------

@contextmanager
def captured_sql(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement (and its parameters) the engine sends while the block runs."""
    seen: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", grab)


def explain_pg(engine: Engine, statements: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """EXPLAIN ANALYZE each captured statement: execution time and the scans it used."""
    out = []
    with engine.connect() as conn:
        for statement, params in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            sql = "EXPLAIN (ANALYZE, FORMAT JSON) " + statement
            conn.exec_driver_sql(sql, params)  # once to warm the buffers, as a busy hub has them
            plan = conn.exec_driver_sql(sql, params).scalar_one()[0]
            out.append({"sql": " ".join(statement.split())[:160],
                        "execution_ms": round(plan["Execution Time"], 1),
                        "scans": sorted(set(_scans(plan["Plan"])))})
    return out


def _scans(node: dict[str, Any]) -> Iterator[str]:
    if "Relation Name" in node:
        yield f"{node['Node Type']} on {node['Relation Name']}"
    for child in node.get("Plans", []):
        yield from _scans(child)


def db_times(hub: LiveHub, n: int = 5) -> dict[str, Any]:
    """catalog.search (what the list endpoint runs) in-process, without HTTP or the framework;
    on PostgreSQL also the plans of the SQL it sends."""
    settings = hub_settings(hub)
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    queries = {"catalog": catalog.SearchQuery(sort="downloads", per_page=PER_PAGE),
               "search": catalog.SearchQuery(q=SEARCH_WORD, per_page=PER_PAGE)}
    out: dict[str, Any] = {}
    try:
        for key, sq in queries.items():
            with factory() as db:
                with captured_sql(engine) as statements:
                    catalog.search(db, None, sq)
                times = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    catalog.search(db, None, sq)
                    times.append((time.perf_counter() - t0) * 1000)
            out[key] = {"search_p50_ms": round(statistics.median(times), 1),
                        "search_max_ms": round(max(times), 1), "statements": len(statements)}
            if engine.dialect.name == "postgresql":
                out[key]["plans"] = explain_pg(engine, statements)
    finally:
        engine.dispose()
    return out
