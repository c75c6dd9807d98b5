"""Compression in the real hub app (PostgreSQL, real storage): API JSON and package index
pages are gzipped for clients that accept it (ETag/304 unchanged); wheels, sdists and
server-sent events never are."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.jobs import service as jobs
from hub.jobs.dispatch import RecordingDispatcher
from hub.jobs.models import JobState
from tests.jobs.helpers import publish_env, start_eval
from tests.support.hub import MakeAccount

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
PIP = "gzip, deflate, br, zstd"  # what pip/uv send for index pages


def raw(client: TestClient, path: str, accept_encoding: str,
        **headers: str) -> tuple[httpx.Response, bytes]:
    with client.stream("GET", path, follow_redirects=False,
                       headers={"Accept-Encoding": accept_encoding, **headers}) as r:
        return r, b"".join(r.iter_raw())


def gunzip_json(body: bytes) -> Any:
    return json.loads(gzip.decompress(body))


def _publish_many(client: TestClient, make_account: MakeAccount, tmp_path: Path) -> str:
    alice = make_account("alice")
    for i in range(4):
        publish_env(client, alice, tmp_path, f"env-{i}", version="0.1.0")
    publish_env(client, alice, tmp_path, "env-0", version="0.2.0")
    return "alice"


def test_api_json_is_gzipped_and_identity_still_works(client: TestClient,
                                                       make_account: MakeAccount,
                                                       tmp_path: Path) -> None:
    _publish_many(client, make_account, tmp_path)
    r, body = raw(client, "/api/v1/environments?per_page=50", "gzip, deflate, br")
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in r.headers["vary"].lower()
    assert r.headers["content-length"] == str(len(body))
    assert gunzip_json(body)["total"] == 4
    plain, body = raw(client, "/api/v1/environments?per_page=50", "identity")
    assert "content-encoding" not in plain.headers and json.loads(body)["total"] == 4


def test_index_pages_gzip_and_etags_still_revalidate(client: TestClient,
                                                     make_account: MakeAccount,
                                                     tmp_path: Path) -> None:
    _publish_many(client, make_account, tmp_path)
    page = "/index/alice/env-0/simple/env-0/"
    for accept in ("text/html", SIMPLE_JSON):
        r, body = raw(client, page, PIP, Accept=accept)
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip", accept
        text = gzip.decompress(body).decode()
        assert "env_0-0.2.0-py3-none-any.whl" in text
        vary = {v.strip().lower() for v in r.headers["vary"].split(",")}
        assert {"accept", "authorization", "accept-encoding"} <= vary
        etag = r.headers["etag"]
        plain, plain_body = raw(client, page, "identity", Accept=accept)
        assert "content-encoding" not in plain.headers and plain_body.decode() == text
        assert plain.headers["etag"] == etag
        for coding in (PIP, "identity"):
            again, body = raw(client, page, coding, Accept=accept, **{"If-None-Match": etag})
            assert again.status_code == 304 and body == b"", (accept, coding)
            assert "content-encoding" not in again.headers
    root, body = raw(client, "/index/alice/simple/", PIP, Accept=SIMPLE_JSON)
    assert root.status_code == 200
    doc = gunzip_json(body) if root.headers.get("content-encoding") else json.loads(body)
    assert {p["name"] for p in doc["projects"]} == {f"env-{i}" for i in range(4)}


def test_downloads_are_never_compressed(client: TestClient, make_account: MakeAccount,
                                        tmp_path: Path) -> None:
    _publish_many(client, make_account, tmp_path)
    _, body = raw(client, "/index/alice/env-0/simple/env-0/", PIP, Accept=SIMPLE_JSON)
    files = gunzip_json(body)["files"]
    assert files, "no files in the index"
    for f in files:
        path = f["url"].removeprefix("http://testserver")
        got, data = raw(client, path, PIP)
        assert got.status_code == 200
        assert "content-encoding" not in got.headers
        assert got.headers["content-type"] == "application/octet-stream"
        assert got.headers["content-length"] == str(len(data))
        assert hashlib.sha256(data).hexdigest() == f["hashes"]["sha256"]
        if f["filename"].endswith(".whl"):
            meta, meta_body = raw(client, path + ".metadata", PIP)
            assert meta.status_code == 200
            if meta.headers.get("content-encoding") == "gzip":
                meta_body = gzip.decompress(meta_body)
            assert hashlib.sha256(meta_body).hexdigest() == f["core-metadata"]["sha256"]
    versions = client.get("/api/v1/environments/alice/env-0/versions/0.2.0").json()
    assert len(versions["files"]) == 2  # wheel and sdist
    for f in versions["files"]:
        got, data = raw(client, f"/api/v1/environments/alice/env-0/versions/0.2.0/download/"
                                f"{f['filename']}", PIP)
        assert got.status_code == 200 and "content-encoding" not in got.headers
        assert hashlib.sha256(data).hexdigest() == f["sha256"]


def test_server_sent_events_are_never_compressed(app: FastAPI, client: TestClient,
                                                 make_account: MakeAccount, tmp_path: Path,
                                                 db_sessions: sessionmaker[Session]) -> None:
    app.state.job_dispatcher = RecordingDispatcher()
    alice = make_account("alice")
    env = publish_env(client, alice, tmp_path, "sse-env")
    ev = start_eval(client, alice, env)
    job_id = uuid.UUID(ev["job"]["id"])
    with db_sessions() as db:
        job = jobs.get_job(db, job_id)
        jobs.set_state(job, JobState.RUNNING)
        jobs.append_log(db, job_id, "a long line of log output " * 100 + "\n", cap=1 << 20)
        jobs.set_state(job, JobState.SUCCEEDED)
        db.commit()
    r, body = raw(client, f"/api/v1/evals/{ev['id']}/events", PIP)
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in r.headers
    assert b"event: log" in body and b"a long line of log output" in body
