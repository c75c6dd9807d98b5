"""CLI tests never touch the real login: config lives in tmp, HUB_* are unset.

`real_hub` routes every HubClient the commands build to the real hub app in-process
(tests/support/hub.py: PostgreSQL rolled back per test, local-disk storage in tmp).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.cli import author, author_publish, common
from hub.cli.client import HubClient
from hub.kit.storage import Storage
from tests.cli.helpers import AppTransport, RealHub


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("HUB_URL", raising=False)
    monkeypatch.delenv("HUB_TOKEN", raising=False)
    return tmp_path / "xdg" / "envhub" / "config.toml"


@pytest.fixture
def real_hub(
    client: TestClient,
    db_sessions: sessionmaker[Session],
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
) -> RealHub:
    """The real hub app; the CLI reaches it at HUB_URL through AppTransport (the TestClient).

    Only the transport is swapped: HubClient and the commands run unchanged.
    """
    transport = AppTransport(client)
    factory = functools.partial(HubClient, transport=transport)
    for module in (author, author_publish, common):
        monkeypatch.setattr(module, "HubClient", factory)
    hub = RealHub(http=client, sessions=db_sessions, storage=storage, transport=transport)
    monkeypatch.setenv("HUB_URL", hub.url)
    return hub
