"""The content hash: the identity of an environment version, shared by CLI and server.

Recipe (PRIME_COMPAT.md, checked against `prime_cli.commands.env` of prime 0.18.0):
SHA-256 over the selected files sorted by relative POSIX path; for each file feed
`b"file:" + relpath.encode()` then the file's bytes, with no separators.

File selection mirrors the prime client's `_collect_archive_files` so a directory pushed
with `prime env push` and with our CLI gets the same hash:

- in the root only `README.md`, `pyproject.toml` and `*.py`;
- every file under the root's subdirectories;
- never hidden names (leading '.'), symlinked files, non-regular files, or directories
  named `__pycache__`, `dist`, `build`, `outputs` or `*.egg-info`, at any depth;
- nothing the root `.gitignore` ignores (directories are pruned, so a negation cannot
  re-include a file inside an ignored directory, as in git).

Two client behaviours kept on purpose: a *top-level* subdirectory that is a symlink to a
directory is followed (prime uses `Path.is_dir()` + `os.walk(subdir)`), while symlinked
directories deeper down are not. The client matches `.gitignore` with `gitignore_parser`;
we use pathspec's git semantics, which agree on ordinary patterns (see the quirks
listed in `_ignored`).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from pathspec import GitIgnoreSpec

ROOT_FILE_NAMES = frozenset({"README.md", "pyproject.toml"})
PRUNED_DIR_NAMES = frozenset({"__pycache__", "dist", "build", "outputs"})
_CHUNK = 1024 * 1024

HashItem = tuple[str, bytes | BinaryIO]


def _is_pruned_dir(name: str) -> bool:
    return name.startswith(".") or name in PRUNED_DIR_NAMES or name.endswith(".egg-info")


def _is_regular_file(path: Path) -> bool:
    # lstat: a symlink to a file is skipped (the client skips them: they break extraction).
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _load_gitignore(root: Path) -> GitIgnoreSpec | None:
    path = root / ".gitignore"
    if not path.is_file():
        return None
    text = path.read_bytes().decode("utf-8", errors="replace")
    return GitIgnoreSpec.from_lines(text.splitlines())


def _ignored(spec: GitIgnoreSpec | None, relpath: str, *, is_dir: bool) -> bool:
    """Whether the root .gitignore ignores `relpath`.

    Directories are matched with a trailing '/', as git does, so `foo/` ignores only
    directories. (gitignore_parser, used by the prime client, also ignores a *file*
    named `foo` for `foo/`, and never applies a negated `!foo/`; both are rare.)
    """
    if spec is None:
        return False
    return spec.match_file(relpath + "/" if is_dir else relpath)


def select_source_files(root: Path) -> list[str]:
    """Relative POSIX paths, sorted, of the files that make up the environment."""
    root = Path(root)
    spec = _load_gitignore(root)
    selected: list[str] = []
    entries = sorted(root.iterdir(), key=lambda p: p.name)

    for entry in entries:
        name = entry.name
        wanted = name in ROOT_FILE_NAMES or name.endswith(".py")
        if (
            wanted
            and not name.startswith(".")
            and _is_regular_file(entry)
            and not _ignored(spec, name, is_dir=False)
        ):
            selected.append(name)

    for entry in entries:
        # is_dir() follows a symlink here on purpose: the client walks top-level links.
        if not entry.is_dir() or _is_pruned_dir(entry.name):
            continue
        if _ignored(spec, entry.name, is_dir=True):
            continue
        # os.walk (followlinks=False) lists but never descends into nested symlinked dirs.
        for dirpath, dirnames, filenames in os.walk(entry):
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not _is_pruned_dir(d) and not _ignored(spec, f"{rel_dir}/{d}", is_dir=True)
            )
            for filename in filenames:
                relpath = f"{rel_dir}/{filename}"
                if (
                    not filename.startswith(".")
                    and _is_regular_file(Path(dirpath) / filename)
                    and not _ignored(spec, relpath, is_dir=False)
                ):
                    selected.append(relpath)

    return sorted(selected)


class ContentHasher:
    """The recipe, incrementally: `start_file(relpath)` then `update(chunk)`s, per file.

    Files must come in strictly increasing relpath order (the order of `sorted()`), which
    is how a sorted tar streams; anything else would silently give another hash.
    """

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.last_path: str | None = None

    def start_file(self, relpath: str) -> None:
        if self.last_path is not None and relpath <= self.last_path:
            raise ValueError(
                f"content hash input duplicated or out of order: {relpath!r} after "
                f"{self.last_path!r}"
            )
        self.last_path = relpath
        self._sha.update(b"file:" + relpath.encode("utf-8"))

    def update(self, chunk: bytes) -> None:
        self._sha.update(chunk)

    def add(self, relpath: str, data: bytes | BinaryIO) -> None:
        """One whole file: bytes, or a binary file object read to its end (not closed)."""
        self.start_file(relpath)
        if isinstance(data, bytes | bytearray | memoryview):
            self.update(data)
            return
        while chunk := data.read(_CHUNK):
            self.update(chunk)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def content_hash_of_files(items: Iterable[HashItem]) -> str:
    """SHA-256 hex of (relpath, bytes or binary file object) pairs, in relpath order.

    Readables are consumed but not closed. Duplicate paths are a caller bug: ValueError.
    """
    hasher = ContentHasher()
    for relpath, data in sorted(items, key=lambda item: item[0]):
        hasher.add(relpath, data)
    return hasher.hexdigest()


def content_hash_of_dir(root: Path) -> str:
    """The content hash of an environment directory (one file open at a time)."""
    root = Path(root)
    hasher = ContentHasher()
    for relpath in select_source_files(root):
        with (root / relpath).open("rb") as fh:
            hasher.add(relpath, fh)
    return hasher.hexdigest()


def build_source_tar(root: Path, dest: Path) -> list[str]:
    """Write a gzip tar of exactly the selected files to `dest`; return the member names.

    Deterministic (same files, same bytes): sorted members, regular files only, mtime 0,
    uid/gid 0, no user names, mode 0o644, and a gzip header without name or timestamp.
    """
    root = Path(root)
    members = select_source_files(root)
    with (
        Path(dest).open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for relpath in members:
            with (root / relpath).open("rb") as fh:
                info = tarfile.TarInfo(relpath)
                info.size = os.fstat(fh.fileno()).st_size
                info.mtime = 0
                info.mode = 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, fh)
    return members
