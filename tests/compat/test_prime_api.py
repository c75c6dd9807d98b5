"""The prime wire protocol, in-process (fast): push, reads, errors, access rules.

`test_prime_cli.py` drives the real client; these tests pin the contract details and
the rules the client cannot show (what is stored, what outsiders get).
"""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.kit.storage import Storage
from hub.registry.models import Environment, File, Version
from tests.compat.wire import HUB, push, register_source, register_wheel, resolve
from tests.support.hub import MakeAccount
from tests.support.packages import build
from tests.support.publishing import publish, put_bytes


def _envs(db_sessions: sessionmaker[Session]) -> int:
    with db_sessions() as db:
        return db.scalar(select(func.count()).select_from(Environment)) or 0


def test_push_creates_the_same_version_as_native_publish(
    client: TestClient, make_account: MakeAccount, tmp_path: Path, storage: Storage,
    db_sessions: sessionmaker[Session],
) -> None:
    alice = make_account("alice")
    built = build(tmp_path, "wire-env", "0.1.0", requires=["verifiers>=0.4"])
    r = resolve(client, alice.headers, "wire-env")
    reserved = r.json()["data"]
    assert reserved["created"] is True and reserved["owner"] == {"name": "alice"}
    assert _envs(db_sessions) == 0  # resolve alone creates nothing

    pushed = push(client, alice.headers, built)
    assert pushed.env_id == reserved["id"]  # the reservation became the environment's id
    assert pushed.finalize["success"] is True
    with db_sessions() as db:
        env = db.scalar(select(Environment))
        assert env is not None and str(env.id) == pushed.env_id
        version = db.scalar(select(Version))
        assert version is not None and version.content_hash == built.content_hash
        files = {f.kind.value: f for f in db.scalars(select(File))}
    assert set(files) == {"wheel", "source"}
    assert files["source"].size == built.source.stat().st_size
    for f in files.values():  # content-addressed blobs, staging emptied
        assert storage.exists(f.blob_key)
    assert not list(storage.list_keys("staging/"))

    # The native API and the index see the same object.
    native = client.get("/api/v1/environments/alice/wire-env/versions/latest").json()
    assert native["content_hash"] == built.content_hash and native["runtime"] == "v1"
    page = client.get("/index/alice/wire-env/simple/wire-env/")
    assert page.status_code == 200 and built.wheel.name in page.text

    # A second resolve finds it; @latest carries the content hash.
    again = resolve(client, alice.headers, "wire-env").json()["data"]
    assert again == {"id": pushed.env_id, "name": "wire-env", "owner": {"name": "alice"},
                     "visibility": "PUBLIC", "created": False}
    latest = client.get(f"{HUB}/alice/wire-env/@latest").json()["data"]
    assert latest["content_hash"] == built.content_hash
    assert latest["latest_version"]["content_hash"] == built.content_hash
    assert latest["install_index_url"] == "http://testserver/index/alice/wire-env/simple/"
    assert latest["wheel_url"].endswith(built.wheel.name)


def test_native_publish_then_prime_push_of_same_content_is_a_duplicate(
    client: TestClient, make_account: MakeAccount, tmp_path: Path,
) -> None:
    bob = make_account("bob")
    built = build(tmp_path, "dup-env", "0.2.0")
    assert publish(client, bob.headers, "bob", built).status_code == 201
    env_id = resolve(client, bob.headers, "dup-env").json()["data"]["id"]
    r = register_wheel(client, bob.headers, env_id, built)
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert "content hash" in detail.lower() and "already exists" in detail
    assert set(r.json()) == {"detail", "code"}  # prime's error shape, not a problem document


def test_source_must_follow_a_wheel_and_urls_are_capabilities(
    client: TestClient, make_account: MakeAccount, tmp_path: Path,
) -> None:
    carol = make_account("carol")
    built = build(tmp_path, "cap-env", "0.1.0")
    env_id = resolve(client, carol.headers, "cap-env").json()["data"]["id"]
    r = register_source(client, carol.headers, env_id, built)
    assert r.status_code == 409 and "register the wheel first" in r.json()["detail"]

    assert register_wheel(client, carol.headers, env_id, built).status_code == 200
    source = register_source(client, carol.headers, env_id, built).json()["data"]
    url: str = source["upload_url"]
    token = url.rsplit("/", 1)[1]
    body, _, mac = token.partition(".")
    tampered = url.replace(token, f"{body[:-2]}AA.{mac}")
    refused = put_bytes(client, tampered, built.source.read_bytes())
    assert refused.status_code == 403
    accepted = put_bytes(client, url, built.source.read_bytes())  # no Authorization needed
    assert accepted.status_code == 204
