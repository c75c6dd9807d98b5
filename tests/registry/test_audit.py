"""The audit trail: destructive and notable actions are recorded in their own transaction,
outlive what they describe, and are readable by site admins (all) and by an environment's
admins (its own), by nobody else."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from hub.accounts.models import TokenScope
from tests.support.hub import MakeAccount
from tests.support.packages import build
from tests.support.publishing import publish

ENV = "/api/v1/environments/alice/audited-env"


def test_actions_are_recorded_and_readable_by_admins_only(
    client: TestClient, make_account: MakeAccount, tmp_path: Path
) -> None:
    alice, eve = make_account("alice"), make_account("eve")
    root = make_account("root", admin=True, scope=TokenScope.ADMIN)
    for version in ("0.1.0", "0.2.0"):
        built = build(tmp_path / version, "audited-env", version)
        assert publish(client, alice.headers, "alice", built).status_code == 201
    assert client.post(f"{ENV}/versions/0.1.0/yank", json={"reason": "wrong answers"},
                       headers=alice.headers).status_code == 200
    assert client.patch(ENV, json={"visibility": "private"},
                        headers=alice.headers).status_code == 200
    assert client.delete(f"{ENV}/versions/0.1.0", headers=alice.headers).status_code == 204

    own = client.get(f"{ENV}/audit", headers=alice.headers)
    assert own.status_code == 200, own.text
    events = [(e["action"], e["subject"], e["actor"]) for e in own.json()["items"]]
    assert events == [  # newest first
        ("delete-version", "alice/audited-env@0.1.0", "alice"),
        ("visibility", "alice/audited-env", "alice"),
        ("yank", "alice/audited-env@0.1.0", "alice"),
    ]
    assert own.json()["items"][2]["details"] == {"reason": "wrong answers"}
    only_yanks = client.get(f"{ENV}/audit?action=yank", headers=alice.headers).json()
    assert only_yanks["total"] == 1

    # Private now: an outsider cannot even learn that it exists; anonymous needs a token.
    assert client.get(f"{ENV}/audit", headers=eve.headers).status_code == 404
    assert client.get(f"{ENV}/audit").status_code == 401
    assert client.get("/api/v1/audit", headers=alice.headers).status_code == 403

    # The record outlives the environment; the site admin reads it by subject prefix.
    assert client.delete(ENV, headers=alice.headers).status_code == 204
    site = client.get("/api/v1/audit", params={"subject": "alice/audited-env"},
                      headers=root.headers).json()
    assert [e["action"] for e in site["items"]][:2] == ["delete-environment", "delete-version"]
    assert site["total"] == 4
    # A prefix is taken literally: "_" and "%" are not wildcards.
    assert client.get("/api/v1/audit", params={"subject": "alice/audited_env"},
                      headers=root.headers).json()["total"] == 0


def test_a_reader_of_a_public_environment_is_not_its_admin(
    client: TestClient, make_account: MakeAccount, tmp_path: Path
) -> None:
    alice, bob = make_account("alice"), make_account("bob")
    built = build(tmp_path, "audited-env")
    assert publish(client, alice.headers, "alice", built).status_code == 201
    r = client.get(f"{ENV}/audit", headers=bob.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
