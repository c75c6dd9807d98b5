"""The reading and account commands against the real hub in-process (the `real_hub` fixture):
login/whoami, info, search, versions, yank/unyank and install, with real accounts and
published environments; each test checks the CLI's output and what the hub now holds."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from hub.accounts.models import ApiToken
from hub.cli import author_publish
from hub.cli.config import load_config
from tests.cli.helpers import RealHub, app
from tests.support.hub import MakeAccount
from tests.support.packages import build


def test_login_verifies_and_stores(
    isolated_config: Path, real_hub: RealHub, make_account: MakeAccount
) -> None:
    alice = make_account("alice")
    login = ["login", "--url", real_hub.url, "--token-stdin"]
    result = CliRunner().invoke(app(), login, input="not-a-real-token\n")
    assert result.exit_code == 1
    refusal = real_hub.http.get("/api/v1/users/me",
                                headers={"Authorization": "Bearer not-a-real-token"}).json()
    assert refusal["code"] == "invalid-token"
    assert refusal["detail"] in result.stderr  # the hub's own words, then the next step
    assert "envhub login" in result.stderr
    assert "Traceback" not in result.output
    assert not isolated_config.exists()

    result = CliRunner().invoke(app(), [*login, "--json"], input=f"{alice.token}\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["username"] == "alice"
    assert stat.S_IMODE(isolated_config.stat().st_mode) == 0o600
    assert load_config().token == alice.token
    with real_hub.sessions() as db:  # the hub saw the token used
        token = db.scalar(select(ApiToken).where(ApiToken.user_id == alice.user.id))
        assert token is not None and token.last_used_at is not None

    result = CliRunner().invoke(app(), ["whoami", "--json"])
    me = json.loads(result.stdout)
    assert (me["username"], me["is_admin"], me["auth_source"]) == ("alice", False, "file")
    assert CliRunner().invoke(app(), ["whoami"]).stdout.startswith("alice on http://testserver")


def test_whoami_without_login_says_what_to_do() -> None:
    # No hub at all: the CLI must refuse before making any request.
    result = CliRunner().invoke(app(), ["whoami"])
    assert result.exit_code == 1
    assert "envhub login" in result.stderr


def test_not_found_prints_detail_and_next_step(
    real_hub: RealHub, make_account: MakeAccount
) -> None:
    make_account("alice")
    result = CliRunner().invoke(app(), ["info", "alice/nope@1.0"])
    assert result.exit_code == 1
    refusal = real_hub.http.get("/api/v1/environments/alice/nope").json()
    assert refusal["code"] == "environment-not-found"
    assert refusal["detail"] in result.stderr
    assert "envhub search" in result.stderr
    assert "Traceback" not in result.output
    assert real_hub.requests[0].url.path == "/api/v1/environments/alice/nope"
    result = CliRunner().invoke(app(), ["info", "not-a-ref"])
    assert result.exit_code == 1
    assert "OWNER/NAME" in result.stderr
    assert len(real_hub.requests) == 1  # a bad reference is refused before any request


def test_search_json_and_query_params(
    real_hub: RealHub, make_account: MakeAccount, tmp_path: Path
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    math_v1 = ["math", "v1"]
    # Each other environment fails exactly one filter: tag, owner, query.
    published = {
        "gsm-hard": real_hub.publish(alice, build(tmp_path, "gsm-hard", keywords=math_v1)),
        "gsm": real_hub.publish(alice, build(tmp_path, "gsm", "0.2.0", keywords=math_v1,
                                             description="math")),
    }
    real_hub.publish(alice, build(tmp_path, "gsm-lite", keywords=["math"]))
    real_hub.publish(bob, build(tmp_path / "bob", "gsm", keywords=math_v1))
    real_hub.publish(alice, build(tmp_path, "arith", keywords=math_v1))
    for name, times in (("gsm-hard", 5), ("gsm", 3)):  # real downloads order the results
        real_hub.download(published[name]["files"][0]["download_url"], times)

    runner = CliRunner()
    args = ["search", "gsm", "--tag", "math", "--tag", "v1", "--owner", "alice",
            "--sort", "downloads", "--page", "2", "--per-page", "1"]
    result = runner.invoke(app(), [*args, "--json"])
    assert result.exit_code == 0, result.output
    page = json.loads(result.stdout)
    assert (page["total"], page["page"], page["per_page"]) == (2, 2, 1)
    [item] = page["items"]
    assert (item["full_name"], item["latest_version"], item["downloads"]) == ("alice/gsm",
                                                                             "0.2.0", 3)
    assert (item["description"], item["tags"]) == ("math", ["math", "v1"])
    params = real_hub.requests[-1].url.params
    assert (params["q"], params["owner"], params["sort"], params["page"]) == (
        "gsm", "alice", "downloads", "2")
    assert params.get_list("tag") == ["math", "v1"]

    table = runner.invoke(app(), args)
    assert "alice/gsm" in table.stdout
    assert "0.2.0" in table.stdout
    assert "2 environment(s); page 2 of 2" in table.stdout
    requests = len(real_hub.requests)
    bad = runner.invoke(app(), ["search", "--sort", "nonsense"])
    assert bad.exit_code == 2
    assert len(real_hub.requests) == requests  # refused by the CLI, not sent


def test_info_versions_yank_unyank(
    real_hub: RealHub, make_account: MakeAccount, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = make_account("alice")
    for version in ("0.1.0", "0.2.0"):
        real_hub.publish(alice, build(tmp_path, "demo", version, keywords=["math"]))
    runner = CliRunner()
    info = runner.invoke(app(), ["info", "alice/demo"])
    assert info.exit_code == 0, info.output
    assert info.stdout.startswith("alice/demo 0.2.0")
    assert "envhub install alice/demo@0.2.0" in info.stdout
    assert "http://testserver/index/alice/demo/simple/" in info.stdout
    listed = json.loads(runner.invoke(app(), ["versions", "alice/demo", "--json"]).stdout)
    assert [v["version"] for v in listed] == ["0.2.0", "0.1.0"]

    anonymous = runner.invoke(app(), ["yank", "alice/demo", "0.1.0", "--reason", "broken"])
    assert anonymous.exit_code == 1
    assert "Not logged in" in anonymous.stderr
    monkeypatch.setenv("HUB_TOKEN", alice.token)
    result = runner.invoke(app(), ["yank", "alice/demo", "0.1.0", "--reason", "broken"])
    assert result.exit_code == 0, result.output
    assert "Yanked alice/demo 0.1.0: broken" in result.stdout
    env = real_hub.environment("alice", "demo")
    assert env is not None
    yanked = {v.version: (v.yanked, v.yanked_reason) for v in real_hub.versions(env)}
    assert yanked == {"0.1.0": (True, "broken"), "0.2.0": (False, None)}
    assert "yanked broken" in runner.invoke(app(), ["versions", "alice/demo"]).stdout
    pinned = runner.invoke(app(), ["install", "alice/demo@0.1.0", "--with", "pip", "--dry-run"])
    assert "0.1.0 is yanked (broken)" in pinned.stderr
    assert "demo==0.1.0" in pinned.stdout

    result = runner.invoke(app(), ["unyank", "alice/demo", "0.1.0", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["yanked"] is False
    assert not any(v.yanked for v in real_hub.versions(env))


def test_install_private_embeds_token(
    real_hub: RealHub, make_account: MakeAccount, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = make_account("alice")
    version = real_hub.publish(alice, build(tmp_path, "demo"), visibility="private")
    command = ["install", "alice/demo", "--with", "uv", "--dry-run"]
    anonymous = CliRunner().invoke(app(), command)
    assert anonymous.exit_code == 1  # the hub hides a private environment from strangers
    assert "envhub login" in anonymous.stderr

    monkeypatch.setenv("HUB_TOKEN", alice.token)
    result = CliRunner().invoke(app(), command)
    assert result.exit_code == 0, result.output
    assert "demo==0.1.0" in result.stdout
    assert "http://__token__:***@testserver/index/alice/demo/simple/" in result.stdout
    assert alice.token not in result.stdout
    # The URL the installer really gets is accepted by the hub's private index.
    project_page = version["install"]["index_url"] + "demo/"
    assert real_hub.http.get(project_page).status_code == 404
    listing = real_hub.http.get(author_publish.with_token(project_page, alice.token))
    assert listing.status_code == 200
    assert "demo-0.1.0-py3-none-any.whl" in listing.text

    url = author_publish.with_token("http://hub.test/index/alice/demo/simple/", "s3cr/et")
    assert url == "http://__token__:s3cr%2Fet@hub.test/index/alice/demo/simple/"
