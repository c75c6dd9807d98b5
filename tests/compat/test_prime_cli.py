"""The unmodified prime CLI (prime==0.18.0) against a live hub on PostgreSQL + S3.

One hub for the module; the tests run in file order and build on each other's pushes
(alpha: v1 public; legacy: v0 private; tools: v1 in organization acme).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hub.accounts.models import Namespace
from hub.kit.contenthash import content_hash_of_dir
from hub.kit.signing import sign
from hub.registry.models import Environment, File, FileKind, SourceEntry, Version
from tests.compat.conftest import World
from tests.compat.prime_cli import make_venv
from tests.support.hub import SECRET

ALPHA, LEGACY, TOOLS = "envhub-cmp-alpha", "envhub-cmp-legacy", "envhub-cmp-tools"
pytestmark = pytest.mark.slow


def _json(out: str) -> Any:
    return json.loads(out[out.index("{"):])


def _version_rows(world: World, owner: str, name: str) -> list[Version]:
    with world.sessions() as db:
        # By owner too: after `prime fork`, bob has an environment of the same name.
        env = db.scalar(select(Environment).join(Namespace, Namespace.id == Environment.owner_id)
                        .where(Environment.normalized_name == name, Namespace.name == owner))
        assert env is not None, f"{owner}/{name} is not in the database"
        return list(db.scalars(select(Version).where(Version.environment_id == env.id)
                               .order_by(Version.created_at)))


def _installed(venv: Path, dist: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _imports(venv: Path, module: str, check: str) -> None:
    result = subprocess.run([str(venv / "bin" / "python"), "-c", f"import {module}; {check}"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def alpha(world: World) -> Path:
    path = world.scaffold(ALPHA)
    (path / ".gitignore").write_text((path / ".gitignore").read_text() + "logs/\n")
    (path / "logs").mkdir()
    (path / "logs" / "run.log").write_text("local noise that must never be uploaded\n")
    return path


def test_push_public_v1(world: World, alpha: Path) -> None:
    out = world.prime("env", "push", token=world.alice, cwd=alpha).stdout
    assert f"Created environment: alice/{ALPHA}" in out and "Successfully pushed" in out
    assert "verifiers v1" in out
    meta = json.loads((alpha / ".prime" / ".env-metadata.json").read_text())
    assert meta["owner"] == "alice" and meta["name"] == ALPHA

    [version] = _version_rows(world, "alice", ALPHA)
    # Same identity as our own publish: the content-hash recipe over the same files.
    assert version.content_hash == content_hash_of_dir(alpha)
    assert version.runtime.value == "v1"
    with world.sessions() as db:
        env = db.get(Environment, version.environment_id)
        assert env is not None and str(env.id) == meta["environment_id"]
        files = list(db.scalars(select(File).where(File.version_id == version.id)))
        paths = set(db.scalars(select(SourceEntry.path)
                               .where(SourceEntry.version_id == version.id)))
    assert {f.kind for f in files} == {FileKind.WHEEL, FileKind.SOURCE}
    blobs = set(world.storage.list_keys("blobs/"))
    assert {f.blob_key for f in files} <= blobs  # the bytes are in S3
    assert not list(world.storage.list_keys("staging/"))
    assert "pyproject.toml" in paths and not any(p.startswith("logs/") for p in paths)
    wheel = next(f for f in files if f.kind == FileKind.WHEEL)
    page = world.api("GET", f"/index/alice/{ALPHA}/simple/{ALPHA}/")
    assert page.status_code == 200 and wheel.filename in page.text


def test_envhub_push_of_what_prime_pushed_is_the_same_version(world: World,
                                                              alpha: Path) -> None:
    # The two clients build different archives of the same tree; the content hash (one
    # recipe in both) says it is the same content, so our push is an idempotent success.
    [before] = _version_rows(world, "alice", ALPHA)
    pushed = world.hub.envhub("push", str(alpha), "--json", token=world.alice)
    summary = json.loads(pushed.stdout)
    assert summary["version"] == "0.1.0" and summary["content_hash"] == before.content_hash
    [after] = _version_rows(world, "alice", ALPHA)
    assert after.id == before.id


def test_identical_push_hints_then_auto_bump(world: World, alpha: Path) -> None:
    again = world.prime("env", "push", token=world.alice, cwd=alpha, ok=False)
    assert "content hash" in again.stdout.lower() and "already exists" in again.stdout
    assert "--auto-bump" in again.stdout  # the client's own hint, triggered by our detail
    assert len(_version_rows(world, "alice", ALPHA)) == 1

    world.prime("env", "push", "--auto-bump", token=world.alice, cwd=alpha)
    versions = [v.version for v in _version_rows(world, "alice", ALPHA)]
    assert versions == ["0.1.0", "0.1.1"]
    status = _json(world.prime("env", "status", f"alice/{ALPHA}", "--output", "json").stdout)
    assert status["latest_version"]["semantic_version"] == "0.1.1"
    assert status["latest_version"]["content_hash"] == content_hash_of_dir(alpha)


def test_push_private_v0_and_into_an_organization(world: World) -> None:
    legacy = world.scaffold(LEGACY, v0=True)
    out = world.prime("env", "push", "-v", "PRIVATE", token=world.alice, cwd=legacy).stdout
    assert "legacy verifiers v0" in out
    [version] = _version_rows(world, "alice", LEGACY)
    assert version.runtime.value == "v0"
    with world.sessions() as db:
        env = db.get(Environment, version.environment_id)
        assert env is not None and env.visibility.value == "private"

    tools = world.scaffold(TOOLS)
    world.prime("env", "push", "-o", "acme", token=world.alice, cwd=tools)
    assert world.api("GET", f"/api/v1/environments/acme/{TOOLS}").json()["owner"] == "acme"
    # bob is not in acme: the client reports our 403, nothing is created.
    bobs = world.scaffold("envhub-cmp-intruder")
    refused = world.prime("env", "push", "-o", "acme", token=world.bob, cwd=bobs, ok=False)
    assert "403" in refused.stdout
    assert world.api("GET", "/api/v1/environments/acme/envhub-cmp-intruder").status_code == 404


def _listed(world: World, token: str | None, *args: str) -> list[str]:
    out = world.prime("env", "list", "--output", "json", *args, token=token).stdout
    return [e["environment"] for e in _json(out)["environments"]]


def test_list_filters_sorts_pages_and_hides_private(world: World) -> None:
    everything = _listed(world, world.alice, "--sort", "name", "--order", "asc")
    assert everything == [f"alice/{ALPHA}", f"alice/{LEGACY}", f"acme/{TOOLS}"]
    assert f"alice/{LEGACY}" not in _listed(world, world.bob)
    assert f"alice/{LEGACY}" not in _listed(world, None)
    assert _listed(world, world.alice, "--search", "legacy") == [f"alice/{LEGACY}"]
    assert _listed(world, world.alice, "-t", "verifiers-v0") == [f"alice/{LEGACY}"]
    assert _listed(world, world.alice, "--owner", "acme") == [f"acme/{TOOLS}"]
    assert _listed(world, world.alice, "--sort", "name", "--order", "desc", "-n", "1",
                   "-p", "2") == [f"alice/{LEGACY}"]
    assert sorted(_listed(world, world.alice, "--mine")) == sorted(everything)
    assert _listed(world, world.bob, "--mine") == []
    table = world.prime("env", "list", token=world.bob).stdout
    assert f"alice/{ALPHA}" in table and "0.1.1" in table and LEGACY not in table


def test_status_info_versions_inspect_and_pull(world: World, alpha: Path) -> None:
    versions = world.prime("env", "version", "list", f"alice/{ALPHA}", "--full-hashes").stdout
    rows = _version_rows(world, "alice", ALPHA)
    assert all(v.content_hash in versions for v in rows)
    assert versions.index("0.1.1") < versions.index("0.1.0")  # newest first

    info = world.prime("env", "info", f"alice/{ALPHA}@0.1.0").stdout
    index = f"{world.hub.url}/index/alice/{ALPHA}/simple/"
    assert f"--extra-index-url {index}" in info

    tree = world.prime("env", "inspect", f"alice/{ALPHA}").stdout
    assert "pyproject.toml" in tree and "logs" not in tree
    text = world.prime("env", "inspect", f"alice/{ALPHA}@0.1.0", "pyproject.toml").stdout
    assert 'version = "0.1.0"' in text
    by_hash = world.prime("env", "inspect", f"alice/{ALPHA}@{rows[0].content_hash[:8]}",
                          "pyproject.toml").stdout
    assert 'version = "0.1.0"' in by_hash

    target = world.tmp / "pulled-alpha"
    world.prime("env", "pull", f"alice/{ALPHA}@0.1.0", "-t", str(target))
    assert content_hash_of_dir(target) == rows[0].content_hash
    # Private: invisible to bob, pullable by alice.
    assert "404" in world.prime("env", "status", f"alice/{LEGACY}", token=world.bob,
                                ok=False).stdout
    world.prime("env", "pull", f"alice/{LEGACY}", "-t", str(world.tmp / "pulled-legacy"),
                token=world.alice)
    assert (world.tmp / "pulled-legacy" / "pyproject.toml").exists()


def test_install_public_with_uv_pip_and_the_printed_command(world: World) -> None:
    venv = make_venv(world.tmp / "venv-alpha")
    world.prime("env", "install", f"alice/{ALPHA}", venv=venv)
    assert _installed(venv, ALPHA) == "0.1.1"
    _imports(venv, "envhub_cmp_alpha", "assert len(envhub_cmp_alpha.__all__) == 1")

    # A command `prime env info` prints works when pasted into a shell.
    info = world.prime("env", "info", f"alice/{ALPHA}@0.1.0").stdout
    [pasted] = [line.strip().removeprefix("$ ") for line in info.splitlines()
                if line.strip().startswith("$ uv pip install")]
    env = world.prime.env(None, venv)
    subprocess.run(shlex.split(pasted), env=env, check=True, capture_output=True, timeout=600)
    assert _installed(venv, ALPHA) == "0.1.0"

    world.prime("env", "install", f"alice/{ALPHA}@0.1.1", "--with", "pip", venv=venv)
    assert _installed(venv, ALPHA) == "0.1.1"


def test_install_private_builds_locally_from_the_authenticated_source(world: World) -> None:
    venv = make_venv(world.tmp / "venv-legacy")
    out = world.prime("env", "install", f"alice/{LEGACY}", token=world.alice, venv=venv).stdout
    assert "Private environment detected" in out
    assert _installed(venv, LEGACY) == "0.1.0"
    _imports(venv, "envhub_cmp_legacy", "assert callable(envhub_cmp_legacy.load_environment)")
    # bob's install fails: the hub answers 404 for what he may not see.
    denied = world.prime("env", "install", f"alice/{LEGACY}", token=world.bob,
                         venv=make_venv(world.tmp / "venv-bob"), ok=False)
    assert "404" in denied.stdout


def test_fork(world: World) -> None:
    out = world.prime("fork", f"alice/{ALPHA}", "--output", "json", token=world.bob).stdout
    forked = _json(out)
    assert forked["slug"] == f"bob/{ALPHA}" and forked["success"] is True
    original = _json(world.prime("env", "status", f"alice/{ALPHA}", "--output", "json").stdout)
    copy = _json(world.prime("env", "status", f"bob/{ALPHA}", "--output", "json").stdout)
    assert copy["latest_version"]["content_hash"] == original["latest_version"]["content_hash"]
    target = world.tmp / "pulled-fork"
    world.prime("env", "pull", f"bob/{ALPHA}", "-t", str(target))
    assert (target / "pyproject.toml").exists()
    again = world.prime("fork", f"alice/{ALPHA}", token=world.bob, ok=False)
    assert "already exists" in again.stdout


def test_version_delete_and_environment_delete(world: World) -> None:
    legacy = world.tmp / "envs" / LEGACY
    world.prime("env", "push", "--auto-bump", token=world.alice, cwd=legacy)
    first, second = _version_rows(world, "alice", LEGACY)
    world.prime("env", "version", "delete", f"alice/{LEGACY}", first.content_hash[:8], "-f",
                token=world.alice)
    assert [v.version for v in _version_rows(world, "alice", LEGACY)] == [second.version]
    gone = world.prime("env", "version", "delete", f"alice/{LEGACY}", first.content_hash[:8],
                       "-f", token=world.alice, ok=False)
    assert "not found in environment" in gone.stdout  # the client's wording for our 404
    # Public environments are never deleted (people depend on them): a clear refusal.
    public = world.prime("env", "delete", f"alice/{ALPHA}", "-f", token=world.alice, ok=False)
    assert "409" in public.stdout and "cannot be deleted" in public.stdout
    assert "404" in world.prime("env", "delete", f"alice/{LEGACY}", "-f", token=world.bob,
                                ok=False).stdout
    world.prime("env", "delete", f"alice/{LEGACY}", "-f", token=world.alice)
    assert world.api("GET", f"/api/v1/environments/alice/{LEGACY}",
                     token=world.alice).status_code == 404


def test_whoami_teams_and_slug(world: World) -> None:
    who = world.prime("whoami", token=world.alice).stdout
    assert "alice" in who
    teams = _json(world.prime("teams", "list", "--output", "json", token=world.alice).stdout)
    assert [(t["slug"], t["role"]) for t in teams["teams"]] == [("acme", "OWNER")]
    assert _json(world.prime("teams", "list", "--output", "json",
                             token=world.bob).stdout)["teams"] == []
    same = world.api("PATCH", "/api/v1/user/slug", world.alice, json={"slug": "alice"})
    assert same.status_code == 200
    taken = world.api("PATCH", "/api/v1/user/slug", world.alice, json={"slug": "bob"})
    assert taken.status_code == 409 and "already taken" in taken.json()["detail"]
    # A read-only token reads alice's private environments but cannot push.
    scope = world.api("GET", "/api/v1/user/whoami", world.reader).json()["data"]["scope"]
    assert scope["environments"] == {"read": True, "write": False}
    assert f"alice/{ALPHA}" in _listed(world, world.reader, "--mine")
    refused = world.api("POST", "/api/v1/environmentshub/resolve", world.reader,
                        json={"name": "envhub-cmp-readonly"})
    assert refused.status_code == 403 and "scope" in refused.json()["detail"]
    bad = world.api("GET", "/api/v1/user/whoami", "not-a-token")
    assert bad.status_code == 401 and isinstance(bad.json()["detail"], str)


def test_upload_urls_are_capabilities(world: World, alpha: Path) -> None:
    """Upload URLs need no Authorization; a tampered or expired hub-signed URL is refused."""
    env_id = json.loads((alpha / ".prime" / ".env-metadata.json").read_text())["environment_id"]
    (alpha / "extra.py").write_text("VALUE = 2\n")
    digest, wheel = content_hash_of_dir(alpha), b"PK-not-really-a-wheel"
    hub = "/api/v1/environmentshub"
    r = world.api("POST", f"{hub}/{env_id}/wheels", world.alice, json={
        "content_hash": digest, "filename": "envhub_cmp_alpha-0.1.1-py3-none-any.whl",
        "sha256": hashlib.sha256(wheel).hexdigest(), "size": len(wheel),
        "semantic_version": "0.1.1"})
    assert r.status_code == 409 and "0.1.1" in r.json()["detail"]  # version exists
    r = world.api("POST", f"{hub}/{env_id}/wheels", world.alice, json={
        "content_hash": digest, "filename": "envhub_cmp_alpha-0.1.2-py3-none-any.whl",
        "sha256": hashlib.sha256(wheel).hexdigest(), "size": len(wheel),
        "semantic_version": "0.1.2"})
    assert r.status_code == 200, r.text
    assert httpx.put(r.json()["data"]["upload_url"], content=wheel).is_success  # presigned S3
    r = world.api("POST", f"{hub}/{env_id}/versions", world.alice, json={
        "content_hash": digest, "filename": f"{ALPHA}-0.1.2-{digest[:8]}.tar.gz",
        "sha256": hashlib.sha256(b"tar").hexdigest(), "semantic_version": "0.1.2"})
    assert r.status_code == 200, r.text
    url: str = r.json()["data"]["upload_url"]
    assert "/api/v1/uploads/blob/" in url  # size unknown: the hub's own signed URL
    token = url.rsplit("/", 1)[1]
    body, _, mac = token.partition(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["data"]
    expired = sign("upload", claims, secret=SECRET, ttl_seconds=60, now=0)
    assert httpx.put(url.replace(token, expired), content=b"tar").status_code == 403
    assert httpx.put(url.replace(token, f"{body}.{mac[::-1]}"), content=b"tar").status_code == 403
    assert not world.storage.exists(str(claims["key"]))
    assert httpx.put(url, content=b"tar").status_code == 204  # no Authorization header
    assert world.storage.exists(str(claims["key"]))
    # Finalize verifies the bytes: this "wheel" is no wheel, so nothing is published.
    r = world.api("POST", f"{hub}/{env_id}/versions/{r.json()['data']['version_id']}/finalize",
                  world.alice)
    assert r.status_code == 422 and isinstance(r.json()["detail"], str)
    assert [v.version for v in _version_rows(world, "alice", ALPHA)] == ["0.1.0", "0.1.1"]


def test_prime_push_of_what_envhub_pushed_gets_the_duplicate_hint(world: World) -> None:
    path = world.scaffold("envhub-cmp-twice")
    world.hub.envhub("push", str(path), token=world.alice)
    again = world.prime("env", "push", token=world.alice, cwd=path, ok=False)
    assert "already exists" in again.stdout and "--auto-bump" in again.stdout
    [version] = _version_rows(world, "alice", "envhub-cmp-twice")
    assert version.content_hash == content_hash_of_dir(path)
