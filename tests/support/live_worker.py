"""A live hub WITH its embedded worker and the built-in local model (the single-machine
default of `envhub serve`), shared by the hosted-evaluation end-to-end tests (CLI and
browser) of one session, plus one published v0 environment to evaluate.

Starting it costs the local model's load (tens of seconds to minutes on a busy 2-core
box) and the first evaluation prepares the environment's venv (minutes): share it.
`ENVHUB_TEST_VENV_CACHE=<dir>` keeps prepared venvs between local runs (the key includes
the environment's content hash, and the scaffold is deterministic).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.support.db import create_database, drop_database
from tests.support.live import LiveHub, start_hub, stop_hub

LOCAL_MODEL = "local/smollm2-135m-instruct"


@dataclass
class HostedEnv:
    """What the session published on the worker-enabled hub."""

    hub: LiveHub
    owner: str  # can sign in on the web (password) and holds a write token
    password: str
    token: str
    name: str  # public v0 environment
    private_name: str  # private v0 environment of the same owner
    outsider_token: str  # another user's token: may not read `private_name`
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.owner}/{self.name}"

    def api(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=f"{self.hub.url}/api/v1", headers=headers, timeout=60)


@pytest.fixture(scope="session")
def live_hub_with_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    url = create_database("envhub_live_worker")
    extra = {}
    if keep := os.environ.get("ENVHUB_TEST_VENV_CACHE"):
        extra["HUB_VENV_CACHE_DIR"] = keep
    started = time.monotonic()
    proc, hub = start_hub(tmp_path_factory.mktemp("live-worker"), url, extra, with_worker=True)
    print(f"\nworker-enabled hub ready (local model loaded) in "
          f"{time.monotonic() - started:.0f} s")
    yield hub
    stop_hub(proc, timeout=60)
    drop_database(url)


@pytest.fixture(scope="session")
def hosted_env(live_hub_with_worker: LiveHub,
               tmp_path_factory: pytest.TempPathFactory) -> HostedEnv:
    hub = live_hub_with_worker
    src = tmp_path_factory.mktemp("hosted-src")
    owner, password = "erin", "erin-password"
    hub.envhub("admin", "create-user", owner, "--password-stdin", input_text=f"{password}\n")
    token = hub.envhub("admin", "create-token", owner, "--scope", "write").stdout.strip()
    outsider = hub.admin_token("frank")
    env = HostedEnv(hub=hub, owner=owner, password=password, token=token,
                    name="tiny-arith", private_name="tiny-secret", outsider_token=outsider)
    for name, flags in ((env.name, []), (env.private_name, ["--private"])):
        hub.envhub("init", name, "--v0", "--path", str(src))
        hub.envhub("push", str(src / name), *flags, token=token)
    return env
