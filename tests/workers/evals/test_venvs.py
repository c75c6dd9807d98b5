"""The venv cache with tiny hand-made wheels on a local PEP 503 index (no network): the
environment `fake-env` depends on a stand-in `verifiers` wheel of the version under test.
The real verifiers 0.1/0.4 venvs are exercised by test_runner_e2e.py."""

from __future__ import annotations

import base64
import hashlib
import marshal
import shutil
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest

from tests.workers.evals.conftest import write_simple_index
from workers.evals.spec import EvalRunSpec
from workers.evals.venvs import (
    VenvCache,
    VenvPrepareError,
    redact_url,
    v1_harness_requirements,
)
from workers.sandbox import BubblewrapBackend, SandboxSpec, probe_host


def make_wheel(out: Path, name: str, version: str, files: dict[str, str],
               requires: tuple[str, ...] = ()) -> Path:
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    meta = [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            *(f"Requires-Dist: {r}\n" for r in requires)]
    contents = {**files, f"{info}/METADATA": "".join(meta),
                f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                 "Tag: py3-none-any\n"}
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    wheel = out / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in {**contents, f"{info}/RECORD": "\n".join(record) + "\n"}.items():
            zf.writestr(path, text)
    return wheel


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("fake-index")
    wheels = root / "wheels"
    wheels.mkdir()
    return write_simple_index(root / "simple", {
        "verifiers": [make_wheel(wheels, "verifiers", "0.1.99",
                                 {"verifiers/__init__.py": "__version__ = '0.1.99'\n"})],
        "fake-env": [make_wheel(wheels, "fake-env", "1.0",
                                {"fake_env.py": "def load_environment():\n    return 42\n"},
                                ("verifiers==0.1.99",))],
        "plain-lib": [make_wheel(wheels, "plain-lib", "1.0", {"plain_lib.py": "X = 1\n"})],
        # v1 venvs get `uv` in the same install as the environment.
        "uv": [make_wheel(wheels, "uv", "0.0.1", {"uv_stand_in.py": ""})],
    })


def spec(index: str, **kw: object) -> EvalRunSpec:
    fields: dict[str, object] = {"dist_name": "fake-env", "version": "1.0", "runtime": "v0",
                                 "content_hash": "a" * 64, "index_url": index,
                                 "extra_index_url": index, "model": "m",
                                 "environment": "alice/fake-env"}
    fields.update(kw)
    return EvalRunSpec(**fields)  # type: ignore[arg-type]


def test_prepare_builds_a_relocated_compiled_venv_once(tmp_path: Path, index: str) -> None:
    cache = VenvCache(tmp_path / "cache")
    prepared = cache.prepare(spec(index), log_path=tmp_path / "prep.log")
    assert prepared.root == tmp_path / "cache" / "entries" / prepared.key
    assert prepared.verifiers_version == "0.1.99" and prepared.runtime == "v0"
    # Built elsewhere and renamed: the interpreter still works from the final path.
    out = subprocess.run([str(prepared.python), "-c", "import fake_env, sys; "
                          "print(fake_env.load_environment(), sys.prefix)"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["42", str(prepared.venv)]
    # Bytecode names the final path (tracebacks in the read-only venv point at real files).
    pyc = next(prepared.venv.rglob("__pycache__/fake_env.*.pyc"))
    code = marshal.loads(pyc.read_bytes()[16:])  # noqa: S302 - our own build output
    assert code.co_filename.startswith(str(prepared.venv))
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []
    # Cached: a second prepare does not build again.
    cache._build = None  # type: ignore[assignment,method-assign]
    assert cache.prepare(spec(index)) == prepared
    assert cache.get(spec(index)) == prepared


def test_concurrent_preparers_build_once(tmp_path: Path, index: str) -> None:
    cache = VenvCache(tmp_path / "cache")
    builds: list[str] = []
    real_build = cache._build

    def counting_build(*args: object) -> None:
        builds.append("x")
        real_build(*args)  # type: ignore[arg-type]

    cache._build = counting_build  # type: ignore[method-assign]
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(cache.prepare(spec(index))))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 3 and len(set(map(str, results))) == 1 and builds == ["x"]
    # Another process (its own VenvCache) sees the published entry.
    assert VenvCache(tmp_path / "cache").get(spec(index)) == results[0]


def test_wrong_generation_and_missing_versions_are_refused(tmp_path: Path, index: str) -> None:
    cache = VenvCache(tmp_path / "cache")
    with pytest.raises(VenvPrepareError) as wrong:
        cache.prepare(spec(index, runtime="v1"))
    assert wrong.value.code == "runtime_mismatch" and not wrong.value.transient
    with pytest.raises(VenvPrepareError) as missing:
        cache.prepare(spec(index, version="9.9", content_hash="b" * 64))
    assert missing.value.code == "install_failed" and not missing.value.transient
    with pytest.raises(VenvPrepareError) as plain:
        cache.prepare(spec(index, dist_name="plain-lib", content_hash="c" * 64))
    assert plain.value.code == "not_a_verifiers_env"
    # Nothing half-built was published or left behind.
    assert list((tmp_path / "cache" / "entries").iterdir()) == []
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_index_credentials_never_reach_logs_or_errors(tmp_path: Path) -> None:
    secret = "https://__token__:s3cr3t@127.0.0.1:9/simple/fake-env/"
    assert redact_url(secret) == "https://***@127.0.0.1:9/simple/fake-env/"
    assert redact_url("https://pypi.org/simple") == "https://pypi.org/simple"
    cache = VenvCache(tmp_path / "cache", timeout_s=60)
    with pytest.raises(VenvPrepareError) as err:
        cache.prepare(spec(secret, extra_index_url=secret), log_path=tmp_path / "prep.log")
    assert "s3cr3t" not in err.value.message
    assert "s3cr3t" not in (tmp_path / "prep.log").read_text()


def test_key_depends_on_what_is_installed_not_on_urls(tmp_path: Path, index: str) -> None:
    cache = VenvCache(tmp_path / "cache")
    base = spec(index)
    assert cache.key(base) == cache.key(spec("https://other/simple", model="x", seed=3))
    assert cache.key(base) != cache.key(spec(index, wheel_sha256="e" * 64))
    assert cache.key(base) != cache.key(spec(index, environment="mallory/fake-env"))
    assert cache.key(base) != cache.key(spec(index, runtime="v1"))
    # The declared content hash is only an extra: it can split entries, never join them.
    assert cache.key(base) != cache.key(spec(index, content_hash="d" * 64))
    assert VenvCache(tmp_path / "cache", python="/usr/bin/python3").key(base) != \
        cache.key(base)


def test_v1_harness_requirements_read_from_installed_source(tmp_path: Path) -> None:
    launch = (tmp_path / "lib" / "python3.11" / "site-packages" / "verifiers" / "v1"
              / "harnesses" / "utils" / "launch.py")
    launch.parent.mkdir(parents=True)
    launch.write_text("CHAT = (\n    '# dependencies = [\"openai\", \"mcp==2.0.0\"]\\n'\n"
                      "    '# dependencies = [\"x=={version}\"]\\n')\n")
    assert v1_harness_requirements(tmp_path) == ["mcp==2.0.0", "openai"]
    launch.unlink()
    assert "openai" in v1_harness_requirements(tmp_path)  # the 0.4.0 fallback


def test_a_prepared_venv_under_tmp_runs_in_the_sandbox(tmp_path: Path, index: str) -> None:
    """The sandbox mounts its own /tmp: binds of venvs living under the host's /tmp must
    come after it (regression: they were hidden and `bwrap: execvp ...: No such file`)."""
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap is not installed: run `apt-get install -y bubblewrap`")
    prepared = VenvCache(tmp_path / "cache").prepare(spec(index))
    assert str(prepared.venv).startswith("/tmp/")
    out = tmp_path / "out"
    out.mkdir()
    result = BubblewrapBackend(probe_host()).run(SandboxSpec(
        argv=[str(prepared.python), "-c",
              "import fake_env; open('/out/r', 'w').write(str(fake_env.load_environment()))"],
        venv=prepared.venv, output_dir=out, ro_binds=prepared.sandbox_binds(),
        timeout_s=60), tmp_path / "log")
    assert result.ok, (tmp_path / "log").read_text()
    assert (out / "r").read_text() == "42"
