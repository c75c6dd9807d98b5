"""A live hub WITH its embedded worker and the built-in local model (the single-machine
default of `envhub serve`), shared by the hosted-evaluation end-to-end tests (CLI and
browser) of one session, plus one published v0 environment to evaluate.

Starting it costs the local model's load (tens of seconds to minutes on a busy 2-core
box) and the first evaluation prepares the environment's venv (minutes): share it.
`ENVHUB_TEST_VENV_CACHE=<dir>` keeps prepared venvs between local runs (the key includes
the environment's content hash, and the scaffold is deterministic).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.db import create_database, drop_database
from tests.support.live import (
    LiveHub,
    _answers,
    _model_loaded,
    _wait_until,
    free_port,
    start_hub,
    stop_hub,
)

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


# -- the `make run` default and the production shape, as separate processes -----------

ENVHUB = Path(sys.executable).parent / "envhub"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def shared_venv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One venv cache (HUB_VENV_CACHE_DIR) for the hubs and workers of a session, so an
    environment scaffolded alike (same name, so same content hash) is prepared once.
    `ENVHUB_TEST_VENV_CACHE=<dir>` keeps it between runs."""
    keep = os.environ.get("ENVHUB_TEST_VENV_CACHE")
    return Path(keep) if keep else tmp_path_factory.mktemp("shared-venv-cache")


def clean_env(home: Path) -> dict[str, str]:
    """This process's environment without any HUB_* (a developer's own settings must not
    leak in), with the CLI's saved login under `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return env | {"XDG_CONFIG_HOME": str(home / "config")}


def run_cli(env: dict[str, str], *args: str, cwd: Path | None = None,
            input_text: str | None = None, check: bool = True,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`envhub ARGS` exactly as a user types it: the hub URL and token come from `env`
    (or from what `envhub login` saved), nothing is added."""
    proc = subprocess.run([str(ENVHUB), *args], env=env, cwd=cwd, input=input_text,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"envhub {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def serve_as_make_run(home: Path, *, venv_cache: Path | None = None,
                      extra_env: dict[str, str] | None = None, flags: Sequence[str] = (),
                      ready_timeout: float = 900) -> tuple[subprocess.Popen[bytes], LiveHub]:
    """`envhub serve` as `make run` starts it: the same command from the checkout, and
    none of HUB_DATABASE_URL (so SQLite), HUB_STORAGE_URL (local disk), HUB_BROKER_URL
    (embedded broker and worker), HUB_SECRET_KEY (the development key). Only what lets
    tests run side by side differs: the data dir (`home/.hub-data`), free ports for the
    API and the local model, and the venv cache (`venv_cache`, shared by the session).

    Ready when the API answers and, unless `flags` opt out, the model is loaded and the
    embedded worker consumes."""
    port, model_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    model_url = f"http://127.0.0.1:{model_port}/v1"
    env = clean_env(home) | {
        "HUB_DATA_DIR": str(home / ".hub-data"), "HUB_PUBLIC_URL": url,
        "HUB_LOCAL_MODEL_PORT": str(model_port), "HUB_LOCAL_MODEL_URL": model_url}
    if venv_cache is not None:
        env["HUB_VENV_CACHE_DIR"] = str(venv_cache)
    env |= extra_env or {}
    log = home / "serve.log"
    proc = subprocess.Popen([str(ENVHUB), "serve", "--port", str(port), *flags], env=env,
                            cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    hub = LiveHub(url=url, env=env, data_dir=home / ".hub-data", log=log)
    try:
        _wait_until(proc, hub, 120, "the API", lambda: _answers(f"{url}/api/v1/health"))
        if "--no-local-model" not in flags:
            model_log = hub.data_dir / "logs" / "local-model.log"
            _wait_until(proc, hub, ready_timeout, "the local model (GET /health: loaded)",
                        lambda: _model_loaded(f"http://127.0.0.1:{model_port}/health",
                                              model_log, hub))
        if "--no-worker" not in flags:
            worker_log = hub.data_dir / "logs" / "worker.log"
            _wait_until(proc, hub, 120, "the embedded worker",
                        lambda: worker_log.exists() and b" ready." in worker_log.read_bytes())
    except BaseException:
        stop_hub(proc, timeout=60)
        raise
    return proc, hub


@dataclass
class Service:
    """A process the test started on its own (a worker, the model server), with its log."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace").splitlines()[-lines:] \
            if self.log.exists() else []
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(text)

    def descendants(self) -> list[int]:
        """Every live process below this one (pool children, sandboxes, vLLM)."""
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                parents[int(stat.parent.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
        found, frontier = [], [self.proc.pid]
        while frontier:
            children = [pid for pid, ppid in parents.items() if ppid in frontier]
            found += children
            frontier = children
        return found

    def kill_tree(self) -> None:
        """SIGKILL the process and everything under it at once: the worker's host, its
        container or the OOM killer took it. Nothing gets to clean up or say goodbye."""
        for pid in [self.proc.pid, *self.descendants()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill_tree()


def start_service(name: str, argv: Sequence[str], env: dict[str, str], log: Path) -> Service:
    proc = subprocess.Popen(list(argv), env=env, cwd=ROOT, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Service(name, proc, log)


def wait_for(what: str, ready: Callable[[], bool], timeout: float,
             explain: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s\n{explain()}", pytrace=False)
        time.sleep(0.5)
