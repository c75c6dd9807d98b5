"""Safe extraction of a downloaded source archive.

A source archive is someone else's data: members with absolute paths, `..` segments,
links or device nodes could write outside the destination, so they are refused
outright (not skipped) and nothing is written. Only regular files and directories are
extracted, into a fresh directory that is moved into place at the end.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from hub.cli.client import CLIError


class UnsafeArchiveError(CLIError):
    """The archive tried to escape its destination or contains links/devices."""


def _checked_name(member: tarfile.TarInfo) -> PurePosixPath:
    name = member.name
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or path.is_absolute()
        or ".." in path.parts
        or (path.parts and ":" in path.parts[0])  # a Windows drive such as C:
        or (not path.parts and not member.isdir())  # a file named "." or "./"
    ):
        raise UnsafeArchiveError(
            f"The archive member '{name}' points outside the destination; refusing to extract.",
            hint="Report this environment to the hub's operators.",
        )
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(
            f"The archive member '{name}' is a link or special file; refusing to extract.",
            hint="Report this environment to the hub's operators.",
        )
    return path


def safe_extract(archive: Path, dest: Path) -> list[str]:
    """Extract the gzip tar `archive` to `dest` (which must not exist or be empty).

    Returns the extracted file names. Either every member is extracted or none is.
    """
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise CLIError(f"{dest} already exists and is not empty.", hint="Pass another --dest.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".envhub-pull-", dir=dest.parent))
    try:
        files = _extract_into(archive, staging)
        if dest.exists():
            dest.rmdir()  # empty (checked above)
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return files


def _extract_into(archive: Path, staging: Path) -> list[str]:
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            return _extract_members(tar, staging)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise CLIError(
            f"{archive.name} is not a readable archive: {exc}", hint="Try again."
        ) from exc


def _extract_members(tar: tarfile.TarFile, staging: Path) -> list[str]:
    files: list[str] = []
    seen: set[str] = set()
    members = tar.getmembers()
    # Validate everything before writing anything.
    checked = [(member, _checked_name(member)) for member in members]
    for member, rel in checked:
        key = rel.as_posix()
        if member.isfile() and key in seen:
            raise UnsafeArchiveError(
                f"The archive lists '{key}' twice; refusing to extract.",
                hint="Report this environment to the hub's operators.",
            )
        seen.add(key)
    for member, rel in checked:
        target = staging.joinpath(*rel.parts)
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:  # cannot happen for a regular file; be explicit anyway
            raise UnsafeArchiveError(f"Cannot read '{rel}'.", hint="Try again.")
        with source, target.open("xb") as out:
            shutil.copyfileobj(source, out)
        # Keep only the executable bit from the archive; never setuid and friends.
        target.chmod(0o755 if member.mode & 0o111 else 0o644)
        files.append(rel.as_posix())
    return sorted(files)
