"""The embedded setup's secret key: generated per data dir, never the public development
constant, except for an older data dir whose tokens were hashed with it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hub.kit.settings import _DEV_SECRET, Settings


@pytest.fixture(autouse=True)
def no_env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUB_SECRET_KEY", "HUB_DATABASE_URL", "HUB_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)


def test_a_fresh_data_dir_gets_its_own_secret(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path / "data")
    path = tmp_path / "data" / "secret-key"
    assert first.secret_key != _DEV_SECRET and len(first.secret_key) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Every process of the same hub (API, workers, admin CLI) reads the same key.
    assert Settings(data_dir=tmp_path / "data").secret_key == first.secret_key
    assert Settings(data_dir=tmp_path / "other").secret_key != first.secret_key


def test_an_existing_database_without_a_key_file_keeps_the_old_key(tmp_path: Path) -> None:
    (tmp_path / "hub.sqlite3").write_bytes(b"")
    assert Settings(data_dir=tmp_path).secret_key == _DEV_SECRET
    assert not (tmp_path / "secret-key").exists()


def test_explicit_configuration_wins(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, secret_key="set-by-operator").secret_key == \
        "set-by-operator"
    # A database of one's own: the operator manages the key (nothing written to data_dir).
    server = Settings(data_dir=tmp_path / "d", database_url="postgresql+psycopg://x/y")
    assert server.secret_key == _DEV_SECRET and not (tmp_path / "d").exists()
