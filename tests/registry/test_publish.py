from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.kit import signing
from hub.kit.storage import Storage, blob_key
from hub.registry.models import File, Version
from tests.support.hub import SECRET, MakeAccount
from tests.support.packages import build, sha256_of
from tests.support.publishing import publish, put_bytes, register, upload_all


def _count(db_sessions: sessionmaker[Session], model: type) -> int:
    with db_sessions() as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


def test_publish_then_read_back(
    client: TestClient, make_account: MakeAccount, tmp_path: Path
) -> None:
    alice = make_account("alice")
    built = build(
        tmp_path,
        "gsm8k-env",
        "0.1.0",
        requires=["verifiers>=0.1.2,<0.2"],
        keywords=["math", "reasoning"],
        readme="# GSM8K\n\nGrade-school math.\n",
    )
    r = publish(client, alice.headers, "alice", built)
    assert r.status_code == 201, r.text
    version = r.json()
    assert version["content_hash"] == built.content_hash
    assert version["runtime"] == "v0"
    assert version["readme"].startswith("# GSM8K")
    assert {f["kind"] for f in version["files"]} == {"wheel", "source"}
    assert version["install"]["index_url"] == "http://testserver/index/alice/gsm8k-env/simple/"

    env = client.get("/api/v1/environments/alice/gsm8k-env").json()
    assert env["latest_version"] == "0.1.0"
    assert env["tags"] == ["math", "reasoning"]
    assert (
        client.get("/api/v1/environments/alice/gsm8k-env/versions/latest").json()["version"]
        == "0.1.0"
    )

    wheel = next(f for f in version["files"] if f["kind"] == "wheel")
    dl = client.get(wheel["download_url"].removeprefix("http://testserver"))
    assert dl.status_code == 200 and dl.content == built.wheel.read_bytes()
    assert client.get("/api/v1/environments/alice/gsm8k-env").json()["downloads"] == 1

    tree = client.get("/api/v1/environments/alice/gsm8k-env/versions/0.1.0/tree").json()
    assert {e["path"] for e in tree} >= {"README.md", "pyproject.toml", "gsm8k_env.py"}
    content = client.get(
        "/api/v1/environments/alice/gsm8k-env/versions/0.1.0/files/gsm8k_env.py"
    ).json()
    assert "load_environment" in content["content"] and content["truncated"] is False


def test_republishing_identical_content_is_idempotent(
    client: TestClient, make_account: MakeAccount, tmp_path: Path
) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "env-a")
    assert publish(client, alice.headers, "alice", built).status_code == 201
    again = register(client, alice.headers, "alice", built)
    assert again.status_code == 200
    assert again.json()["already_published"] is True
    assert again.json()["version"]["content_hash"] == built.content_hash


def test_same_version_other_content_is_409(
    client: TestClient, make_account: MakeAccount, tmp_path: Path
) -> None:
    alice = make_account("alice")
    assert (
        publish(client, alice.headers, "alice", build(tmp_path / "a", "env-a")).status_code == 201
    )
    other = build(tmp_path / "b", "env-a", description="changed")
    r = register(client, alice.headers, "alice", other)
    assert r.status_code == 409 and r.json()["code"] == "version-exists"
    assert "bump the version" in r.json()["detail"]


def test_finalize_checks_sha256_and_leaves_nothing(
    client: TestClient,
    make_account: MakeAccount,
    tmp_path: Path,
    db_sessions: sessionmaker[Session],
    storage: Storage,
) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "env-a")
    reg = register(client, alice.headers, "alice", built).json()
    wheel_url = next(f["upload_url"] for f in reg["files"] if f["kind"] == "wheel")
    source_url = next(f["upload_url"] for f in reg["files"] if f["kind"] == "source")
    data = bytearray(built.wheel.read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    assert put_bytes(client, wheel_url, bytes(data)).status_code == 204
    assert put_bytes(client, source_url, built.source.read_bytes()).status_code == 204
    r = client.post(f"/api/v1/uploads/{reg['id']}/finalize", headers=alice.headers)
    assert r.status_code == 422 and r.json()["code"] == "sha256-mismatch"
    assert _count(db_sessions, Version) == 0
    assert list(storage.list_keys("")) == []
    assert client.get("/api/v1/environments/alice/env-a").status_code == 404


def test_finalize_before_upload_is_incomplete(
    client: TestClient, make_account: MakeAccount, tmp_path: Path
) -> None:
    alice = make_account("alice")
    reg = register(client, alice.headers, "alice", build(tmp_path, "env-a")).json()
    r = client.post(f"/api/v1/uploads/{reg['id']}/finalize", headers=alice.headers)
    assert r.status_code == 422 and r.json()["code"] == "upload-incomplete"


def test_wheel_must_match_registration(
    client: TestClient, make_account: MakeAccount, tmp_path: Path
) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "env-a", "0.1.0")
    r = register(client, alice.headers, "alice", built, version="0.2.0")
    upload_all(client, r.json(), built)
    r = client.post(f"/api/v1/uploads/{r.json()['id']}/finalize", headers=alice.headers)
    assert r.status_code == 422 and r.json()["code"] == "wheel-metadata-mismatch"


def test_upload_url_is_a_signed_capability(
    client: TestClient, make_account: MakeAccount, tmp_path: Path
) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "env-a")
    reg = register(client, alice.headers, "alice", built).json()
    url = reg["files"][0]["upload_url"]
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    r = put_bytes(client, tampered, b"x")
    assert r.status_code == 403 and r.json()["code"] == "signed-url-invalid"
    too_big = put_bytes(client, url, b"x" * (built.wheel.stat().st_size + 1))
    assert too_big.status_code == 413 and too_big.json()["code"] == "upload-too-large"


def test_a_validly_signed_url_still_writes_only_a_staging_area(
    client: TestClient, make_account: MakeAccount, tmp_path: Path, storage: Storage
) -> None:
    # As if the signing key leaked: a token for a published blob's key is refused, and the
    # blob keeps its bytes.
    alice = make_account("alice")
    built = build(tmp_path, "env-a")
    assert publish(client, alice.headers, "alice", built).status_code == 201
    key = blob_key(sha256_of(built.wheel))
    before = storage.open(key).read()
    for target in (key, "evals/x/samples/0.jsonl", f"staging/{uuid.uuid4()}/wheel/../../x"):
        token = signing.sign("upload", {"key": target, "size": 5}, secret=SECRET,
                             ttl_seconds=600)
        r = client.put(f"/api/v1/uploads/blob/{token}", content=b"evil!")
        assert r.status_code == 403 and r.json()["code"] == "invalid-upload-url", target
    assert storage.open(key).read() == before


def test_oversize_registration_is_refused(
    client: TestClient, make_account: MakeAccount, tmp_path: Path
) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "env-a")
    body = built.register_body()
    body["files"][0]["size"] = 10**12  # type: ignore[index]
    r = client.post("/api/v1/environments/alice/env-a/uploads", json=body, headers=alice.headers)
    assert r.status_code == 413 and r.json()["code"] == "upload-too-large"


def test_invalid_names_and_versions(
    client: TestClient, make_account: MakeAccount, tmp_path: Path
) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "env-a")
    r = register(client, alice.headers, "alice", built, version="not a version")
    assert r.status_code == 422 and r.json()["code"] == "invalid-version"
    body = built.register_body()
    r = client.post("/api/v1/environments/alice/wheels/uploads", json=body, headers=alice.headers)
    assert r.status_code == 422 and r.json()["code"] == "reserved-name"


def test_yank_and_unyank(client: TestClient, make_account: MakeAccount, tmp_path: Path) -> None:
    alice = make_account("alice")
    publish(client, alice.headers, "alice", build(tmp_path / "1", "env-a", "0.1.0"))
    publish(client, alice.headers, "alice", build(tmp_path / "2", "env-a", "0.2.0"))
    assert client.get("/api/v1/environments/alice/env-a").json()["latest_version"] == "0.2.0"
    r = client.post(
        "/api/v1/environments/alice/env-a/versions/0.2.0/yank",
        json={"reason": "broken rubric"},
        headers=alice.headers,
    )
    assert r.status_code == 200 and r.json()["yanked_reason"] == "broken rubric"
    assert client.get("/api/v1/environments/alice/env-a").json()["latest_version"] == "0.1.0"
    client.post("/api/v1/environments/alice/env-a/versions/0.2.0/unyank", headers=alice.headers)
    assert client.get("/api/v1/environments/alice/env-a").json()["latest_version"] == "0.2.0"


def test_delete_only_private(
    client: TestClient,
    make_account: MakeAccount,
    tmp_path: Path,
    db_sessions: sessionmaker[Session],
) -> None:
    alice = make_account("alice")
    publish(client, alice.headers, "alice", build(tmp_path / "1", "env-a"))
    r = client.delete("/api/v1/environments/alice/env-a", headers=alice.headers)
    assert r.status_code == 409 and r.json()["code"] == "delete-public-refused"
    publish(client, alice.headers, "alice", build(tmp_path / "2", "env-p"), visibility="private")
    assert (
        client.delete("/api/v1/environments/alice/env-p", headers=alice.headers).status_code == 204
    )
    assert client.get("/api/v1/environments/alice/env-p", headers=alice.headers).status_code == 404
    assert _count(db_sessions, File) == 2  # only env-a's files remain
