"""index.html preloads the first API calls of the home page and the catalog.

The URLs must equal the page's own requests to the byte (after URL parsing), or the
browser fetches twice: frontend/src/lib/preloadCases.json is checked here against
hub/web/preload.py and, in Vitest (src/lib/preload.test.tsx), against the real pages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.kit.http import install_problem_handlers
from hub.web.preload import HOME, catalog_api_url, preload_urls
from hub.web.spa import mount_frontend

CASES_FILE = Path(__file__).resolve().parents[2] / "frontend" / "src" / "lib" / "preloadCases.json"
CASES: list[dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]
INDEX = """<!doctype html>
<html lang="en">
  <head>
    <title>Environments Hub</title>
    <script type="module" crossorigin src="/assets/index-1234.js"></script>
  </head>
  <body><div id="root"></div></body>
</html>"""


@pytest.mark.parametrize("case", CASES, ids=[c["page"] for c in CASES])
def test_preload_urls_match_the_pages_requests(case: dict[str, Any]) -> None:
    url = urlsplit(case["page"])
    assert preload_urls(url.path, url.query) == case["preload"]


def test_catalog_url_edge_cases() -> None:
    default = "/api/v1/environments?sort=downloads&order=desc&page=1&per_page=50"
    assert catalog_api_url("") == default
    assert catalog_api_url("page=1e3") == catalog_api_url("page=1")
    assert catalog_api_url("page=%200x10") == catalog_api_url("")  # parseInt("0x10", 10) = 0
    assert catalog_api_url("page=9007199254740993") is None


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    (tmp_path / "index.html").write_text(INDEX)
    app = FastAPI()
    install_problem_handlers(app)
    mount_frontend(app, tmp_path)
    return TestClient(app)


def _links(html: str) -> list[str]:
    return [line.strip() for line in html.splitlines() if 'rel="preload" as="fetch"' in line]


def test_catalog_page_carries_its_preload_before_the_script(client: TestClient) -> None:
    r = client.get("/environments?q=tic'tac&tag=a&tag=b")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
    assert _links(r.text) == [
        '<link rel="preload" as="fetch" crossorigin '
        'href="/api/v1/environments?q=tic&#x27;tac&amp;tag=a&amp;tag=b&amp;page=1&amp;per_page=50">'
    ]
    assert r.text.index('rel="preload"') < r.text.index("<script")


def test_home_preloads_its_three_lists_and_other_pages_none(client: TestClient) -> None:
    home = _links(client.get("/").text)
    assert [link.split('href="')[1].removesuffix('">') for link in home] == [
        u.replace("&", "&amp;") for u in HOME]
    for path in ("/alice", "/alice/my-env", "/evals/1", "/login", "/environments/x"):
        r = client.get(path)
        assert r.status_code == 200 and _links(r.text) == [], path
        assert r.text == INDEX
    assert client.get("/api/v1/environments").status_code == 404


def test_an_index_without_head_is_served_as_is(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<div id=root></div>")
    app = FastAPI()
    mount_frontend(app, tmp_path)
    assert TestClient(app).get("/environments").text == "<div id=root></div>"


def test_a_rebuilt_index_is_picked_up(client: TestClient, tmp_path: Path) -> None:
    assert "index-1234.js" in client.get("/").text
    (tmp_path / "index.html").write_text(INDEX.replace("index-1234.js", "index-5678.js!"))
    assert "index-5678.js!" in client.get("/").text
