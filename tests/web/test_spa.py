from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from hub.kit.http import install_problem_handlers
from hub.web.spa import mount_frontend


def _app(dist: Path) -> TestClient:
    app = FastAPI()

    @app.get("/api/v1/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    install_problem_handlers(app)
    mount_frontend(app, dist)
    return TestClient(app)


def test_deep_links_get_index_and_assets_are_immutable(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<div id=root></div>")
    (tmp_path / "assets" / "app-1234.js").write_text("console.log(1)")
    client = _app(tmp_path)
    deep = client.get("/alice/my-env/v/0.1.0")
    assert deep.status_code == 200 and "root" in deep.text
    assert deep.headers["cache-control"] == "no-cache"
    asset = client.get("/assets/app-1234.js")
    assert "immutable" in asset.headers["cache-control"]
    assert client.get("/api/v1/ping").json() == {"ok": True}
    missing_api = client.get("/api/v1/nope")
    assert missing_api.status_code == 404 and missing_api.json()["code"] == "route-not-found"
    assert client.get("/../../etc/passwd").text == "<div id=root></div>"


def test_unbuilt_frontend_says_how_to_build(tmp_path: Path) -> None:
    r = _app(tmp_path / "missing").get("/")
    assert r.status_code == 503 and "make run" in r.text
