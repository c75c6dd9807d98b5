"""A cold load of the catalog or the home page, in real headless Chromium against a live
hub: the data request starts from index.html's preload, before the entry script has even
run, the page's own fetch takes that response (exactly one request), and the entry
bundle arrives brotli-compressed."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Request, expect

from hub.web.spa import DEFAULT_DIST
from tests.support.live import LiveHub
from tests.support.packages import build
from tests.support.publishing import publish

pytestmark = pytest.mark.slow
DATA_PATHS = {"/api/v1/environments", "/api/v1/tags"}
TIMING = """() => {
  const mark = (name) => performance.getEntriesByName(name)[0]?.startTime ?? null;
  return {
    api: performance.getEntriesByType("resource")
      .filter((e) => ["/api/v1/environments", "/api/v1/tags"].includes(new URL(e.name).pathname))
      .map((e) => ({url: e.name, start: e.startTime, initiator: e.initiatorType})),
    main: mark("envhub:main"),
    commit: mark("envhub:first-commit"),
  };
}"""


@pytest.fixture(scope="module")
def hub_url(live_hub: LiveHub, tmp_path_factory: pytest.TempPathFactory) -> str:
    if not (DEFAULT_DIST / "index.html").exists():
        pytest.fail("frontend/dist is missing: run `make frontend` (make test builds it)",
                    pytrace=False)
    tmp = tmp_path_factory.mktemp("prefetch")
    token = live_hub.admin_token("pia")
    with httpx.Client(base_url=live_hub.url, timeout=60) as client:
        for name, desc, tags in [("tic-tac-prefetch", "Tic tac toe's rules", ["games"]),
                                 ("sums-prefetch", "Sums of small numbers", ["math"])]:
            r = publish(client, {"Authorization": f"Bearer {token}"}, "pia",  # type: ignore[arg-type]
                        build(tmp / name, name, description=desc, keywords=tags))
            assert r.status_code == 201, r.text
    return live_hub.url


def _cold_load(browser: Browser, url: str, path: str, *ready: str) -> dict[str, Any]:
    """Open `path` in a fresh context (empty HTTP cache): its data requests and timing."""
    context = browser.new_context(base_url=url)
    try:
        page = context.new_page()
        requests: list[Request] = []
        page.on("request", lambda r: requests.append(r)
                if urlsplit(r.url).path in DATA_PATHS else None)
        page.goto(path)
        for test_id in ready:
            expect(page.get_by_test_id(test_id).first).to_be_visible()
        return {"requests": [r.url for r in requests], "timing": page.evaluate(TIMING)}
    finally:
        context.close()


def _check(loaded: dict[str, Any], expected: int) -> None:
    timing = loaded["timing"]
    # exactly one request per URL: the page's fetch took the preloaded response
    assert len(loaded["requests"]) == expected, loaded["requests"]
    assert len(set(loaded["requests"])) == expected, loaded["requests"]
    assert len(timing["api"]) == expected, timing
    assert timing["main"] is not None and timing["commit"] is not None, timing
    for entry in timing["api"]:
        # started by the <link rel=preload> in index.html, before the entry module had
        # run (module scripts run only after the document is parsed), hence before React
        assert entry["initiator"] == "link", timing
        assert entry["start"] <= timing["main"] <= timing["commit"], timing


def test_cold_catalog_load_makes_one_preloaded_request(browser: Browser, hub_url: str) -> None:
    _check(_cold_load(browser, hub_url, "/environments", "env-row"), 1)


def test_cold_search_with_awkward_characters_still_matches(browser: Browser,
                                                           hub_url: str) -> None:
    loaded = _cold_load(browser, hub_url,
                        "/environments?q=tic+tac%27s+(toe)!&tag=games&tag=%20games%20&page=x",
                        "result-count")
    _check(loaded, 1)
    query = urlsplit(loaded["requests"][0]).query
    assert query.startswith("q=tic%20tac") and query.count("tag=games") == 1, query


def test_cold_home_load_preloads_its_three_calls(browser: Browser, hub_url: str) -> None:
    _check(_cold_load(browser, hub_url, "/", "env-row", "tag-chips"), 3)


def test_entry_bundle_is_served_brotli(browser: Browser, hub_url: str) -> None:
    context = browser.new_context(base_url=hub_url)
    try:
        page = context.new_page()
        encodings: dict[str, str | None] = {}

        def seen(response: Any) -> None:
            if "/assets/" in response.url:
                encodings[urlsplit(response.url).path] = (
                    response.all_headers().get("content-encoding"))

        page.on("response", seen)
        page.goto("/environments")
        expect(page.get_by_test_id("env-row").first).to_be_visible()
        entry = urlsplit(page.eval_on_selector('script[type="module"]', "s => s.src")).path
        assert encodings.get(entry) == "br", encodings
        assert any(p.endswith(".css") and e == "br" for p, e in encodings.items()), encodings
    finally:
        context.close()
