"""The author commands against a fake hub (httpx.MockTransport): parsing, output, flow."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from hub.cli import author_publish
from hub.cli.config import load_config
from tests.cli.helpers import HUB, FakeHub, app, problem

# --- commands -----------------------------------------------------------------------------


def test_login_verifies_and_stores(isolated_config: Path, fake_hub: FakeHub) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != "Bearer good":
            return problem(401, "unauthorized", "Invalid or expired token.")
        return httpx.Response(200, json={"id": 1, "username": "alice", "is_admin": False})

    fake_hub(handler)
    result = CliRunner().invoke(app(), ["login", "--url", HUB, "--token-stdin"], input="bad\n")
    assert result.exit_code == 1
    assert "Invalid or expired token." in result.stderr
    assert "envhub login" in result.stderr
    assert "Traceback" not in result.output
    assert not isolated_config.exists()

    result = CliRunner().invoke(
        app(), ["login", "--url", HUB, "--token-stdin", "--json"], input="good\n"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["username"] == "alice"
    assert stat.S_IMODE(isolated_config.stat().st_mode) == 0o600
    assert load_config().token == "good"

    result = CliRunner().invoke(app(), ["whoami", "--json"])
    assert json.loads(result.stdout)["username"] == "alice"


def test_whoami_without_login_says_what_to_do() -> None:
    result = CliRunner().invoke(app(), ["whoami"])
    assert result.exit_code == 1
    assert "envhub login" in result.stderr


def test_not_found_prints_detail_and_next_step(fake_hub: FakeHub) -> None:
    fake_hub(lambda _request: problem(404, "not-found", "No environment alice/nope."))
    result = CliRunner().invoke(app(), ["info", "alice/nope@1.0"])
    assert result.exit_code == 1
    assert "No environment alice/nope." in result.stderr
    assert "envhub search" in result.stderr
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app(), ["info", "not-a-ref"])
    assert result.exit_code == 1
    assert "OWNER/NAME" in result.stderr


def test_search_json_and_query_params(fake_hub: FakeHub) -> None:
    page = {
        "items": [
            {
                "full_name": "alice/gsm",
                "owner": "alice",
                "name": "gsm",
                "latest_version": "0.2.0",
                "runtime": "v1",
                "downloads": 3,
                "stars": 1,
                "updated_at": "2026-01-02T00:00:00Z",
                "description": "math",
            }
        ],
        "total": 1,
        "page": 2,
        "per_page": 20,
    }
    seen = fake_hub(lambda _request: httpx.Response(200, json=page))
    runner = CliRunner()
    result = runner.invoke(
        app(),
        [
            "search",
            "gsm",
            "--tag",
            "math",
            "--tag",
            "v1",
            "--owner",
            "alice",
            "--sort",
            "downloads",
            "--page",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == page
    params = seen[0].url.params
    assert (params["q"], params["owner"], params["sort"], params["page"]) == (
        "gsm",
        "alice",
        "downloads",
        "2",
    )
    assert params.get_list("tag") == ["math", "v1"]
    table = runner.invoke(app(), ["search", "gsm"])
    assert "alice/gsm" in table.stdout
    assert "0.2.0" in table.stdout
    bad = runner.invoke(app(), ["search", "--sort", "nonsense"])
    assert bad.exit_code == 2


def _version_out(files: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "version": "0.1.0",
        "content_hash": "ab" * 32,
        "files": files,
        "yanked": False,
        "install": {
            "index_url": f"{HUB}/index/alice/demo/simple/",
            "pip": "pip install demo==0.1.0 --extra-index-url ...",
        },
        **extra,
    }


def test_install_private_embeds_token(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_TOKEN", "s3cr/et")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/versions/latest"):
            return httpx.Response(200, json=_version_out([]))
        return httpx.Response(200, json={"full_name": "alice/demo", "visibility": "private"})

    fake_hub(handler)
    monkeypatch.setenv("HUB_URL", HUB)
    result = CliRunner().invoke(app(), ["install", "alice/demo", "--with", "uv", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "demo==0.1.0" in result.stdout
    assert "http://__token__:***@hub.test/index/alice/demo/simple/" in result.stdout
    assert "s3cr" not in result.stdout
    url = author_publish.with_token(f"{HUB}/index/alice/demo/simple/", "s3cr/et")
    assert url == "http://__token__:s3cr%2Fet@hub.test/index/alice/demo/simple/"


def _source_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("README.md", b"# demo\n"), ("demo/__init__.py", b"X = 1\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("tamper", [False, True])
def test_pull_verifies_and_extracts(tmp_path: Path, fake_hub: FakeHub, tamper: bool) -> None:
    blob = _source_tar()
    source = {
        "kind": "source",
        "filename": "demo-0.1.0-abcd1234.tar.gz",
        "size": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "download_url": "/api/v1/environments/alice/demo/versions/0.1.0/download/x",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if "/download/" in request.url.path:
            return httpx.Response(200, content=blob + (b"!" if tamper else b""))
        return httpx.Response(200, json=_version_out([source]))

    fake_hub(handler)
    dest = tmp_path / "pulled"
    result = CliRunner().invoke(app(), ["pull", "alice/demo@0.1.0", "--dest", str(dest), "--json"])
    if tamper:
        assert result.exit_code == 1
        assert "sha256" in result.stderr
        assert not dest.exists()
        return
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"] == ["README.md", "demo/__init__.py"]
    assert (dest / "demo" / "__init__.py").read_text() == "X = 1\n"


class FakePublishHub:
    """Just enough of register -> upload -> finalize to drive `envhub push`."""

    def __init__(self, *, already_published: bool = False) -> None:
        self.already_published = already_published
        self.registered: dict[str, Any] = {}
        self.uploaded: dict[str, bytes] = {}
        self.upload_auth: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/users/me":
            return httpx.Response(200, json={"username": "alice"})
        if path == "/api/v1/environments/acme/demo-push/uploads":
            assert request.headers["authorization"] == "Bearer tok"
            self.registered = json.loads(request.content)
            if self.already_published:
                return httpx.Response(
                    200, json={"already_published": True, "version": _version_out([])}
                )
            files = [
                {
                    "id": i,
                    "kind": f["kind"],
                    "filename": f["filename"],
                    "upload_url": f"https://blobs.test/put/{f['kind']}",
                }
                for i, f in enumerate(self.registered["files"])
            ]
            return httpx.Response(201, json={"id": "u-1", "files": files})
        if request.url.host == "blobs.test":
            self.upload_auth.append(request.headers.get("authorization"))
            self.uploaded[path.rsplit("/", 1)[-1]] = request.content
            return httpx.Response(200)
        if path == "/api/v1/uploads/u-1/finalize":
            return httpx.Response(201, json=_version_out([]))
        return problem(404, "not-found", f"unexpected {request.method} {path}")


@pytest.mark.slow
def test_push_registers_uploads_and_finalizes(
    tmp_path: Path, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_URL", HUB)
    monkeypatch.setenv("HUB_TOKEN", "tok")
    runner = CliRunner()
    assert runner.invoke(app(), ["init", "demo-push", "--path", str(tmp_path)]).exit_code == 0
    env_dir = tmp_path / "demo-push"

    hub = FakePublishHub()
    fake_hub(hub)
    result = runner.invoke(app(), ["push", str(env_dir), "--owner", "acme", "--private", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "published"
    assert summary["url"] == f"{HUB}/acme/demo-push"
    assert summary["install_command"] == "envhub install acme/demo-push@0.1.0"
    body = hub.registered
    assert (body["version"], body["visibility"]) == ("0.1.0", "private")
    assert body["content_hash"] == summary["content_hash"]
    by_kind = {f["kind"]: f for f in body["files"]}
    assert set(by_kind) == {"wheel", "source"}
    for kind, entry in by_kind.items():
        assert hashlib.sha256(hub.uploaded[kind]).hexdigest() == entry["sha256"]
        assert len(hub.uploaded[kind]) == entry["size"]
    assert hub.upload_auth == [None, None]

    again = FakePublishHub(already_published=True)
    fake_hub(again)
    result = runner.invoke(app(), ["push", str(env_dir), "--owner", "acme"])
    assert result.exit_code == 0, result.output
    assert "already published" in result.stdout
    assert "visibility" not in again.registered
    assert again.uploaded == {}
