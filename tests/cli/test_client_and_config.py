"""The CLI's config precedence and file mode, and HubClient against the real hub in-process:
every refusal the hub can produce maps to the typed error and hint the CLI shows, uploads
stream to the hub's signed URLs without the token, and an unreachable hub is a connection
error. Responses the real hub cannot give on demand are in test_fake_transport.py."""

from __future__ import annotations

import json
import socket
import stat
import time
import uuid
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from hub.accounts.models import ApiToken
from hub.cli.client import (
    JSON,
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
    UploadError,
    UploadTooLargeError,
    VersionExistsError,
    error_from_response,
)
from hub.cli.config import DEFAULT_HUB_URL, config_path, load_config, save_config
from hub.kit import signing
from hub.kit.db import utcnow
from hub.registry.models import Upload, UploadFile
from hub.registry.uploads_router import UPLOAD_PURPOSE
from tests.cli.helpers import RealHub
from tests.support.hub import SECRET, MakeAccount
from tests.support.packages import Built, build, file_entry

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


# --- the real hub's refusals, as typed errors -----------------------------------------------

# Each scenario makes the real hub refuse a request, through HubClient's own methods.
Scenario = Callable[[RealHub, MakeAccount, Path], object]


def _upload(client: HubClient, owner: str, built: Built, *, finalize: bool = True) -> JSON:
    """The three publish steps, as `envhub push` runs them."""
    upload = client.register_upload(owner, built.name, built.register_body())
    paths = {"wheel": built.wheel, "source": built.source}
    for entry in upload["files"]:
        client.upload_file(entry["upload_url"], paths[entry["kind"]])
    return client.finalize_upload(upload["id"]) if finalize else upload


def _bad_token(hub: RealHub, make_account: MakeAccount, tmp: Path) -> object:
    return hub.hub_client("not-a-real-token").me()


def _expired_token(hub: RealHub, make_account: MakeAccount, tmp: Path) -> object:
    alice = make_account("alice")
    with hub.sessions() as db:  # as if the token's lifetime had run out
        db.execute(update(ApiToken).where(ApiToken.user_id == alice.user.id)
                   .values(expires_at=utcnow() - timedelta(minutes=1)))
        db.commit()
    return hub.hub_client(alice.token).me()


def _not_a_member(hub: RealHub, make_account: MakeAccount, tmp: Path) -> object:
    make_account("alice")
    bob = make_account("bob")
    return _upload(hub.hub_client(bob.token), "alice", build(tmp, "demo"))


def _missing(hub: RealHub, make_account: MakeAccount, tmp: Path) -> object:
    make_account("alice")
    return hub.hub_client().get_environment("alice", "nope")


def _other_content(hub: RealHub, make_account: MakeAccount, tmp: Path) -> object:
    alice = make_account("alice")
    hub.publish(alice, build(tmp / "a", "demo"))
    return _upload(hub.hub_client(alice.token), "alice", build(tmp / "b", "demo", readme="# v2"))


def _delete_public(hub: RealHub, make_account: MakeAccount, tmp: Path) -> object:
    alice = make_account("alice")
    hub.publish(alice, build(tmp, "demo"))
    # HubClient has no delete: send the request on its transport and map the real answer.
    with httpx.Client(transport=hub.transport, base_url=hub.url) as http:
        raise error_from_response(
            http.delete("/api/v1/environments/alice/demo", headers=alice.headers))


def _oversize(hub: RealHub, make_account: MakeAccount, tmp: Path) -> object:
    alice = make_account("alice")
    built = build(tmp, "demo")
    client = hub.hub_client(alice.token)
    upload = client.register_upload("alice", "demo", built.register_body())
    bigger = tmp / "bigger.whl"
    bigger.write_bytes(built.wheel.read_bytes() + b"more than registered")
    return client.upload_file(upload["files"][0]["upload_url"], bigger)


def _path_traversal(hub: RealHub, make_account: MakeAccount, tmp: Path) -> object:
    alice = make_account("alice")
    built = build(tmp, "demo")
    with zipfile.ZipFile(built.wheel, "a") as zf:
        zf.writestr("../escape.py", "")
    return _upload(hub.hub_client(alice.token), "alice", built)


def _bad_wheel_name(hub: RealHub, make_account: MakeAccount, tmp: Path) -> object:
    alice = make_account("alice")
    built = build(tmp, "demo")
    built.wheel = built.wheel.rename(built.wheel.with_name("demo.whl"))
    return _upload(hub.hub_client(alice.token), "alice", built)


def _changed_after_register(hub: RealHub, make_account: MakeAccount, tmp: Path) -> object:
    alice = make_account("alice")
    built = build(tmp, "demo")
    client = hub.hub_client(alice.token)
    upload = _upload(client, "alice", built, finalize=False)  # registered, then uploaded...
    data = bytearray(built.wheel.read_bytes())
    data[-1] ^= 0xFF  # ...but the wheel changed on disk before its upload was retried
    built.wheel.write_bytes(bytes(data))
    wheel = next(f for f in upload["files"] if f["kind"] == "wheel")
    client.upload_file(wheel["upload_url"], built.wheel)
    return client.finalize_upload(upload["id"])


def _bad_name(hub: RealHub, make_account: MakeAccount, tmp: Path) -> object:
    alice = make_account("alice")
    client = hub.hub_client(alice.token)
    return client.register_upload("alice", "not a name!", build(tmp, "demo").register_body())


def _bad_query(hub: RealHub, make_account: MakeAccount, tmp: Path) -> object:
    return hub.hub_client().list_environments(per_page=1000)


def _expired_upload_url(hub: RealHub, make_account: MakeAccount, tmp: Path) -> object:
    alice = make_account("alice")
    built = build(tmp, "demo")
    client = hub.hub_client(alice.token)
    upload = client.register_upload("alice", "demo", built.register_body())
    with hub.sessions() as db:
        key = db.scalar(select(UploadFile.staging_key).where(
            UploadFile.upload_id == uuid.UUID(upload["id"]), UploadFile.kind == "wheel"))
    assert key is not None
    # The URL the hub issued, as it is once its lifetime has passed (a slow upload).
    token = signing.sign(UPLOAD_PURPOSE, {"key": key, "size": built.wheel.stat().st_size},
                         secret=SECRET, ttl_seconds=60, now=time.time() - 3600)
    return client.upload_file(f"/api/v1/uploads/blob/{token}", built.wheel)


def _expired_upload(hub: RealHub, make_account: MakeAccount, tmp: Path) -> object:
    alice = make_account("alice")
    client = hub.hub_client(alice.token)
    upload = _upload(client, "alice", build(tmp, "demo"), finalize=False)
    with hub.sessions() as db:  # as if the push had stalled past the pending-upload TTL
        db.execute(update(Upload).where(Upload.id == uuid.UUID(upload["id"]))
                   .values(expires_at=utcnow() - timedelta(minutes=1)))
        db.commit()
    return client.finalize_upload(upload["id"])


@pytest.mark.parametrize(
    ("scenario", "status", "code", "cls", "builtin", "hint"),
    [
        (_bad_token, 401, "invalid-token", AuthError, PermissionError, "envhub login"),
        (_expired_token, 401, "token-expired", AuthError, PermissionError, "HUB_TOKEN"),
        (_not_a_member, 403, "forbidden", ForbiddenError, PermissionError, "write access"),
        (_missing, 404, "environment-not-found", NotFoundError, LookupError, "envhub search"),
        (_other_content, 409, "version-exists", VersionExistsError, FileExistsError,
         "bump the version"),
        (_delete_public, 409, "delete-public-refused", ConflictError, HubAPIError, "conflicts"),
        (_oversize, 413, "upload-too-large", UploadTooLargeError, UploadError, "upload limit"),
        (_path_traversal, 422, "archive-path-traversal", InvalidArchiveError, ValueError,
         "python -m build"),
        (_bad_wheel_name, 422, "wheel-filename-invalid", InvalidArchiveError, ValueError,
         "python -m build"),
        (_changed_after_register, 422, "sha256-mismatch", UploadError, HubAPIError,
         "envhub push"),
        (_bad_name, 422, "invalid-name", InvalidRequestError, ValueError, "Fix the request"),
        (_bad_query, 422, "validation-failed", InvalidRequestError, ValueError,
         "Fix the request"),
        (_expired_upload_url, 403, "signed-url-expired", UploadError, HubAPIError,
         "envhub push"),
        (_expired_upload, 410, "upload-expired", UploadError, HubAPIError, "envhub push"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) and not isinstance(v, type) else None,
)
def test_hub_refusals_map_to_typed_errors(
    real_hub: RealHub, make_account: MakeAccount, tmp_path: Path, scenario: Scenario,
    status: int, code: str, cls: type[HubAPIError], builtin: type[Exception], hint: str,
) -> None:
    with pytest.raises(cls) as info:
        scenario(real_hub, make_account, tmp_path)
    err = info.value
    assert isinstance(err, builtin)
    assert (err.code, err.status) == (code, status)
    assert err.detail and err.detail == err.problem["detail"]  # the hub's own words
    assert err.hint is not None
    assert hint.lower() in err.hint.lower()


def test_unreachable_hub_is_a_connection_error() -> None:
    with socket.socket() as sock:  # a port nothing listens on once this closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(HubConnectionError) as info:
        HubClient(f"http://127.0.0.1:{port}").me()
    assert isinstance(info.value, ConnectionError)
    assert "HUB_URL" in (info.value.hint or "")


def test_upload_streams_without_authorization(
    real_hub: RealHub, make_account: MakeAccount, tmp_path: Path
) -> None:
    alice = make_account("alice")
    payload = tmp_path / "demo-0.1.0-py3-none-any.whl"
    payload.write_bytes(b"x" * 700_000)  # more than one 256 KiB chunk
    client = real_hub.hub_client(alice.token)
    body = {"version": "0.1.0", "files": [file_entry("wheel", payload)]}
    upload = client.register_upload("alice", "demo", body)
    url = upload["files"][0]["upload_url"]
    assert url.startswith(f"{real_hub.url}/api/v1/uploads/blob/")

    progress: list[int] = []
    client.upload_file(url.removeprefix(real_hub.url), payload, on_progress=progress.append)
    request = real_hub.requests[-1]
    assert str(request.url) == url  # the relative URL was resolved against the hub
    assert "authorization" not in request.headers
    assert request.headers["content-length"] == "700000"
    assert "transfer-encoding" not in request.headers
    assert request.content == payload.read_bytes()
    assert sum(progress) == 700_000 and len(progress) == 3
    with real_hub.sessions() as db:  # the hub staged exactly the bytes sent
        key = db.scalar(select(UploadFile.staging_key).where(UploadFile.filename == payload.name))
    assert key is not None and real_hub.blob(key) == payload.read_bytes()
    assert json.loads(real_hub.requests[0].content) == body
