"""Drive the prime wire protocol in-process, exactly as `prime env push` 0.18.0 does."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient

from tests.support.packages import Built
from tests.support.publishing import put_bytes

if TYPE_CHECKING:  # starlette's TestClient is built on httpx2 when it is installed
    from httpx2 import Response

HUB = "/api/v1/environmentshub"


@dataclass
class Pushed:
    env_id: str
    created: bool
    finalize: dict[str, Any]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def resolve(client: TestClient, headers: dict[str, str], name: str, **extra: str
            ) -> Response:
    return client.post(f"{HUB}/resolve", json={"name": name, **extra}, headers=headers)


def register_wheel(client: TestClient, headers: dict[str, str], env_id: str, built: Built,
                   runtime_hint: str | None = None) -> Response:
    wheel = built.wheel.read_bytes()
    body: dict[str, Any] = {
        "content_hash": built.content_hash, "filename": built.wheel.name, "sha256": _sha(wheel),
        "size": len(wheel), "semantic_version": built.version,
        "metadata": {"description": "d", "tags": [], "license": "", "dependencies": [],
                     "python_requires": ">=3.10", "original_filename": built.wheel.name,
                     "requires_dist": []},
    }
    if runtime_hint:
        body["runtime_hint"] = runtime_hint
    return client.post(f"{HUB}/{env_id}/wheels", json=body, headers=headers)


def register_source(client: TestClient, headers: dict[str, str], env_id: str, built: Built,
                    name: str | None = None) -> Response:
    source = built.source.read_bytes()
    filename = f"{name or built.name}-{built.version}-{built.content_hash[:8]}.tar.gz"
    body = {"content_hash": built.content_hash, "filename": filename, "sha256": _sha(source),
            "semantic_version": built.version,
            "metadata": {"original_filename": f"{built.name}-{built.version}.tar.gz"}}
    return client.post(f"{HUB}/{env_id}/versions", json=body, headers=headers)


def push(client: TestClient, headers: dict[str, str], built: Built, *,
         runtime_hint: str | None = None, **resolve_extra: str) -> Pushed:
    """resolve -> wheel -> PUT -> finalize wheel -> source -> PUT -> finalize version."""
    r = resolve(client, headers, built.name, **resolve_extra)
    assert r.status_code == 200, r.text
    env_id, created = r.json()["data"]["id"], r.json()["data"]["created"]
    r = register_wheel(client, headers, env_id, built, runtime_hint)
    assert r.status_code == 200, r.text
    wheel = r.json()["data"]
    put = put_bytes(client, wheel["upload_url"], built.wheel.read_bytes())
    assert put.status_code in (200, 204), put.text
    r = client.post(f"{HUB}/{env_id}/wheels/{wheel['wheel_id']}/finalize", headers=headers)
    assert r.status_code == 200, r.text
    r = register_source(client, headers, env_id, built)
    assert r.status_code == 200, r.text
    source = r.json()["data"]
    put = put_bytes(client, source["upload_url"], built.source.read_bytes())
    assert put.status_code in (200, 204), put.text
    r = client.post(f"{HUB}/{env_id}/versions/{source['version_id']}/finalize",
                    headers=headers | {"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return Pushed(env_id=env_id, created=created, finalize=r.json()["data"])
