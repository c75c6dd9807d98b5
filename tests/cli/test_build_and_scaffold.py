"""`envhub init` templates build into installable wheels; push artefacts are what we say.

The build tests run real PEP 517 builds (`python -m build`, which fetches hatchling) and
install into fresh virtualenvs, so they are marked slow. The import checks run the
scaffolds against the real verifiers releases they target (0.4.x for v1, 0.1.x for v0),
installed into throwaway venvs; if that install fails, the test fails and says why.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest
import typer
from packaging.requirements import Requirement
from typer.testing import CliRunner

from hub.cli import author
from hub.cli.build import BuildError, build_all, read_project
from hub.cli.client import CLIError
from hub.cli.extract import UnsafeArchiveError, safe_extract
from hub.cli.scaffold import env_names
from hub.kit.contenthash import content_hash_of_dir, select_source_files

VERIFIERS_SPEC = {"v1": "verifiers>=0.4,<0.5", "v0": "verifiers>=0.1.9,<0.2"}

# Run inside a venv that has the real verifiers and the scaffolded wheel installed.
V1_CHECK = """
import asyncio, types
import verifiers.v1 as vf
from verifiers.v1.utils.loaders import taskset_class
cls = taskset_class("someone/{name}@0.1.0")  # hub ids resolve like bare names
config = vf.taskset_config_type("{name}")(id="{name}", num_tasks=3)
tasks = list(cls(config))
assert len(tasks) == 3 and tasks[0].data.answer == "19", tasks
assert [f.__name__ for f in tasks[0].hooks("reward")] == ["correct_answer"]
trace = vf.Trace.model_construct(root_reply="So \\\\boxed{{19}}", rewards={{}}, metrics={{}})
asyncio.run(tasks[0].score(trace))
assert trace.reward == 1.0, trace.rewards
wrong = types.SimpleNamespace(last_reply="20")
assert asyncio.run(tasks[0].correct_answer(wrong)) == 0.0
print("ok", len(list(cls(vf.taskset_config_type("{name}")(id="{name}")))))
"""

V0_CHECK = """
import verifiers as vf
env = vf.load_environment("{name}", num_examples=4)
assert isinstance(env, vf.SingleTurnEnv), type(env)
assert len(env.get_dataset()) == 4
from {module} import correct_answer
good = [{{"role": "assistant", "content": "so \\\\boxed{{19}}"}}]
assert correct_answer(good, "19", env.parser) == 1.0
assert correct_answer([{{"role": "assistant", "content": "20"}}], "19", env.parser) == 0.0
print("ok", len(vf.load_environment("{name}").get_dataset()))
"""


def _uv() -> str:
    return shutil.which("uv") or str(Path(sys.executable).parent / "uv")


def _run(*cmd: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def verifiers_venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Lazily built venvs with the real verifiers, one per runtime, shared by the session."""
    return {}


def _verifiers_python(cache: dict[str, Path], runtime: str, base: Path) -> Path:
    if runtime not in cache:
        venv = base / f"vf-{runtime}"
        _run(_uv(), "venv", "--seed", "--quiet", "--python", sys.executable, venv)
        python = venv / "bin" / "python"
        result = subprocess.run(
            [_uv(), "pip", "install", "--quiet", "--python", str(python), VERIFIERS_SPEC[runtime]],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            pytest.fail(f"cannot install {VERIFIERS_SPEC[runtime]} (PyPI must be reachable):"
                        f" {result.stderr[-500:]}")
        cache[runtime] = python
    return cache[runtime]


def _init(tmp_path: Path, name: str, *flags: str) -> Path:
    app = typer.Typer()
    author.register(app)
    result = CliRunner().invoke(app, ["init", name, "--path", str(tmp_path), "--json", *flags])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    env_dir = Path(data["path"])
    assert env_dir == tmp_path / name
    assert {".gitignore", "README.md", "pyproject.toml"} <= set(data["files"])
    return env_dir


def _add_clutter(env_dir: Path) -> None:
    """Files a real working tree has that must not reach the source archive."""
    (env_dir / "outputs").mkdir()
    (env_dir / "outputs" / "results.jsonl").write_text("{}\n")
    (env_dir / "notes.txt").write_text("root files other than *.py are not source\n")
    (env_dir / ".env").write_text("OPENAI_API_KEY=sk-not-real\n")
    (env_dir / "scratch.log").write_text("ignored by .gitignore\n")
    with (env_dir / ".gitignore").open("a") as fh:
        fh.write("*.log\n")
    cache = env_dir / "extra" / "__pycache__"
    cache.mkdir(parents=True)
    (cache / "x.cpython-311.pyc").write_bytes(b"\0")
    # Not part of the wheel (hatch packages only the module), but it is source.
    (env_dir / "extra" / "helpers.py").write_text("VALUE = 1\n")


@pytest.mark.slow
@pytest.mark.parametrize(("runtime", "flags"), [("v1", ()), ("v0", ("--v0",))])
def test_init_builds_installs_and_imports(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    verifiers_venvs: dict[str, Path],
    runtime: str,
    flags: tuple[str, ...],
) -> None:
    name = f"demo-{runtime}-env"
    names = env_names(name)
    env_dir = _init(tmp_path / "ws", name, *flags)
    _add_clutter(env_dir)
    project = read_project(env_dir)
    assert (project.name, project.version) == (name, "0.1.0")
    assert f"verifiers-{runtime}" in project.keywords

    built = build_all(env_dir, tmp_path / "out")
    wheel = next(f for f in built.files if f.kind == "wheel")
    source = next(f for f in built.files if f.kind == "source")
    assert wheel.filename == f"{names.module}-0.1.0-py3-none-any.whl"
    assert source.filename == f"{name}-0.1.0-{built.content_hash[:8]}.tar.gz"
    assert built.content_hash == content_hash_of_dir(env_dir)

    # The source archive holds exactly the selected files, and none of the clutter.
    selected = select_source_files(env_dir)
    with tarfile.open(source.path) as tar:
        members = sorted(m.name for m in tar.getmembers())
    assert members == selected == built.source_members
    assert "extra/helpers.py" in members
    assert not {"notes.txt", ".env", "scratch.log", "outputs/results.jsonl"} & set(members)
    assert not any("__pycache__" in m or m.startswith(".") for m in members)

    # The wheel declares the verifiers range the template targets.
    with zipfile.ZipFile(wheel.path) as zf:
        meta = zf.read(f"{names.module}-0.1.0.dist-info/METADATA").decode()
        wheel_files = set(zf.namelist())
    requires = [
        Requirement(line.split(":", 1)[1].strip())
        for line in meta.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    assert Requirement(VERIFIERS_SPEC[runtime]) in requires
    if runtime == "v1":
        assert f"{names.module}/data.jsonl" in wheel_files  # the dataset ships in the wheel

    # A fresh venv: `pip install --no-deps` succeeds and the module is importable there.
    venv = tmp_path / "venv"
    _run(_uv(), "venv", "--seed", "--quiet", "--python", sys.executable, venv)  # with pip
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel.path)
    probe = (
        "import importlib.util, importlib.metadata as md;"
        f"spec = importlib.util.find_spec({names.module!r});"
        "assert spec is not None and spec.origin;"
        f"print(md.version({name!r}))"
    )
    assert _run(python, "-c", probe).stdout.strip() == "0.1.0"

    # And against the real verifiers release it targets, it imports and loads.
    vf_python = _verifiers_python(verifiers_venvs, runtime, tmp_path_factory.getbasetemp())
    _run(vf_python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel.path)
    check = V1_CHECK if runtime == "v1" else V0_CHECK
    out = _run(vf_python, "-c", check.format(name=name, module=names.module), cwd=tmp_path)
    assert out.stdout.split()[-2:] == ["ok", "8"]


def test_init_refuses_existing_dir_and_bad_names(tmp_path: Path) -> None:
    app = typer.Typer()
    author.register(app)
    runner = CliRunner()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("keep me")
    result = runner.invoke(app, ["init", "taken", "--path", str(tmp_path)])
    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert "Next:" in result.stderr
    assert (tmp_path / "taken" / "file.txt").read_text() == "keep me"
    for bad in ("1abc", "-x", "a b", "class"):
        result = runner.invoke(app, ["init", bad, "--path", str(tmp_path)])
        assert result.exit_code != 0, bad
        assert "Traceback" not in result.output


def test_env_names_follow_verifiers_resolution() -> None:
    names = env_names("My.Math-env")
    assert (names.module, names.class_prefix) == ("my_math_env", "MyMathEnv")


def test_read_project_requires_static_name_and_version(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndynamic = ["version"]\n')
    with pytest.raises(BuildError, match="static"):
        read_project(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "not a version"\n')
    with pytest.raises(BuildError, match="PEP 440"):
        read_project(tmp_path)
    with pytest.raises(BuildError, match=r"No pyproject\.toml"):
        read_project(tmp_path / "missing")


# --- safe extraction of pulled source archives -----------------------------------------


def _tar(path: Path, members: list[tarfile.TarInfo], data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            if info.isfile():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    "bad",
    [
        _member("../escape.py"),
        _member("/etc/evil.py"),
        _member("pkg/../../escape.py"),
        _member("link", tarfile.SYMTYPE, "/etc/passwd"),
        _member("hard", tarfile.LNKTYPE, "pkg/a.py"),
        _member("fifo", tarfile.FIFOTYPE),
    ],
    ids=["dotdot", "absolute", "nested-dotdot", "symlink", "hardlink", "fifo"],
)
def test_safe_extract_refuses_and_writes_nothing(tmp_path: Path, bad: tarfile.TarInfo) -> None:
    archive = _tar(tmp_path / "a.tar.gz", [_member("pkg/a.py"), bad])
    dest = tmp_path / "out" / "env"
    with pytest.raises(UnsafeArchiveError):
        safe_extract(archive, dest)
    assert not dest.exists()
    assert not (tmp_path / "escape.py").exists()
    assert list((tmp_path / "out").iterdir()) == []  # no staging dir left behind


def test_safe_extract_writes_regular_files(tmp_path: Path) -> None:
    script = _member("bin/run.py")
    script.mode = 0o4755  # setuid must not survive
    archive = _tar(tmp_path / "a.tar.gz", [_member("README.md"), script])
    files = safe_extract(archive, tmp_path / "env")
    assert files == ["README.md", "bin/run.py"]
    assert (tmp_path / "env" / "bin" / "run.py").stat().st_mode & 0o7777 == 0o755
    assert (tmp_path / "env" / "README.md").stat().st_mode & 0o7777 == 0o644
    with pytest.raises(CLIError, match="not empty"):
        safe_extract(archive, tmp_path / "env")


def test_check_scripts_are_valid_python() -> None:
    # The verifiers checks only run where verifiers installs; keep them compilable always.
    compile(V1_CHECK.format(name="x", module="x"), "v1", "exec")
    compile(textwrap.dedent(V0_CHECK.format(name="x", module="x")), "v0", "exec")
