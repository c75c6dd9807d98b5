"""HubClient against hand-written responses (httpx.MockTransport): ONLY for answers the real
hub in-process cannot give on demand. Everything the hub can produce is tested against it
in test_client_and_config.py and the command tests; each test here says why it is fake."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hub.cli.client import (
    AuthError,
    HubAPIError,
    HubClient,
    HubConnectionError,
    InvalidRequestError,
    NotFoundError,
    ServerError,
    UploadError,
)
from tests.cli.helpers import FAKE_HUB_URL, fake_problem


# Fake: the hub answers 401 and 404 on the routes HubClient calls with specific codes
# (invalid-token, environment-not-found: real-hub tests), never the generic `unauthorized`
# and `not-found` its fallback handlers use; and nothing makes it answer 503 on demand.
@pytest.mark.parametrize(
    ("status", "code", "cls", "builtin", "hint"),
    [
        (401, "unauthorized", AuthError, PermissionError, "envhub login"),
        (404, "not-found", NotFoundError, LookupError, "envhub search"),
        (503, "unavailable", ServerError, HubAPIError, "try again later"),
    ],
)
def test_fake_generic_and_5xx_codes_map_to_typed_errors(
    status: int, code: str, cls: type[HubAPIError], builtin: type[Exception], hint: str
) -> None:
    client = HubClient(
        FAKE_HUB_URL,
        "t",
        transport=httpx.MockTransport(lambda _request: fake_problem(status, code, "the detail")),
    )
    with pytest.raises(cls) as info:
        client.get_environment("alice", "env")
    err = info.value
    assert isinstance(err, builtin)
    assert (err.code, err.status, err.detail) == (code, status, "the detail")
    assert err.hint is not None
    assert hint.lower() in err.hint.lower()


# Fake: bodies that are not the hub's: a proxy's HTML error page, and the list-shaped
# `detail` of a plain FastAPI validation error (the hub always sends a string detail).
def test_fake_non_problem_bodies_still_map() -> None:
    html = httpx.MockTransport(
        lambda _request: httpx.Response(502, text="<html>bad gateway</html>")
    )
    with pytest.raises(ServerError) as info:
        HubClient(FAKE_HUB_URL, transport=html).me()
    assert info.value.code == "http-502"
    assert "bad gateway" in info.value.detail

    listy = httpx.MockTransport(
        lambda _request: httpx.Response(
            422, json={"detail": [{"loc": ["body", "version"], "msg": "field required"}]}
        )
    )
    with pytest.raises(InvalidRequestError, match="version: field required"):
        HubClient(FAKE_HUB_URL, transport=listy).me()


# Fake: a 200 that is not JSON (HUB_URL pointing at some other web server); the hub's API
# always answers JSON.
def test_fake_non_json_success_is_a_wrong_url() -> None:
    page = httpx.MockTransport(lambda _request: httpx.Response(200, text="<html>hi</html>"))
    with pytest.raises(HubConnectionError, match="did not answer with JSON") as info:
        HubClient(FAKE_HUB_URL, transport=page).me()
    assert "HUB_URL" in (info.value.hint or "")


# Fake: S3's bare XML refusal of an expired presigned PUT. The in-process hub stores
# locally (its refusals are problem documents, tested for real), and moto, the S3 server
# the tests run, accepts expired and forged presigned URLs alike.
def test_fake_storage_refusal_is_an_upload_problem(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def storage(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>")

    payload = tmp_path / "f.whl"
    payload.write_bytes(b"x" * 1000)
    client = HubClient(FAKE_HUB_URL, "secret-token", transport=httpx.MockTransport(storage))
    with pytest.raises(UploadError) as info:
        client.upload_file("https://s3.test/bucket/expired", payload)
    assert info.value.code == "upload-failed"
    assert "AccessDenied" in info.value.detail
    assert "envhub push" in (info.value.hint or "")
    assert "authorization" not in seen[0].headers
