"""Archive inspection: every safety rule by its exact code, plus real happy paths."""

from __future__ import annotations

import gzip
import io
import os
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.kit.contenthash import build_source_tar, content_hash_of_dir
from hub.kit.errors import InvalidArchive, NotFound
from hub.registry import archive_safety
from hub.registry.archive import inspect_source, inspect_wheel, read_source_member
from tests.registry.archive_helpers import (
    LIMITS,
    SOURCE,
    WHEEL,
    KiB,
    MiB,
    TarEntry,
    ZipEntry,
    entry,
    mark_encrypted,
    metadata,
    reg,
    symlink_zip_info,
    tar_bytes,
    wheel_entries,
    write_targz,
    write_zip,
    zip_info,
)


def _code_of_wheel(path: Path, filename: str = WHEEL) -> str:
    with pytest.raises(InvalidArchive) as err:
        inspect_wheel(path, filename, LIMITS)
    assert err.value.status == 422
    return err.value.code


def _code_of_source(path: Path, filename: str = SOURCE) -> str:
    with pytest.raises(InvalidArchive) as err:
        inspect_source(path, filename, LIMITS)
    return err.value.code


# --- tar.gz safety rules ------------------------------------------------------------

TAR_CASES: dict[str, tuple[Callable[[], list[TarEntry]], str]] = {
    "absolute": (lambda: [reg("/etc/evil.py")], "archive-absolute-path"),
    "drive-letter": (lambda: [reg("C:/evil.py")], "archive-absolute-path"),
    "dotdot": (lambda: [reg("../evil.py")], "archive-path-traversal"),
    "dotdot-nested": (lambda: [reg("pkg/../../evil.py")], "archive-path-traversal"),
    "backslash": (lambda: [reg("pkg\\..\\..\\evil.py")], "archive-path-traversal"),
    "symlink": (lambda: [entry("a.py", tarfile.SYMTYPE, "/etc/passwd")], "archive-link"),
    "hardlink": (lambda: [reg("a.py"), entry("b.py", tarfile.LNKTYPE, "a.py")], "archive-link"),
    "chardev": (lambda: [entry("tty", tarfile.CHRTYPE)], "archive-special-file"),
    "blockdev": (lambda: [entry("sda", tarfile.BLKTYPE)], "archive-special-file"),
    "fifo": (lambda: [entry("pipe", tarfile.FIFOTYPE)], "archive-special-file"),
    "duplicate": (lambda: [reg("a.py"), reg("a.py")], "archive-duplicate-member"),
    "duplicate-dotslash": (lambda: [reg("a.py"), reg("./a.py")], "archive-duplicate-member"),
    "file-and-dir": (lambda: [reg("a"), reg("a/b.py")], "archive-duplicate-member"),
    "too-many": (lambda: [reg(f"f{i}.py") for i in range(51)], "archive-too-many-files"),
    "member-too-large": (lambda: [reg("big.bin", os.urandom(2 * MiB + 1))], "archive-too-large"),
    "total-too-large": (
        lambda: [reg(f"b{i}.bin", os.urandom(3 * MiB // 2)) for i in range(3)],
        "archive-too-large",
    ),
}


@pytest.mark.parametrize("case", sorted(TAR_CASES))
def test_tar_rule(tmp_path: Path, case: str) -> None:
    members, code = TAR_CASES[case]
    assert _code_of_source(write_targz(tmp_path / SOURCE, members())) == code


def test_tar_message_names_member_and_fix(tmp_path: Path) -> None:
    path = write_targz(tmp_path / SOURCE, [entry("data/link", tarfile.SYMTYPE, "/etc/shadow")])
    with pytest.raises(InvalidArchive) as err:
        inspect_source(path, SOURCE, LIMITS)
    assert "'data/link'" in err.value.detail
    assert "/etc/shadow" in err.value.detail
    assert "replace it" in err.value.detail


def test_tar_bomb_is_stopped_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 64 MiB of zeros gzips to ~64 KiB; the headers claim a size within every limit.
    limits = archive_safety.ArchiveLimits(10, 128 * MiB, 20.0, 128 * MiB, 256 * KiB)
    info = tarfile.TarInfo("zeros.bin")
    info.size = 64 * MiB
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    path = tmp_path / SOURCE
    path.write_bytes(gzip.compress(buf.getvalue(), mtime=0))
    seen: list[int] = []
    real = archive_safety.check_ratio

    def spy(total: int, compressed: int, lim: archive_safety.ArchiveLimits, where: str) -> None:
        seen.append(total)
        real(total, compressed, lim, where)

    monkeypatch.setattr(archive_safety, "check_ratio", spy)
    with pytest.raises(InvalidArchive) as err:
        inspect_source(path, SOURCE, limits)
    assert err.value.code == "archive-bomb"
    assert max(seen) < 4 * MiB  # stopped long before the 64 MiB were produced


def test_tar_trailing_data_counts(tmp_path: Path) -> None:
    # Bytes after the end-of-archive marker are still decompressed (to check the gzip
    # CRC), so they count toward the limits instead of hiding a bomb.
    zeros = write_targz(tmp_path / "z" / SOURCE, [reg("a.py")], trailing=bytes(3 * MiB))
    noise = write_targz(tmp_path / "n" / SOURCE, [reg("a.py")], trailing=os.urandom(5 * MiB))
    assert _code_of_source(zeros) == "archive-bomb"
    assert _code_of_source(noise) == "archive-too-large"


def test_tar_oversized_pax_header(tmp_path: Path) -> None:
    info, data = reg("a.py")
    info.pax_headers = {"comment": "x" * (2 * MiB)}
    assert _code_of_source(write_targz(tmp_path / SOURCE, [(info, data)])) == "archive-too-large"


def _valid_targz() -> bytes:
    return gzip.compress(tar_bytes([reg("README.md", b"# hi\n"), reg("a.py")]), mtime=0)


CORRUPT_TARS: dict[str, Callable[[], bytes]] = {
    "not-gzip": lambda: b"this is not gzip at all",
    "zip-not-tar": lambda: b"PK\x03\x04" + bytes(100),
    "gzip-not-tar": lambda: gzip.compress(b"hello world " * 100),
    "empty-tar": lambda: gzip.compress(b""),
    "truncated": lambda: _valid_targz()[: len(_valid_targz()) // 2],
    "bad-gzip-crc": lambda: _valid_targz()[:-8] + b"\x00\x00\x00\x00" + _valid_targz()[-4:],
    "short-member": lambda: gzip.compress(tar_bytes([reg("a.py", bytes(5000))])[:1536]),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_TARS))
def test_tar_corrupt(tmp_path: Path, case: str) -> None:
    path = tmp_path / SOURCE
    path.write_bytes(CORRUPT_TARS[case]())
    assert _code_of_source(path) == "archive-corrupt"


@pytest.mark.parametrize(
    "filename",
    ["demo.zip", "../demo-0.1.0.tar.gz", "demo 0.1.0.tar.gz", ".tar.gz", "-x.tar.gz", "a/b.tar.gz"],
)
def test_source_filename_invalid(tmp_path: Path, filename: str) -> None:
    path = tmp_path / "upload"
    path.write_bytes(_valid_targz())
    assert _code_of_source(path, filename) == "source-filename-invalid"


# --- zip / wheel safety rules -------------------------------------------------------

ZIP_CASES: dict[str, tuple[Callable[[], list[ZipEntry]], str]] = {
    "absolute": (lambda: [*wheel_entries(), ("/etc/evil.py", b"")], "archive-absolute-path"),
    "dotdot": (lambda: [*wheel_entries(), ("../evil.py", b"")], "archive-path-traversal"),
    "backslash": (lambda: [*wheel_entries(), ("..\\evil.py", b"")], "archive-path-traversal"),
    "symlink": (lambda: [*wheel_entries(), (symlink_zip_info("l.py"), b"/etc")], "archive-link"),
    "fifo": (
        lambda: [*wheel_entries(), (zip_info("p", stat.S_IFIFO | 0o644), b"")],
        "archive-special-file",
    ),
    "duplicate": (
        lambda: [*wheel_entries(), ("demo_env.py", b"again")],
        "archive-duplicate-member",
    ),
    "too-many": (
        lambda: [*wheel_entries(), *((f"m{i}.py", b"") for i in range(48))],
        "archive-too-many-files",
    ),
    "member-too-large": (
        lambda: [*wheel_entries(), ("big.bin", os.urandom(2 * MiB + 1))],
        "archive-too-large",
    ),
    "total-too-large": (
        lambda: [*wheel_entries(), *((f"b{i}", os.urandom(3 * MiB // 2)) for i in range(3))],
        "archive-too-large",
    ),
    "bomb": (lambda: [*wheel_entries(), ("zeros.bin", bytes(2 * MiB))], "archive-bomb"),
    "no-metadata": (lambda: wheel_entries()[:1], "wheel-metadata-missing"),
    "nested-metadata-only": (
        lambda: [("vendor/x-1.dist-info/METADATA", metadata())],
        "wheel-metadata-missing",
    ),
    "two-metadata": (
        lambda: [*wheel_entries(), *wheel_entries("other-0.1.0")[1:]],
        "wheel-metadata-ambiguous",
    ),
    "name-mismatch": (
        lambda: wheel_entries(meta=metadata(name="other-env")),
        "wheel-metadata-mismatch",
    ),
    "version-mismatch": (
        lambda: wheel_entries(meta=metadata(version="0.2.0")),
        "wheel-metadata-mismatch",
    ),
    "dist-info-mismatch": (lambda: wheel_entries("other-0.1.0"), "wheel-metadata-mismatch"),
    "no-name": (lambda: wheel_entries(meta=b"Metadata-Version: 2.1\n"), "wheel-metadata-mismatch"),
    "bad-version": (
        lambda: wheel_entries(meta=metadata(version="not.a.version")),
        "wheel-metadata-mismatch",
    ),
}


@pytest.mark.parametrize("case", sorted(ZIP_CASES))
def test_wheel_rule(tmp_path: Path, case: str) -> None:
    entries, code = ZIP_CASES[case]
    assert _code_of_wheel(write_zip(tmp_path / WHEEL, entries())) == code


def test_wheel_bad_crc(tmp_path: Path) -> None:
    path = write_zip(tmp_path / WHEEL, wheel_entries(), zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    at = data.index(b"def load_environment")
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    assert _code_of_wheel(path) == "archive-corrupt"


def test_wheel_not_a_zip_and_encrypted(tmp_path: Path) -> None:
    path = tmp_path / WHEEL
    path.write_bytes(b"\x1f\x8b not a zip")
    assert _code_of_wheel(path) == "archive-corrupt"
    write_zip(path, [*wheel_entries(), ("secret.py", b"")])
    assert _code_of_wheel(mark_encrypted(path, "secret.py")) == "archive-corrupt"


@pytest.mark.parametrize(
    "filename",
    [
        "demo_env.whl",
        "demo_env-0.1.0.whl",
        "demo_env-0.1.0-py3-none-any.zip",
        "demo_env-notaversion-py3-none-any.whl",
        "dir/demo_env-0.1.0-py3-none-any.whl",
    ],
)
def test_wheel_filename_invalid(tmp_path: Path, filename: str) -> None:
    path = write_zip(tmp_path / "upload", wheel_entries())
    assert _code_of_wheel(path, filename) == "wheel-filename-invalid"


def test_wheel_version_compared_normalized(tmp_path: Path) -> None:
    meta = metadata(version="0.1.0RC01", extra="Keywords: math reasoning  math")
    path = write_zip(tmp_path / "w.whl", wheel_entries("demo_env-0.1.0rc1", meta))
    info = inspect_wheel(path, "demo_env-0.1.0rc1-py3-none-any.whl", LIMITS)
    assert (info.version, info.keywords, info.tags) == (
        "0.1.0rc1",
        ["math", "reasoning"],
        info.keywords,
    )
    assert info.runtime == "unknown"
    assert info.description == "The README body.\n"


# --- happy paths with real builds ---------------------------------------------------


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("proj")
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "Tiny_Env.Demo"\nversion = "1.0.0rc01"\ndescription = "A tiny env"\n'
        'readme = "README.md"\nlicense = "MIT"\nkeywords = ["math", "demo"]\n'
        'requires-python = ">=3.10"\n'
        'dependencies = ["verifiers>=0.4", "datasets; python_version >= \'3.10\'"]\n'
        '[tool.setuptools]\npy-modules = ["tiny_env_demo"]\n'
    )
    (src / "README.md").write_text("# Tiny\n\nLong description.\n")
    (src / "tiny_env_demo.py").write_text("def load_environment():\n    return 1\n")
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: build with the venv's setuptools, no network needed.
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", str(out), str(src)],
        check=True,
        capture_output=True,
        cwd=src,
    )
    (wheel,) = out.glob("*.whl")
    return wheel


def test_real_wheel(built_wheel: Path) -> None:
    info = inspect_wheel(built_wheel, built_wheel.name, LIMITS)
    assert info.name == "Tiny_Env.Demo"
    assert info.normalized_name == "tiny-env-demo"
    assert info.version == "1.0.0rc1"
    assert info.requires_dist == ["verifiers>=0.4", 'datasets; python_version >= "3.10"']
    assert info.requires_python == ">=3.10"
    assert (info.summary, info.license, info.keywords) == ("A tiny env", "MIT", ["math", "demo"])
    assert info.description is not None
    assert "Long description." in info.description
    assert info.description_content_type == "text/markdown"
    assert info.runtime == "v1"
    with zipfile.ZipFile(built_wheel) as zf:
        assert info.metadata_bytes == zf.read("tiny_env_demo-1.0.0rc1.dist-info/METADATA")


def _env_dir(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "README.md").write_text("# Demo\n\nÜnïcode README.\n")
    (root / "pyproject.toml").write_text('[project]\nname = "demo-env"\nversion = "0.1.0"\n')
    (root / "demo_env.py").write_text("x = 1\n")
    (root / "pkg" / "data.bin").write_bytes(os.urandom(300 * KiB))
    return root


def test_source_round_trip(tmp_path: Path) -> None:
    src = _env_dir(tmp_path / "env")
    tar = tmp_path / SOURCE
    members = build_source_tar(src, tar)
    info = inspect_source(tar, SOURCE, LIMITS)
    assert [f.path for f in info.files] == members
    assert info.content_hash == content_hash_of_dir(src)
    assert info.readme == "# Demo\n\nÜnïcode README.\n"
    assert info.pyproject == {"project": {"name": "demo-env", "version": "0.1.0"}}
    data = next(f for f in info.files if f.path == "pkg/data.bin")
    assert data.size == 300 * KiB


def test_source_unsorted_dirs_and_dotslash(tmp_path: Path) -> None:
    # Another tool's tar: './' prefixes, directory entries, members out of order.
    d = tarfile.TarInfo("./pkg")
    d.type = tarfile.DIRTYPE
    members = [(d, None), reg("./pkg/z.py", b"z"), reg("README.md", b"r"), reg("./a.py", b"a")]
    info = inspect_source(write_targz(tmp_path / SOURCE, members), SOURCE, LIMITS)
    ordered = [reg("README.md", b"r"), reg("a.py", b"a"), reg("pkg/z.py", b"z")]
    expected = inspect_source(write_targz(tmp_path / "s" / SOURCE, ordered), SOURCE, LIMITS)
    assert info.content_hash == expected.content_hash
    assert [f.path for f in info.files] == ["README.md", "a.py", "pkg/z.py"]
    assert info.pyproject is None
    assert info.readme == "r"


def test_source_bad_pyproject_is_none(tmp_path: Path) -> None:
    path = write_targz(tmp_path / SOURCE, [reg("pyproject.toml", b"[project\nname=")])
    assert inspect_source(path, SOURCE, LIMITS).pyproject is None


def test_read_source_member(tmp_path: Path) -> None:
    src = _env_dir(tmp_path / "env")
    tar = tmp_path / SOURCE
    build_source_tar(src, tar)
    assert read_source_member(tar, "demo_env.py", 1000) == (b"x = 1\n", False)
    assert read_source_member(tar, "./demo_env.py", 3) == (b"x =", True)
    content, truncated = read_source_member(tar, "pkg/data.bin", 10 * KiB)
    assert len(content) == 10 * KiB
    assert truncated
    for missing in ("nope.py", "pkg", "../demo_env.py", "/etc/passwd"):
        with pytest.raises(NotFound):
            read_source_member(tar, missing, 10)


# --- robustness: damaged archives fail only with InvalidArchive -----------------------


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_damaged_archives_only_raise_invalid_archive(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["wheel", "source"]))
    good = _FUZZ_SEEDS[kind]
    damaged = bytearray(good)
    for _ in range(data.draw(st.integers(1, 4))):
        damaged[data.draw(st.integers(0, len(good) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        damaged = damaged[: data.draw(st.integers(0, len(damaged)))]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(bytes(damaged))
        try:
            if kind == "wheel":
                inspect_wheel(path, WHEEL, LIMITS)
            else:
                inspect_source(path, SOURCE, LIMITS)
        except InvalidArchive:
            pass


def _fuzz_seeds() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        wheel = write_zip(Path(tmp) / WHEEL, wheel_entries())
        members = [reg("README.md", b"# hi\n"), reg("pkg/a.py"), reg("pyproject.toml", b"[x]\n")]
        source = write_targz(Path(tmp) / SOURCE, members)
        return {"wheel": wheel.read_bytes(), "source": source.read_bytes()}


_FUZZ_SEEDS = _fuzz_seeds()
