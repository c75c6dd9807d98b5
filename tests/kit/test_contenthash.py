"""The content-hash recipe and source-file selection (shared by CLI and server)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from hub.kit.contenthash import (
    ContentHasher,
    build_source_tar,
    content_hash_of_dir,
    content_hash_of_files,
    select_source_files,
)
from hub.registry.archive import ArchiveLimits, inspect_source

LIMITS = ArchiveLimits(max_files=1000, max_uncompressed_bytes=10**8, max_ratio=100.0,
                       max_member_bytes=10**7)  # fmt: skip
SOURCE = "golden-0.1.0-a7ab4aef.tar.gz"

# Computed by prime 0.18.0's own `prime_cli.commands.env.compute_content_hash` on the
# tree `write_golden_tree` builds (run once in a separate venv with `prime` installed).
PRIME_GOLDEN_HASH = "a7ab4aefd9d042defb7b85777534004c330f449817809a998710de3510359a35"
GOLDEN_FILES = [
    "A/x.py", "README.md", "a b/c d.txt", "a-b/x.py", "a_b/x.py", "data/big.bin",
    "docs/guide.md", "golden.py", "pkg/__init__.py", "pkg/core.py", "pkg/data/keep.json",
    "pyproject.toml", "ü/ñ.py",
]  # fmt: skip


def write_golden_tree(root: Path) -> Path:
    """A tree exercising every selection rule at once."""
    files = {
        "README.md": "# golden\n",
        "pyproject.toml": '[project]\nname = "golden"\nversion = "0.1.0"\n',
        "golden.py": "def load_environment():\n    return 1\n",
        "LICENSE": "MIT\n",  # root: only README.md, pyproject.toml and *.py
        "notes.txt": "root txt\n",
        ".hidden.py": "h\n",
        "pkg/__init__.py": "",
        "pkg/core.py": "x = 1\n",
        "pkg/.env": "SECRET=1\n",
        "pkg/data/keep.json": "{}\n",
        "pkg/data/drop.json": "{}\n",
        "pkg/__pycache__/core.pyc": "c",
        "pkg/build/gen.py": "g\n",  # pruned at any depth, not only at the root
        "pkg/outputs/run.jsonl": "{}\n",
        "pkg/x.egg-info/PKG-INFO": "p\n",
        "dist/golden-0.1.0.whl": "w",
        "build/lib/golden.py": "b\n",
        "outputs/results.jsonl": "{}\n",
        ".git/HEAD": "ref\n",
        "golden.egg-info/PKG-INFO": "p\n",
        "data/big.bin": "\x00\x01\x02",
        "data/sub/ignored.log": "log\n",
        "docs/guide.md": "guide\n",
        "docs/.draft.md": "draft\n",
        "ü/ñ.py": "unicode = True\n",
        "a b/c d.txt": "space\n",
        "a-b/x.py": "1\n",
        "a_b/x.py": "2\n",
        "A/x.py": "3\n",
        "tmp/scratch.py": "s\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    gitignore = "*.log\n/tmp/\npkg/data/*\n!pkg/data/keep.json\nnotes.txt\n"
    (root / ".gitignore").write_text(gitignore)
    os.symlink("golden.py", root / "link.py")
    os.symlink("../golden.py", root / "pkg" / "link.py")
    return root


def test_recipe_bytes() -> None:
    expected = hashlib.sha256(b"file:a.py" + b"1" + b"file:b/c.txt" + b"22").hexdigest()
    assert content_hash_of_files([("b/c.txt", b"22"), ("a.py", b"1")]) == expected
    assert content_hash_of_files([("a.py", io.BytesIO(b"1")), ("b/c.txt", b"22")]) == expected
    assert content_hash_of_files([]) == hashlib.sha256(b"").hexdigest()


def test_duplicates_and_order_refused() -> None:
    with pytest.raises(ValueError, match="duplicated or out of order"):
        content_hash_of_files([("a.py", b"1"), ("a.py", b"2")])
    hasher = ContentHasher()
    hasher.start_file("b.py")
    with pytest.raises(ValueError, match="out of order"):
        hasher.start_file("a.py")


def test_golden_tree_matches_prime(tmp_path: Path) -> None:
    root = write_golden_tree(tmp_path / "golden")
    assert select_source_files(root) == GOLDEN_FILES
    assert content_hash_of_dir(root) == PRIME_GOLDEN_HASH


def test_hash_equals_manual_recipe(tmp_path: Path) -> None:
    root = write_golden_tree(tmp_path / "golden")
    items = [(rel, (root / rel).read_bytes()) for rel in select_source_files(root)]
    assert content_hash_of_files(items) == content_hash_of_dir(root)


def test_symlinks_and_special_files(tmp_path: Path) -> None:
    root = tmp_path / "env"
    (root / "pkg").mkdir(parents=True)
    (root / "env.py").write_text("x = 1\n")
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "o.py").write_text("o\n")
    (outside / "deep" / "z.py").write_text("z\n")
    os.symlink(outside, root / "toplink")  # followed: the prime client walks it too
    os.symlink(outside, root / "pkg" / "nested")  # not followed
    os.symlink("missing", root / "pkg" / "broken.py")
    os.symlink("../env.py", root / "pkg" / "alias.py")
    os.mkfifo(root / "pkg" / "fifo")
    os.link(root / "env.py", root / "pkg" / "hard.py")  # a hardlink is just a file
    assert select_source_files(root) == [
        "env.py",
        "pkg/hard.py",
        "toplink/deep/z.py",
        "toplink/o.py",
    ]


@pytest.mark.parametrize(
    ("gitignore", "expected"),
    [
        ("", ["a.py", "data/a.txt", "data/sub/b.txt", "pkg/data", "pkg/m.py"]),
        ("*.txt\n", ["a.py", "pkg/data", "pkg/m.py"]),
        # git semantics: `data/` spares the *file* pkg/data (prime 0.18 would drop it)
        ("data/\n", ["a.py", "pkg/data", "pkg/m.py"]),
        ("/data\n", ["a.py", "pkg/data", "pkg/m.py"]),
        ("data\n", ["a.py", "pkg/m.py"]),
        ("data/*\n!data/a.txt\n", ["a.py", "data/a.txt", "pkg/data", "pkg/m.py"]),
        ("data/\n!data/a.txt\n", ["a.py", "pkg/data", "pkg/m.py"]),  # cannot re-include
        ("a.py\n", ["data/a.txt", "data/sub/b.txt", "pkg/data", "pkg/m.py"]),
        ("**/sub\n# comment\n\n", ["a.py", "data/a.txt", "pkg/data", "pkg/m.py"]),
        ("*.txt\r\n!b.txt\r\n", ["a.py", "data/sub/b.txt", "pkg/data", "pkg/m.py"]),
    ],
)
def test_gitignore(tmp_path: Path, gitignore: str, expected: list[str]) -> None:
    root = tmp_path / "env"
    for rel in ("a.py", "data/a.txt", "data/sub/b.txt", "pkg/data", "pkg/m.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    (root / ".gitignore").write_bytes(gitignore.encode())
    assert select_source_files(root) == expected


def test_source_tar_is_deterministic(tmp_path: Path) -> None:
    root = write_golden_tree(tmp_path / "golden")
    first, second = tmp_path / "1.tar.gz", tmp_path / "2.tar.gz"
    members = build_source_tar(root, first)
    os.utime(root / "golden.py", (1, 1))
    (root / "pkg" / "core.py").chmod(0o755)
    assert build_source_tar(root, second) == members == GOLDEN_FILES
    assert first.read_bytes() == second.read_bytes()
    assert gzip.decompress(first.read_bytes())  # a valid gzip stream
    assert first.read_bytes()[4:8] == b"\x00\x00\x00\x00"  # gzip header mtime 0
    with tarfile.open(first) as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == GOLDEN_FILES
    assert all(i.isreg() and i.mtime == 0 and i.mode == 0o644 for i in infos)
    assert all(i.uid == i.gid == 0 and i.uname == i.gname == "" for i in infos)


def test_dir_hash_equals_archive_hash(tmp_path: Path) -> None:
    root = write_golden_tree(tmp_path / "golden")
    tar = tmp_path / SOURCE
    build_source_tar(root, tar)
    info = inspect_source(tar, SOURCE, LIMITS)
    assert info.content_hash == content_hash_of_dir(root) == PRIME_GOLDEN_HASH
    assert [f.path for f in info.files] == GOLDEN_FILES
    core = next(f for f in info.files if f.path == "pkg/core.py")
    assert core.sha256 == hashlib.sha256(b"x = 1\n").hexdigest()
