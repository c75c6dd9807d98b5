"""CLI tests never touch the real login: config lives in tmp, HUB_* are unset."""

from __future__ import annotations

import functools
from pathlib import Path

import httpx
import pytest

from hub.cli import author, author_publish, common
from hub.cli.client import HubClient
from tests.cli.helpers import FakeHub, Handler


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("HUB_URL", raising=False)
    monkeypatch.delenv("HUB_TOKEN", raising=False)
    return tmp_path / "xdg" / "envhub" / "config.toml"


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """Route every HubClient the commands build through `handler`; returns the requests."""

    def install(handler: Handler) -> list[httpx.Request]:
        seen: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            request.read()
            seen.append(request)
            return handler(request)

        factory = functools.partial(HubClient, transport=httpx.MockTransport(record))
        for module in (author, author_publish, common):
            monkeypatch.setattr(module, "HubClient", factory)
        return seen

    return install
