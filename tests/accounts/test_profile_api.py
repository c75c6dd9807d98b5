"""Self-service account API the web settings page uses: e-mail, password, organization
memberships shown on a public profile."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.accounts.models import TokenScope
from tests.support.hub import PUBLIC_URL, MakeAccount


def test_edit_email(client: TestClient, make_account: MakeAccount) -> None:
    alice = make_account("alice")
    r = client.patch("/api/v1/users/me", json={"email": " alice@example.org "},
                     headers=alice.headers)
    assert r.status_code == 200 and r.json()["email"] == "alice@example.org"
    # Fields left out stay as they are.
    assert client.patch("/api/v1/users/me", json={}, headers=alice.headers).json()["email"] == \
        "alice@example.org"
    bad = client.patch("/api/v1/users/me", json={"email": "not an address"},
                       headers=alice.headers)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid-email"
    assert client.get("/api/v1/users/me", headers=alice.headers).json()["email"] == \
        "alice@example.org"
    cleared = client.patch("/api/v1/users/me", json={"email": ""}, headers=alice.headers)
    assert cleared.json()["email"] is None
    # The address is private: the public profile does not carry it.
    assert "email" not in client.get("/api/v1/users/alice").json()
    reader = make_account("reader", scope=TokenScope.READ)
    r = client.patch("/api/v1/users/me", json={"email": "r@example.org"}, headers=reader.headers)
    assert r.status_code == 403 and r.json()["code"] == "insufficient-scope"


def _sign_in(client: TestClient, username: str, password: str) -> str:
    r = client.post("/api/v1/session", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])


def test_change_password(client: TestClient, app: object, make_account: MakeAccount) -> None:
    make_account("carol", password="old-password")
    csrf = _sign_in(client, "carol", "old-password")
    # A second browser, signed in before the change.
    with TestClient(app, base_url=PUBLIC_URL) as other:  # type: ignore[arg-type]
        _sign_in(other, "carol", "old-password")
        assert other.get("/api/v1/session").status_code == 200

        url, csrf_h = "/api/v1/users/me/password", {"X-CSRF-Token": csrf}
        wrong = client.put(url, json={"current_password": "nope", "new_password": "new-password"},
                           headers=csrf_h)
        assert wrong.status_code == 422 and wrong.json()["code"] == "wrong-password"
        weak = client.put(url, json={"current_password": "old-password", "new_password": "short"},
                          headers=csrf_h)
        assert weak.status_code == 422 and weak.json()["code"] == "weak-password"
        same = client.put(url, json={"current_password": "old-password",
                                     "new_password": "old-password"}, headers=csrf_h)
        assert same.status_code == 422 and same.json()["code"] == "same-password"
        ok = client.put(url, json={"current_password": "old-password",
                                   "new_password": "new-password"}, headers=csrf_h)
        assert ok.status_code == 204, ok.text
        # This browser stays signed in; the other one is signed out.
        assert client.get("/api/v1/session").status_code == 200
        assert other.get("/api/v1/session").status_code == 401
    assert client.post("/api/v1/session", json={"username": "carol",
                                                "password": "old-password"}).status_code == 401
    assert client.post("/api/v1/session", json={"username": "carol",
                                                "password": "new-password"}).status_code == 200


def test_password_change_needs_an_admin_scoped_token(client: TestClient,
                                                     make_account: MakeAccount) -> None:
    writer = make_account("writer", password="old-password")
    r = client.put("/api/v1/users/me/password", headers=writer.headers,
                   json={"current_password": "old-password", "new_password": "new-password"})
    assert r.status_code == 403 and r.json()["code"] == "insufficient-scope"
    admin = make_account("owner1", scope=TokenScope.ADMIN, password="old-password")
    r = client.put("/api/v1/users/me/password", headers=admin.headers,
                   json={"current_password": "old-password", "new_password": "new-password"})
    assert r.status_code == 204


def test_public_memberships_only_on_profiles(client: TestClient,
                                             make_account: MakeAccount) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    for name in ("lab", "secret-lab"):
        assert client.post("/api/v1/orgs", json={"name": name, "display_name": f"The {name}"},
                           headers=alice.headers).status_code == 201
    client.put("/api/v1/orgs/lab/members/bob", json={"role": "read"}, headers=alice.headers)
    # Hidden by default.
    assert client.get("/api/v1/users/alice/orgs").json() == []
    mine = client.get("/api/v1/orgs", headers=alice.headers).json()
    assert [(o["name"], o["your_role"], o["membership_public"]) for o in mine] == [
        ("lab", "owner", False), ("secret-lab", "owner", False)]

    r = client.put("/api/v1/orgs/lab/membership", json={"public": True}, headers=alice.headers)
    assert r.status_code == 200 and r.json()["membership_public"] is True
    assert client.get("/api/v1/users/alice/orgs").json() == [
        {"name": "lab", "display_name": "The lab"}]
    # bob's membership of lab stays hidden until bob shows it.
    assert client.get("/api/v1/users/bob/orgs").json() == []
    assert client.get("/api/v1/orgs/lab").json()["membership_public"] is None
    # Only members have a membership to show.
    r = client.put("/api/v1/orgs/secret-lab/membership", json={"public": True},
                   headers=bob.headers)
    assert r.status_code == 404 and r.json()["code"] == "member-not-found"
    assert client.put("/api/v1/orgs/lab/membership", json={"public": False},
                      headers=alice.headers).json()["membership_public"] is False
    assert client.get("/api/v1/users/alice/orgs").json() == []
    assert client.get("/api/v1/users/nobody/orgs").status_code == 404


def test_create_org_trims_and_bounds_display_name(client: TestClient,
                                                  make_account: MakeAccount) -> None:
    alice = make_account("alice")
    r = client.post("/api/v1/orgs", json={"name": "lab", "display_name": "  "},
                    headers=alice.headers)
    assert r.status_code == 201 and r.json()["display_name"] is None
    r = client.post("/api/v1/orgs", json={"name": "lab2", "display_name": "x" * 129},
                    headers=alice.headers)
    assert r.status_code == 422
