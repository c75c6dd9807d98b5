"""Providers: the built-in local model, admin-only registration, secrets encrypted at rest."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts.models import TokenScope
from hub.jobs.settings import JobSettings
from hub.providers import crypto, service
from tests.support.hub import SECRET, MakeAccount

KEY = "sk-live-THIS-MUST-NEVER-BE-STORED-IN-CLEAR"
BODY = {"name": "openrouter", "base_url": "https://openrouter.example/api/v1",
        "models": ["openai/gpt-4o-mini", "meta/llama-3-8b"], "api_key": KEY,
        "price_input_per_mtok": 0.15, "price_output_per_mtok": 0.6}


def test_local_provider_is_built_in(client: TestClient) -> None:
    r = client.get("/api/v1/providers")
    assert r.status_code == 200
    assert r.json()[0] == {"name": "local", "kind": "openai",
                           "models": ["smollm2-135m-instruct"], "builtin": True,
                           "has_secret": False, "price_input_per_mtok": None,
                           "price_output_per_mtok": None}


def test_only_site_admins_register_providers(client: TestClient, make_account: MakeAccount
                                             ) -> None:
    user = make_account("plain", scope=TokenScope.ADMIN)
    assert client.post("/api/v1/providers", json=BODY, headers=user.headers).status_code == 403
    weak = make_account("weakadmin", admin=True, scope=TokenScope.WRITE)
    r = client.post("/api/v1/providers", json=BODY, headers=weak.headers)
    assert r.status_code == 403 and r.json()["code"] == "insufficient-scope"
    assert client.post("/api/v1/providers", json=BODY).status_code == 401


def test_secret_is_encrypted_and_never_returned(client: TestClient, make_account: MakeAccount,
                                                db_sessions: sessionmaker[Session]) -> None:
    admin = make_account("root", admin=True, scope=TokenScope.ADMIN)
    r = client.post("/api/v1/providers", json=BODY, headers=admin.headers)
    assert r.status_code == 201, r.text
    assert KEY not in r.text and r.json()["has_secret"] is True
    listed = client.get("/api/v1/providers")
    assert KEY not in listed.text
    assert [p["name"] for p in listed.json()] == ["local", "openrouter"]
    with db_sessions() as db:
        dump = db.execute(text("SELECT * FROM providers")).all()
        assert KEY not in repr(dump)
        stored = db.execute(text("SELECT secret_encrypted FROM providers")).scalar_one()
        assert crypto.decrypt(SECRET, stored) == KEY
        resolved = service.resolve(db, JobSettings(), "openrouter/openai/gpt-4o-mini",
                                   secret_key=SECRET)
        assert resolved.api_key == KEY and resolved.model == "openai/gpt-4o-mini"
        assert service.cost_of(resolved, 1_000_000, 1_000_000) == 0.75
    again = client.post("/api/v1/providers", json=BODY, headers=admin.headers)
    assert again.status_code == 409 and again.json()["code"] == "provider-exists"
    r = client.post("/api/v1/providers?replace=true", json=BODY | {"models": ["m"]},
                    headers=admin.headers)
    assert r.status_code == 201 and r.json()["models"] == ["m"]
    assert client.delete("/api/v1/providers/openrouter", headers=admin.headers).status_code == 204


def test_reserved_name_and_unknown_models(client: TestClient, make_account: MakeAccount,
                                          db: Session) -> None:
    admin = make_account("root2", admin=True, scope=TokenScope.ADMIN)
    r = client.post("/api/v1/providers", json=BODY | {"name": "local"}, headers=admin.headers)
    assert r.status_code == 409 and r.json()["code"] == "provider-reserved"
    import pytest

    from hub.kit.errors import NotFound

    with pytest.raises(NotFound) as err:
        service.resolve(db, JobSettings(), "local/gpt-5")
    assert err.value.code == "model-not-found"
    with pytest.raises(NotFound) as err:
        service.resolve(db, JobSettings(), "nope/x")
    assert err.value.code == "provider-not-found"


def test_wrong_hub_secret_is_a_clear_error() -> None:
    import pytest

    from hub.kit.errors import Unavailable

    token = crypto.encrypt("one-secret", "k")
    with pytest.raises(Unavailable) as err:
        crypto.decrypt("another-secret", token)
    assert err.value.code == "provider-secret-unreadable"
