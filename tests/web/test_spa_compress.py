"""Compression: pre-compressed web assets (br > gzip > identity) and on-the-fly gzip for
JSON and HTML, never for downloads, server-sent events or already encoded bodies."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.testclient import TestClient

from hub.kit.http import install_problem_handlers
from hub.web.compression import CompressResponses, accepted_codings
from hub.web.spa import mount_frontend

SCRIPT = ("export const rows = [" + ",".join(f'"row {i}"' for i in range(400)) + "];\n").encode()
FAKE_BR = b"\xce\xb2 pretend brotli"  # the server never decodes a variant, it only picks it
BIG: dict[str, object] = {
    "items": [{"name": f"env-{i}", "description": "an environment " * 4} for i in range(50)]}
PAYLOAD = bytes(range(256)) * 64  # a 16 KiB "wheel"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "index-1234.js").write_bytes(SCRIPT)
    (assets / "index-1234.js.br").write_bytes(FAKE_BR)
    (assets / "index-1234.js.gz").write_bytes(gzip.compress(SCRIPT))
    (assets / "tiny-1234.css").write_text("a{}")
    (tmp_path / "index.html").write_text(
        "<!doctype html><html><head><title>Hub</title>"
        '<script type="module" crossorigin src="/assets/index-1234.js"></script></head>'
        f"<body><!-- {'padding ' * 200} --><div id=root></div></body></html>")
    return tmp_path


@pytest.fixture
def client(dist: Path) -> Iterator[TestClient]:
    app = FastAPI()
    app.add_middleware(CompressResponses)

    @app.get("/api/v1/big")
    def big() -> dict[str, object]:
        return BIG

    @app.get("/api/v1/small")
    def small() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/v1/download")
    def download() -> StreamingResponse:
        return StreamingResponse(iter([PAYLOAD[:8192], PAYLOAD[8192:]]),
                                 media_type="application/octet-stream",
                                 headers={"Content-Length": str(len(PAYLOAD))})

    @app.get("/api/v1/redirect")
    def redirect() -> RedirectResponse:
        return RedirectResponse("https://blobs.example/x.whl", status_code=302)

    @app.get("/api/v1/events")
    def events() -> StreamingResponse:
        chunks = (f"event: log\ndata: {'x' * 900}\n\n" for _ in range(3))
        return StreamingResponse(chunks, media_type="text/event-stream")

    @app.get("/api/v1/encoded")
    def encoded() -> Response:
        return Response(b"\x00" * 4096, media_type="application/json",
                        headers={"Content-Encoding": "br"})

    install_problem_handlers(app)
    mount_frontend(app, dist)
    with TestClient(app) as c:
        yield c


def raw(client: TestClient, path: str, accept_encoding: str | None, method: str = "GET",
        **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as sent (httpx would decode it otherwise)."""
    sent = dict(headers)
    # httpx adds its own Accept-Encoding unless told; "identity" stands in for none
    sent["Accept-Encoding"] = accept_encoding if accept_encoding is not None else "identity"
    with client.stream(method, path, headers=sent, follow_redirects=False) as r:
        return r, b"".join(r.iter_raw())


def test_accept_encoding_parsing() -> None:
    assert accepted_codings("gzip, deflate, br, zstd") == {"gzip", "deflate", "br", "zstd"}
    assert accepted_codings("br;q=0, gzip;q=0.5") == {"gzip"}
    assert accepted_codings("*") == {"br", "gzip"}
    assert accepted_codings("*;q=0.1, br;q=0") == {"gzip"}
    assert accepted_codings("x-gzip") == {"gzip"}
    assert accepted_codings("gzip;q=nonsense") == set()
    assert accepted_codings(None) == accepted_codings("") == set()
    assert accepted_codings("identity") == {"identity"}


@pytest.mark.parametrize(("accept", "coding", "body"), [
    ("gzip, deflate, br, zstd", "br", FAKE_BR),
    ("br", "br", FAKE_BR),
    ("*", "br", FAKE_BR),
    ("gzip, deflate", "gzip", None),
    ("br;q=0, gzip", "gzip", None),
    ("identity", None, SCRIPT),
    ("gzip;q=0", None, SCRIPT),
])
def test_asset_is_served_pre_compressed(client: TestClient, dist: Path, accept: str,
                                        coding: str | None, body: bytes | None) -> None:
    r, sent = raw(client, "/assets/index-1234.js", accept)
    assert r.status_code == 200
    assert r.headers.get("content-encoding") == coding
    if coding == "gzip":
        assert sent == (dist / "assets" / "index-1234.js.gz").read_bytes()
        assert gzip.decompress(sent) == SCRIPT
    else:
        assert sent == body
    assert r.headers["content-length"] == str(len(sent))
    assert r.headers["content-type"].startswith("text/javascript")
    assert "accept-encoding" in r.headers["vary"].lower()
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_asset_variants_have_their_own_etags_and_revalidate(client: TestClient) -> None:
    br, _ = raw(client, "/assets/index-1234.js", "br")
    plain, _ = raw(client, "/assets/index-1234.js", None)
    assert br.headers["etag"] != plain.headers["etag"]
    again, body = raw(client, "/assets/index-1234.js", "br",
                      **{"If-None-Match": br.headers["etag"]})
    assert again.status_code == 304 and body == b""
    assert "content-encoding" not in again.headers
    head, body = raw(client, "/assets/index-1234.js", "br", method="HEAD")
    assert head.headers["content-encoding"] == "br" and body == b""
    assert head.headers["content-length"] == str(len(FAKE_BR))


def test_small_asset_without_variants_stays_identity(client: TestClient) -> None:
    r, body = raw(client, "/assets/tiny-1234.css", "gzip, br")
    assert body == b"a{}" and "content-encoding" not in r.headers
    assert r.headers["content-type"].startswith("text/css")


def test_json_and_index_html_are_gzipped_when_accepted(client: TestClient) -> None:
    r, body = raw(client, "/api/v1/big", "gzip, deflate, br")
    assert r.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in r.headers["vary"].lower()
    assert r.headers["content-length"] == str(len(body))
    assert r.headers["content-type"] == "application/json"

    assert json.loads(gzip.decompress(body)) == BIG
    plain, body = raw(client, "/api/v1/big", None)
    assert "content-encoding" not in plain.headers and json.loads(body) == BIG
    refused, body = raw(client, "/api/v1/big", "gzip;q=0, br")
    assert "content-encoding" not in refused.headers and json.loads(body) == BIG
    small, body = raw(client, "/api/v1/small", "gzip")
    assert "content-encoding" not in small.headers and body == b'{"ok":true}'

    page, body = raw(client, "/alice/my-env", "gzip, br")
    assert page.headers["content-encoding"] == "gzip"
    assert page.headers["cache-control"] == "no-cache"
    assert b'<div id=root>' in gzip.decompress(body)
    page, body = raw(client, "/alice/my-env", None)
    assert "content-encoding" not in page.headers and b"<div id=root>" in body


def test_downloads_events_and_encoded_bodies_are_never_compressed(client: TestClient) -> None:
    r, body = raw(client, "/api/v1/download", "gzip, br")
    assert "content-encoding" not in r.headers and body == PAYLOAD
    assert r.headers["content-length"] == str(len(PAYLOAD))
    r, body = raw(client, "/api/v1/redirect", "gzip")
    assert r.status_code == 302 and "content-encoding" not in r.headers
    r, body = raw(client, "/api/v1/events", "gzip, br")
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in r.headers and body.count(b"event: log") == 3
    r, body = raw(client, "/api/v1/encoded", "gzip")
    assert r.headers["content-encoding"] == "br" and body == b"\x00" * 4096


def test_gzip_stream_decodes_with_zlib(client: TestClient) -> None:
    """What pip and uv do with the body: a plain zlib gzip decoder reads it whole."""
    _, body = raw(client, "/api/v1/big", "gzip")
    assert zlib.decompress(body, 16 + zlib.MAX_WBITS).startswith(b'{"items":')
