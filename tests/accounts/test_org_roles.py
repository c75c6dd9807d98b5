"""Who may change whom in an organization: owners do anything (but the last owner stays);
admins manage read, write and admin members and never touch owners or the owner role."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.hub import Account, MakeAccount

MEMBERS = "/api/v1/orgs/lab/members"


@pytest.fixture
def lab(client: TestClient, make_account: MakeAccount) -> dict[str, Account]:
    """alice owns `lab`; eve and dave are admins; bob writes."""
    people = {n: make_account(n) for n in ("alice", "eve", "dave", "bob", "carol")}
    alice = people["alice"].headers
    assert client.post("/api/v1/orgs", json={"name": "lab"}, headers=alice).status_code == 201
    for name, role in (("eve", "admin"), ("dave", "admin"), ("bob", "write")):
        r = client.put(f"{MEMBERS}/{name}", json={"role": role}, headers=alice)
        assert r.status_code == 200, r.text
    return people


def _roles(client: TestClient, who: Account) -> dict[str, str]:
    r = client.get("/api/v1/orgs/lab", headers=who.headers)
    return {m["username"]: m["role"] for m in r.json()["members"]}


def test_an_admin_cannot_seize_ownership(client: TestClient, lab: dict[str, Account]) -> None:
    eve = lab["eve"].headers
    before = _roles(client, lab["alice"])
    # The reported sequence: promote yourself, demote the owner, remove the owner.
    r = client.put(f"{MEMBERS}/eve", json={"role": "owner"}, headers=eve)
    assert r.status_code == 403 and r.json()["code"] == "owner-required"
    r = client.put(f"{MEMBERS}/alice", json={"role": "read"}, headers=eve)
    assert r.status_code == 403 and r.json()["code"] == "owner-required"
    r = client.delete(f"{MEMBERS}/alice", headers=eve)
    assert r.status_code == 403 and r.json()["code"] == "owner-required"
    # Nor may an admin make anyone else an owner, new member or old.
    r = client.put(f"{MEMBERS}/carol", json={"role": "owner"}, headers=eve)
    assert r.status_code == 403 and r.json()["code"] == "owner-required"
    r = client.put(f"{MEMBERS}/bob", json={"role": "owner"}, headers=eve)
    assert r.status_code == 403 and r.json()["code"] == "owner-required"
    # Re-asserting an owner's role is touching an owner too.
    r = client.put(f"{MEMBERS}/alice", json={"role": "owner"}, headers=eve)
    assert r.status_code == 403 and r.json()["code"] == "owner-required"
    assert _roles(client, lab["alice"]) == before


def test_admins_manage_everyone_below_owner(client: TestClient, lab: dict[str, Account]) -> None:
    eve = lab["eve"].headers
    assert client.put(f"{MEMBERS}/carol", json={"role": "read"}, headers=eve).status_code == 200
    assert client.put(f"{MEMBERS}/carol", json={"role": "admin"}, headers=eve).status_code == 200
    assert client.put(f"{MEMBERS}/bob", json={"role": "read"}, headers=eve).status_code == 200
    # Another admin is below owner, so an admin may change or remove them too.
    assert client.put(f"{MEMBERS}/dave", json={"role": "write"}, headers=eve).status_code == 200
    assert client.delete(f"{MEMBERS}/dave", headers=eve).status_code == 204
    assert _roles(client, lab["alice"]) == {
        "alice": "owner", "bob": "read", "carol": "admin", "eve": "admin"}
    # An admin may step down; then they manage nobody.
    assert client.put(f"{MEMBERS}/eve", json={"role": "write"}, headers=eve).status_code == 200
    r = client.put(f"{MEMBERS}/bob", json={"role": "write"}, headers=eve)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    # Members below admin manage nobody, outsiders do not even see the org's members.
    r = client.delete(f"{MEMBERS}/carol", headers=lab["bob"].headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


def test_owners_manage_owners_and_keep_the_last_one(client: TestClient,
                                                     lab: dict[str, Account]) -> None:
    alice, eve = lab["alice"].headers, lab["eve"].headers
    # An owner grants the owner role...
    assert client.put(f"{MEMBERS}/eve", json={"role": "owner"}, headers=alice).status_code == 200
    # ...and an owner may change or remove another owner.
    assert client.put(f"{MEMBERS}/alice", json={"role": "admin"}, headers=eve).status_code == 200
    # alice is an admin now: eve is out of her reach.
    r = client.put(f"{MEMBERS}/eve", json={"role": "read"}, headers=alice)
    assert r.status_code == 403 and r.json()["code"] == "owner-required"
    # The last owner can neither step down nor leave, nor be removed.
    r = client.put(f"{MEMBERS}/eve", json={"role": "admin"}, headers=eve)
    assert r.status_code == 409 and r.json()["code"] == "last-owner"
    r = client.delete(f"{MEMBERS}/eve", headers=eve)
    assert r.status_code == 409 and r.json()["code"] == "last-owner"
    # With a second owner, one may go, and an owner may remove another owner.
    assert client.put(f"{MEMBERS}/alice", json={"role": "owner"}, headers=eve).status_code == 200
    assert client.delete(f"{MEMBERS}/eve", headers=eve).status_code == 204
    assert client.put(f"{MEMBERS}/dave", json={"role": "owner"}, headers=alice).status_code == 200
    assert client.delete(f"{MEMBERS}/dave", headers=alice).status_code == 204
    assert _roles(client, lab["alice"]) == {"alice": "owner", "bob": "write"}


def test_anyone_may_leave_but_the_last_owner(client: TestClient, lab: dict[str, Account]) -> None:
    for name in ("bob", "eve"):
        assert client.delete(f"{MEMBERS}/{name}", headers=lab[name].headers).status_code == 204
    r = client.delete(f"{MEMBERS}/alice", headers=lab["alice"].headers)
    assert r.status_code == 409 and r.json()["code"] == "last-owner"


def test_site_admins_act_as_owners(client: TestClient, make_account: MakeAccount,
                                   lab: dict[str, Account]) -> None:
    root = make_account("root", admin=True)
    r = client.put(f"{MEMBERS}/eve", json={"role": "owner"}, headers=root.headers)
    assert r.status_code == 200
    assert client.delete(f"{MEMBERS}/alice", headers=root.headers).status_code == 204
