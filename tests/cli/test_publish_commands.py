"""`envhub push` and `envhub pull` against the real hub in-process (the `real_hub` fixture):
the real three-step publish into PostgreSQL and local storage, and real downloads."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.registry.models import Visibility
from tests.cli.helpers import RealHub, app
from tests.support.hub import MakeAccount
from tests.support.packages import Built, build


def _source_members(built: Built) -> dict[str, bytes]:
    members = {}
    with tarfile.open(built.source) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            assert handle is not None, member.name
            members[member.name] = handle.read()
    return members


def test_pull_verifies_and_extracts(
    tmp_path: Path, real_hub: RealHub, make_account: MakeAccount
) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "demo")
    real_hub.publish(alice, built)
    dest = tmp_path / "pulled"
    result = CliRunner().invoke(app(), ["pull", "alice/demo@0.1.0", "--dest", str(dest), "--json"])
    assert result.exit_code == 0, result.output
    members = _source_members(built)
    out = json.loads(result.stdout)
    assert (out["version"], out["path"]) == ("0.1.0", str(dest))
    assert out["files"] == sorted(members) == ["README.md", "demo.py", "pyproject.toml"]
    for name, data in members.items():
        assert (dest / name).read_bytes() == data
    env = real_hub.environment("alice", "demo")
    assert env is not None and env.downloads == 1  # the hub counted the download

    again = CliRunner().invoke(app(), ["pull", "alice/demo", "--dest", str(dest)])
    assert again.exit_code == 1
    assert "not empty" in again.stderr


def test_pull_refuses_a_corrupted_download(
    tmp_path: Path, real_hub: RealHub, make_account: MakeAccount
) -> None:
    alice = make_account("alice")
    real_hub.publish(alice, build(tmp_path, "demo"))
    env = real_hub.environment("alice", "demo")
    assert env is not None
    source = real_hub.files(real_hub.versions(env)[0])["source"]
    # Corrupt the stored blob (same size, one byte flipped): the real hub serves it as is,
    # as it would after bit rot or tampering in the storage backend.
    data = bytearray(real_hub.blob(source.blob_key))
    data[len(data) // 2] ^= 0xFF
    real_hub.storage.put_stream(source.blob_key, io.BytesIO(bytes(data)))

    dest = tmp_path / "pulled"
    result = CliRunner().invoke(app(), ["pull", "alice/demo@0.1.0", "--dest", str(dest), "--json"])
    assert result.exit_code == 1
    assert "sha256" in result.stderr
    assert "Traceback" not in result.output
    assert not dest.exists()


@pytest.mark.slow
def test_push_registers_uploads_and_finalizes(
    tmp_path: Path, real_hub: RealHub, make_account: MakeAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = make_account("alice")
    real_hub.create_org(alice, "acme")
    monkeypatch.setenv("HUB_TOKEN", alice.token)
    runner = CliRunner()
    assert runner.invoke(app(), ["init", "demo-push", "--path", str(tmp_path)]).exit_code == 0
    env_dir = tmp_path / "demo-push"

    result = runner.invoke(app(), ["push", str(env_dir), "--owner", "acme", "--private", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "published"
    assert summary["url"] == f"{real_hub.url}/acme/demo-push"
    assert summary["install_command"] == "envhub install acme/demo-push@0.1.0"
    assert summary["install"]["index_url"] == f"{real_hub.url}/index/acme/demo-push/simple/"

    [register] = [r for r in real_hub.requests if r.url.path.endswith("/uploads")]
    assert register.url.path == "/api/v1/environments/acme/demo-push/uploads"
    body = json.loads(register.content)
    assert (body["version"], body["visibility"]) == ("0.1.0", "private")
    assert body["content_hash"] == summary["content_hash"]
    registered = {f["kind"]: f for f in body["files"]}
    assert set(registered) == {"wheel", "source"}
    puts = [r for r in real_hub.requests if r.method == "PUT"]
    assert len(puts) == 2
    assert all("authorization" not in r.headers for r in puts)  # upload URLs are capabilities

    # What the hub now holds: a private environment, one version, the bytes we built.
    env = real_hub.environment("acme", "demo-push")
    assert env is not None
    assert (env.visibility, env.latest_version) == (Visibility.PRIVATE, "0.1.0")
    [version] = real_hub.versions(env)
    assert version.content_hash == summary["content_hash"]
    files = real_hub.files(version)
    assert set(files) == {"wheel", "source"}
    for kind, entry in registered.items():
        row = files[kind]
        assert (row.filename, row.sha256, row.size) == (
            entry["filename"], entry["sha256"], entry["size"])
        blob = real_hub.blob(row.blob_key)
        assert hashlib.sha256(blob).hexdigest() == entry["sha256"]
        assert len(blob) == entry["size"]

    sent = len(real_hub.requests)
    result = runner.invoke(app(), ["push", str(env_dir), "--owner", "acme"])
    assert result.exit_code == 0, result.output
    assert "already published" in result.stdout
    second = real_hub.requests[sent:]
    [register] = [r for r in second if r.url.path.endswith("/uploads")]
    assert "visibility" not in json.loads(register.content)
    assert not [r for r in second if r.method == "PUT" or "finalize" in r.url.path]
    env = real_hub.environment("acme", "demo-push")
    assert env is not None and env.visibility == Visibility.PRIVATE
    assert [v.id for v in real_hub.versions(env)] == [version.id]
