"""End to end: a real `envhub init` + `envhub push` to a live hub, then real pip and uv
installs of the environment (with its PyPI dependencies) into fresh virtualenvs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.live import LiveHub

pytestmark = pytest.mark.slow
UV = str(Path(sys.executable).parent / "uv")


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=900, cwd=cwd)


def _fresh_venv(path: Path) -> Path:
    proc = _run(UV, "venv", "--python", sys.executable, str(path))
    assert proc.returncode == 0, proc.stderr
    return path / "bin" / "python"


@pytest.fixture(scope="module")
def published(live_hub: LiveHub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("authors")
    token = live_hub.admin_token("alice")
    live_hub.envhub("init", "demo-env", "--path", str(tmp))
    # Files the author's .gitignore ignores must not be published.
    with (tmp / "demo-env" / ".gitignore").open("a") as fh:
        fh.write("logs/\n")
    (tmp / "demo-env" / "logs").mkdir()
    (tmp / "demo-env" / "logs" / "run.txt").write_text("scratch")
    pushed = live_hub.envhub("push", str(tmp / "demo-env"), token=token)
    assert f"{live_hub.url}/alice/demo-env" in pushed.stdout
    live_hub.envhub("init", "secret-env", "--v0", "--path", str(tmp))
    live_hub.envhub("push", str(tmp / "secret-env"), "--private", token=token)
    return {"token": token}


def test_pushed_version_is_visible_with_its_files(live_hub: LiveHub,
                                                  published: dict[str, str]) -> None:
    detail = httpx.get(f"{live_hub.url}/api/v1/environments/alice/demo-env/versions/latest")
    assert detail.status_code == 200
    body = detail.json()
    assert body["runtime"] == "v1"
    assert {f["kind"] for f in body["files"]} == {"wheel", "source"}
    tree = httpx.get(f"{live_hub.url}/api/v1/environments/alice/demo-env/versions/latest/tree")
    paths = {e["path"] for e in tree.json()}
    assert "pyproject.toml" in paths
    assert not any(p.startswith("logs/") for p in paths)
    # Private: invisible without a token, visible with one.
    assert httpx.get(f"{live_hub.url}/api/v1/environments/alice/secret-env").status_code == 404
    auth = {"Authorization": f"Bearer {published['token']}"}
    assert httpx.get(f"{live_hub.url}/api/v1/environments/alice/secret-env",
                     headers=auth).status_code == 200


def test_pip_installs_from_the_package_scoped_index(live_hub: LiveHub, published: dict[str, str],
                                                    tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "venv")
    _run(UV, "pip", "install", "--python", str(python), "pip")
    index = f"{live_hub.url}/index/alice/demo-env/simple/"
    proc = _run(str(python), "-m", "pip", "install", "--disable-pip-version-check",
                "demo-env", "--extra-index-url", index)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    imported = _run(str(python), "-c", "import demo_env, verifiers; print(demo_env.__name__)")
    assert imported.returncode == 0, imported.stderr


def test_uv_installs_and_honours_exclude_newer(live_hub: LiveHub, published: dict[str, str],
                                               tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "venv")
    index = f"{live_hub.url}/index/alice/demo-env/simple/"
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    proc = _run(UV, "pip", "install", "--python", str(python), "demo-env",
                "--extra-index-url", index, "--exclude-newer", tomorrow)
    assert proc.returncode == 0, proc.stderr
    assert _run(str(python), "-c", "import demo_env").returncode == 0
    # With a cut-off before the upload, upload-time hides the hub's wheel.
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    other = _fresh_venv(tmp_path / "venv2")
    hidden = _run(UV, "pip", "install", "--python", str(other), "demo-env", "--no-deps",
                  "--index-url", index, "--exclude-newer", yesterday)
    assert hidden.returncode != 0


def test_private_install_needs_the_token_in_the_index_url(
    live_hub: LiveHub, published: dict[str, str], tmp_path: Path
) -> None:
    python = _fresh_venv(tmp_path / "venv")
    plain = f"{live_hub.url}/index/alice/secret-env/simple/"
    refused = _run(UV, "pip", "install", "--python", str(python), "secret-env", "--no-deps",
                   "--index-url", plain)
    assert refused.returncode != 0
    host = live_hub.url.removeprefix("http://")
    with_token = f"http://__token__:{published['token']}@{host}/index/alice/secret-env/simple/"
    proc = _run(UV, "pip", "install", "--python", str(python), "secret-env", "--no-deps",
                "--index-url", with_token)
    assert proc.returncode == 0, proc.stderr
    # --no-deps keeps this test off PyPI; the distribution itself must be installed.
    found = _run(str(python), "-c",
                 "import importlib.metadata as m; print(m.version('secret-env'))")
    assert found.returncode == 0 and found.stdout.strip() == "0.1.0", found.stderr


def test_envhub_info_and_pull(live_hub: LiveHub, published: dict[str, str],
                              tmp_path: Path) -> None:
    info = live_hub.envhub("info", "alice/demo-env", "--json")
    assert "/index/alice/demo-env/simple/" in info.stdout
    live_hub.envhub("pull", "alice/demo-env", "--dest", str(tmp_path / "pulled"))
    assert (tmp_path / "pulled" / "pyproject.toml").exists() or any(
        (tmp_path / "pulled").rglob("pyproject.toml"))


def test_envhub_install_into_the_active_virtualenv(live_hub: LiveHub, published: dict[str, str],
                                                   tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "venv")
    venv_env = {"VIRTUAL_ENV": str(python.parent.parent),
                "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    proc = live_hub.envhub("install", "alice/demo-env", "--with", "uv", "--json",
                           extra_env=venv_env)
    summary = json.loads(proc.stdout)  # the installer's chatter went to stderr
    assert summary["installed"] is True and summary["version"] == "0.1.0"
    assert "/index/alice/demo-env/simple/" in summary["command"]
    assert _run(str(python), "-c", "import demo_env").returncode == 0
    # A private environment installs with the stored token, which is never printed.
    proc = live_hub.envhub("install", "alice/secret-env", "--with", "uv", "--json",
                           token=published["token"], extra_env=venv_env)
    summary = json.loads(proc.stdout)
    assert summary["installed"] is True
    assert published["token"] not in proc.stdout + proc.stderr
    assert _run(str(python), "-c", "import secret_env").returncode == 0


def test_envhub_versions_yank_and_unyank(live_hub: LiveHub, published: dict[str, str]) -> None:
    token = published["token"]
    listed = json.loads(live_hub.envhub("versions", "alice/demo-env", "--json").stdout)
    assert [v["version"] for v in listed] == ["0.1.0"]
    assert listed[0]["yanked"] is False and len(listed[0]["content_hash"]) == 64
    refused = live_hub.envhub("yank", "alice/demo-env", "0.1.0", "--reason", "bad", check=False)
    assert refused.returncode != 0 and "envhub login" in refused.stdout + refused.stderr
    yanked = live_hub.envhub("yank", "alice/demo-env", "0.1.0", "--reason", "broken scorer",
                             token=token)
    assert "Yanked alice/demo-env 0.1.0" in yanked.stdout
    try:
        table = live_hub.envhub("versions", "alice/demo-env").stdout
        assert "yanked" in table and "broken scorer" in table
        page = httpx.get(f"{live_hub.url}/index/alice/demo-env/simple/demo-env/",
                         headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
        assert {f.get("yanked") for f in page["files"]} == {"broken scorer"}
    finally:
        live_hub.envhub("unyank", "alice/demo-env", "0.1.0", token=token)
    listed = json.loads(live_hub.envhub("versions", "alice/demo-env", "--json").stdout)
    assert listed[0]["yanked"] is False


def test_envhub_search_json(live_hub: LiveHub, published: dict[str, str]) -> None:
    found = json.loads(live_hub.envhub("search", "demo", "--json").stdout)
    names = {f"{e['owner']}/{e['name']}" for e in found["items"]}
    assert "alice/demo-env" in names
    # The private one is only found by someone who may read it.
    assert "alice/secret-env" not in {
        f"{e['owner']}/{e['name']}"
        for e in json.loads(live_hub.envhub("search", "secret", "--json").stdout)["items"]}
    mine = json.loads(live_hub.envhub("search", "secret", "--json",
                                      token=published["token"]).stdout)
    assert "alice/secret-env" in {f"{e['owner']}/{e['name']}" for e in mine["items"]}
