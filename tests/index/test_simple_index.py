from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi.testclient import TestClient

from tests.support.hub import MakeAccount
from tests.support.packages import build
from tests.support.publishing import publish

JSON = "application/vnd.pypi.simple.v1+json"


def _publish_two(client: TestClient, make_account: MakeAccount, tmp_path: Path) -> None:
    alice = make_account("alice")
    for v in ("0.1.0", "0.2.0"):
        r = publish(client, alice.headers, "alice",
                    build(tmp_path / v, "My_Env", v, requires=["verifiers>=0.4"]))
        assert r.status_code == 201, r.text
    client.post("/api/v1/environments/alice/my-env/versions/0.1.0/yank",
                json={"reason": "bad scoring"}, headers=alice.headers)


def test_html_project_page(client: TestClient, make_account: MakeAccount,
                           tmp_path: Path) -> None:
    _publish_two(client, make_account, tmp_path)
    r = client.get("/index/alice/my-env/simple/my-env/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.pypi.simple.v1+html")
    page = r.text
    assert '<meta name="pypi:repository-version" content="1.1">' in page
    assert page.count("#sha256=") == 2
    assert 'data-yanked="bad scoring"' in page
    assert 'data-requires-python="&gt;=3.10"' in page
    assert "data-dist-info-metadata=\"sha256=" in page and "data-core-metadata=" in page


def test_json_project_page_and_metadata_file(client: TestClient, make_account: MakeAccount,
                                             tmp_path: Path) -> None:
    _publish_two(client, make_account, tmp_path)
    r = client.get("/index/alice/my-env/simple/my-env/", headers={"Accept": JSON})
    assert r.headers["content-type"] == JSON
    doc = r.json()
    assert doc["meta"]["api-version"] == "1.1"
    assert doc["name"] == "my-env" and doc["versions"] == ["0.1.0", "0.2.0"]
    first, second = doc["files"]
    assert first["yanked"] == "bad scoring" and second["yanked"] is False
    assert first["upload-time"].endswith("Z")
    meta_url = second["url"] + ".metadata"
    meta = client.get(meta_url.removeprefix("http://testserver"))
    assert meta.status_code == 200
    assert hashlib.sha256(meta.content).hexdigest() == second["core-metadata"]["sha256"]
    assert b"Requires-Dist: verifiers>=0.4" in meta.content
    wheel = client.get(second["url"].removeprefix("http://testserver"))
    assert hashlib.sha256(wheel.content).hexdigest() == second["hashes"]["sha256"]


def test_scoped_index_serves_only_its_package(client: TestClient, make_account: MakeAccount,
                                              tmp_path: Path) -> None:
    _publish_two(client, make_account, tmp_path)
    # The package-scoped index must never answer for a PyPI name: no shadowing possible.
    assert client.get("/index/alice/my-env/simple/requests/").status_code == 404
    root = client.get("/index/alice/my-env/simple/", headers={"Accept": JSON}).json()
    assert root["projects"] == [{"name": "my-env"}]


def test_etag_and_not_modified(client: TestClient, make_account: MakeAccount,
                               tmp_path: Path) -> None:
    _publish_two(client, make_account, tmp_path)
    first = client.get("/index/alice/my-env/simple/my-env/")
    etag = first.headers["etag"]
    again = client.get("/index/alice/my-env/simple/my-env/", headers={"If-None-Match": etag})
    assert again.status_code == 304
    as_json = client.get("/index/alice/my-env/simple/my-env/", headers={"Accept": JSON})
    assert as_json.headers["etag"] != etag


def test_accept_negotiation_prefers_html_when_ranked_higher(
    client: TestClient, make_account: MakeAccount, tmp_path: Path
) -> None:
    _publish_two(client, make_account, tmp_path)
    r = client.get("/index/alice/my-env/simple/my-env/",
                   headers={"Accept": f"text/html, {JSON};q=0.5"})
    assert "html" in r.headers["content-type"]
    r = client.get("/index/alice/my-env/simple/my-env/",
                   headers={"Accept": f"{JSON}, application/vnd.pypi.simple.v1+html;q=0.1"})
    assert r.headers["content-type"] == JSON


def test_hot_public_page_follows_changes_at_once(client: TestClient, make_account: MakeAccount,
                                                 tmp_path: Path) -> None:
    """The in-memory fast path must never outlive a change made in this process."""
    alice = make_account("alice")
    publish(client, alice.headers, "alice", build(tmp_path / "1", "hot-env", "0.1.0"))
    page = "/index/alice/hot-env/simple/hot-env/"
    assert "0.1.0" in client.get(page).text
    assert "0.1.0" in client.get(page).text  # now served from the stamp cache
    publish(client, alice.headers, "alice", build(tmp_path / "2", "hot-env", "0.2.0"))
    assert "hot_env-0.2.0-py3-none-any.whl" in client.get(page).text
    client.patch("/api/v1/environments/alice/hot-env", json={"visibility": "private"},
                 headers=alice.headers)
    assert client.get(page).status_code == 404
    assert client.get("/index/alice/simple/hot-env/").status_code == 404
