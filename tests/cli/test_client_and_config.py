"""The CLI's config precedence and file mode, and the client's problem -> error mapping.

Unit tests of the client side only (httpx.MockTransport); the end-to-end push against a
live server lives with the server's tests.
"""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from hub.cli.client import (
    AuthError,
    CLIError,
    ConflictError,
    ForbiddenError,
    HubAPIError,
    HubClient,
    HubConnectionError,
    InvalidArchiveError,
    InvalidRequestError,
    NotFoundError,
    ServerError,
    UploadError,
    UploadTooLargeError,
    VersionExistsError,
)
from hub.cli.config import DEFAULT_HUB_URL, config_path, load_config, save_config
from tests.cli.helpers import HUB, problem

# --- config -------------------------------------------------------------------------------


def test_config_file_is_private_and_env_wins(
    isolated_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert config_path() == isolated_config
    assert load_config().url == DEFAULT_HUB_URL
    assert load_config().token is None
    save_config("http://file.hub/", 'tok"en\\1', "alice")
    assert stat.S_IMODE(isolated_config.stat().st_mode) == 0o600
    cfg = load_config()
    assert (cfg.url, cfg.token, cfg.username) == ("http://file.hub", 'tok"en\\1', "alice")
    assert (cfg.url_source, cfg.auth_source) == ("file", "file")

    monkeypatch.setenv("HUB_URL", "http://env.hub")
    monkeypatch.setenv("HUB_TOKEN", "env-token")
    cfg = load_config()
    assert (cfg.url, cfg.token, cfg.url_source, cfg.auth_source) == (
        "http://env.hub",
        "env-token",
        "env",
        "env",
    )
    assert cfg.username is None  # the stored username belongs to the stored token only

    isolated_config.chmod(0o644)  # a re-login tightens a loosened file
    save_config("http://file.hub", "t2", None)
    assert stat.S_IMODE(isolated_config.stat().st_mode) == 0o600


def test_broken_config_is_a_clear_error(isolated_config: Path) -> None:
    isolated_config.parent.mkdir(parents=True)
    isolated_config.write_text("url = [unclosed")
    with pytest.raises(CLIError, match="Cannot read"):
        load_config()


# --- error mapping ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "cls", "builtin", "hint"),
    [
        (401, "unauthorized", AuthError, PermissionError, "envhub login"),
        (401, "token-expired", AuthError, PermissionError, "HUB_TOKEN"),
        (403, "forbidden", ForbiddenError, PermissionError, "write access"),
        (404, "not-found", NotFoundError, LookupError, "envhub search"),
        (409, "version-exists", VersionExistsError, FileExistsError, "bump the version"),
        (409, "delete-public-refused", ConflictError, HubAPIError, "conflicts"),
        (413, "upload-too-large", UploadTooLargeError, UploadError, "upload limit"),
        (422, "archive-path-traversal", InvalidArchiveError, ValueError, "python -m build"),
        (422, "wheel-filename-invalid", InvalidArchiveError, ValueError, "python -m build"),
        (422, "sha256-mismatch", UploadError, HubAPIError, "envhub push"),
        (422, "invalid-name", InvalidRequestError, ValueError, "Fix the request"),
        (503, "unavailable", ServerError, HubAPIError, "try again later"),
    ],
)
def test_problem_codes_map_to_typed_errors(
    status: int, code: str, cls: type[HubAPIError], builtin: type[Exception], hint: str
) -> None:
    client = HubClient(
        HUB,
        "t",
        transport=httpx.MockTransport(lambda _request: problem(status, code, "the detail")),
    )
    with pytest.raises(cls) as info:
        client.get_environment("alice", "env")
    err = info.value
    assert isinstance(err, builtin)
    assert (err.code, err.status, err.detail) == (code, status, "the detail")
    assert err.hint is not None
    assert hint.lower() in err.hint.lower()


def test_non_problem_bodies_still_map() -> None:
    html = httpx.MockTransport(
        lambda _request: httpx.Response(502, text="<html>bad gateway</html>")
    )
    with pytest.raises(ServerError) as info:
        HubClient(HUB, transport=html).me()
    assert info.value.code == "http-502"
    assert "bad gateway" in info.value.detail

    listy = httpx.MockTransport(
        lambda _request: httpx.Response(
            422, json={"detail": [{"loc": ["body", "version"], "msg": "field required"}]}
        )
    )
    with pytest.raises(InvalidRequestError, match="version: field required"):
        HubClient(HUB, transport=listy).me()


def test_unreachable_hub_is_a_connection_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(HubConnectionError) as info:
        HubClient(HUB, transport=httpx.MockTransport(refuse)).me()
    assert isinstance(info.value, ConnectionError)
    assert "HUB_URL" in (info.value.hint or "")


def test_upload_streams_without_authorization(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        if request.url.path.endswith("/expired"):
            return httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>")
        return httpx.Response(204)

    payload = tmp_path / "f.whl"
    payload.write_bytes(b"x" * 700_000)
    progress: list[int] = []
    client = HubClient(HUB, "secret-token", transport=httpx.MockTransport(handler))
    client.upload_file("/api/v1/uploads/blob/abc", payload, on_progress=progress.append)
    request = seen[0]
    assert str(request.url) == f"{HUB}/api/v1/uploads/blob/abc"  # relative URL resolved
    assert "authorization" not in request.headers
    assert request.headers["content-length"] == "700000"
    assert "transfer-encoding" not in request.headers
    assert request.content == payload.read_bytes()
    assert sum(progress) == 700_000
    with pytest.raises(UploadError) as info:  # a storage refusal is an upload problem
        client.upload_file("https://s3.test/bucket/expired", payload)
    assert info.value.code == "upload-failed"
