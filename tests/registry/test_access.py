"""The authorization matrix: anonymous, reader, writer, outsider x public, private."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.accounts.models import TokenScope
from tests.support.hub import Account, MakeAccount
from tests.support.packages import build
from tests.support.publishing import publish, register

READ_PATHS = [
    "/api/v1/environments/lab/{env}",
    "/api/v1/environments/lab/{env}/versions",
    "/api/v1/environments/lab/{env}/versions/latest",
    "/api/v1/environments/lab/{env}/versions/0.1.0/tree",
    "/api/v1/environments/lab/{env}/versions/0.1.0/files/README.md",
    "/api/v1/environments/lab/{env}/downloads",
    "/index/lab/{env}/simple/",
    "/index/lab/{env}/simple/{env}/",
    "/index/lab/simple/{env}/",
]


@pytest.fixture
def world(client: TestClient, make_account: MakeAccount, tmp_path: Path) -> dict[str, Account]:
    owner = make_account("owner")
    reader, writer, outsider = make_account("reader"), make_account("writer"), make_account("out")
    client.post("/api/v1/orgs", json={"name": "lab"}, headers=owner.headers)
    client.put("/api/v1/orgs/lab/members/reader", json={"role": "read"}, headers=owner.headers)
    client.put("/api/v1/orgs/lab/members/writer", json={"role": "write"}, headers=owner.headers)
    for env, vis in (("pub-env", "public"), ("priv-env", "private")):
        r = publish(client, owner.headers, "lab", build(tmp_path / env, env), visibility=vis)
        assert r.status_code == 201, r.text
    return {"owner": owner, "reader": reader, "writer": writer, "outsider": outsider}


@pytest.mark.parametrize("who", ["anonymous", "outsider", "reader", "writer"])
@pytest.mark.parametrize("env", ["pub-env", "priv-env"])
def test_read_matrix(client: TestClient, world: dict[str, Account], who: str, env: str) -> None:
    headers = {} if who == "anonymous" else world[who].headers
    allowed = env == "pub-env" or who in ("reader", "writer")
    for path in READ_PATHS:
        r = client.get(path.format(env=env), headers=headers)
        if allowed:
            assert r.status_code == 200, (path, r.text)
        else:
            # Private means invisible: 404 exactly like a name that does not exist.
            assert r.status_code == 404, (path, r.status_code)


@pytest.mark.parametrize("who", ["anonymous", "outsider", "reader", "writer"])
def test_private_environment_absent_from_search_and_owner_index(
    client: TestClient, world: dict[str, Account], who: str
) -> None:
    headers = {} if who == "anonymous" else world[who].headers
    can_see = who in ("reader", "writer")
    names = {e["name"] for e in client.get("/api/v1/environments", headers=headers).json()["items"]}
    assert ("priv-env" in names) is can_see
    assert "pub-env" in names
    searched = client.get("/api/v1/environments", params={"q": "priv"}, headers=headers).json()
    assert (searched["total"] == 1) is can_see
    index = client.get("/index/lab/simple/", headers=headers).text
    assert ("priv-env" in index) is can_see


def test_private_index_with_basic_auth_token(client: TestClient, world: dict[str, Account]) -> None:
    basic = base64.b64encode(f"__token__:{world['reader'].token}".encode()).decode()
    r = client.get(
        "/index/lab/priv-env/simple/priv-env/", headers={"Authorization": f"Basic {basic}"}
    )
    assert r.status_code == 200 and "priv_env-0.1.0-py3-none-any.whl" in r.text
    assert r.headers["cache-control"] == "private, no-store"


@pytest.mark.parametrize(
    ("who", "expected"), [("anonymous", 401), ("outsider", 403), ("reader", 403), ("writer", 201)]
)
def test_publish_matrix(
    client: TestClient, world: dict[str, Account], tmp_path: Path, who: str, expected: int
) -> None:
    headers = {} if who == "anonymous" else world[who].headers
    r = register(client, headers, "lab", build(tmp_path / "new", "new-env"))
    assert r.status_code == expected, r.text


@pytest.mark.parametrize(
    ("who", "expected"), [("outsider", 404), ("reader", 403), ("writer", 403), ("owner", 204)]
)
def test_delete_private_needs_admin(
    client: TestClient, world: dict[str, Account], who: str, expected: int
) -> None:
    r = client.delete("/api/v1/environments/lab/priv-env", headers=world[who].headers)
    assert r.status_code == expected


def test_read_scope_token_cannot_publish(
    client: TestClient, make_account: MakeAccount, tmp_path: Path
) -> None:
    ro = make_account("ro", scope=TokenScope.READ)
    r = register(client, ro.headers, "ro", build(tmp_path, "env-x"))
    assert r.status_code == 403 and r.json()["code"] == "insufficient-scope"


def test_star_private_is_404_for_outsider(client: TestClient, world: dict[str, Account]) -> None:
    r = client.put("/api/v1/environments/lab/priv-env/star", headers=world["outsider"].headers)
    assert r.status_code == 404
    r = client.put("/api/v1/environments/lab/pub-env/star", headers=world["outsider"].headers)
    assert r.status_code == 200 and r.json()["stars"] == 1 and r.json()["starred"] is True


@pytest.mark.parametrize("env", ["pub-env", "priv-env"])
def test_downloads_follow_visibility_and_private_files_are_never_shared_cached(
    client: TestClient, world: dict[str, Account], env: str
) -> None:
    owner_view = client.get(f"/api/v1/environments/lab/{env}/versions/0.1.0",
                            headers=world["owner"].headers).json()
    wheel = next(f["filename"] for f in owner_view["files"] if f["filename"].endswith(".whl"))
    sdist = next(f["filename"] for f in owner_view["files"] if f["filename"].endswith(".tar.gz"))
    paths = [f"/api/v1/environments/lab/{env}/versions/0.1.0/download/{wheel}",
             f"/api/v1/environments/lab/{env}/versions/0.1.0/download/{sdist}",
             f"/index/lab/files/{env}/0.1.0/{wheel}",
             f"/index/lab/files/{env}/0.1.0/{wheel}.metadata"]
    expected_cache = ("public, max-age=31536000, immutable" if env == "pub-env"
                      else "private, no-store")
    for path in paths:
        for who in ("anonymous", "outsider"):
            headers = {} if who == "anonymous" else world[who].headers
            r = client.get(path, headers=headers)
            assert r.status_code == (200 if env == "pub-env" else 404), (path, who)
        r = client.get(path, headers=world["reader"].headers)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["cache-control"] == expected_cache, path
