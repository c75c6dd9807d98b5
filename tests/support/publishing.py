"""Drive the three-step publish flow through the HTTP API, as a client would."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.support.packages import Built


def put_bytes(client: TestClient, url: str, data: bytes) -> httpx.Response:
    # Upload URLs carry their own authority: never send the bearer token with them.
    if url.startswith("http://testserver"):
        return client.put(url, content=data, headers={"Content-Type": "application/octet-stream"})
    return httpx.put(url, content=data, headers={"Content-Type": "application/octet-stream"})


def register(client: TestClient, headers: dict[str, str], owner: str, built: Built,
             visibility: str = "public", **overrides: Any) -> httpx.Response:
    body = built.register_body(visibility) | overrides
    return client.post(f"/api/v1/environments/{owner}/{built.name}/uploads", json=body,
                       headers=headers)


def upload_all(client: TestClient, registered: dict[str, Any], built: Built) -> None:
    paths = {"wheel": built.wheel, "source": built.source}
    for f in registered["files"]:
        r = put_bytes(client, f["upload_url"], paths[f["kind"]].read_bytes())
        assert r.status_code in (200, 204), r.text


def publish(client: TestClient, headers: dict[str, str], owner: str, built: Built,
            visibility: str = "public") -> httpx.Response:
    r = register(client, headers, owner, built, visibility)
    assert r.status_code in (200, 201), r.text
    if r.json().get("already_published"):
        return r
    upload_all(client, r.json(), built)
    return client.post(f"/api/v1/uploads/{r.json()['id']}/finalize", headers=headers)
