"""Safe inspection of uploaded wheels and source archives, with no extraction to disk.

Both inspections read the whole archive once, so a file that passes is known to be
complete (every zip CRC and the gzip CRC checked) and within the operator's limits.
Refusals are `InvalidArchive` with the stable codes documented in `archive_safety`.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import struct
import tarfile
import tempfile
import tomllib
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from packaging.metadata import parse_email
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from hub.kit.contenthash import ContentHasher
from hub.kit.errors import InvalidArchive, NotFound
from hub.registry.archive_safety import (
    CHUNK,
    TAR_OVERHEAD_FIXED,
    TAR_OVERHEAD_PER_MEMBER,
    ArchiveLimits,
    LimitedStream,
    MemberRegistry,
    SafeTarInfo,
    check_ratio,
    check_zip_mode,
    human,
    member_path,
    refuse_link,
    refuse_special,
)
from hub.registry.runtime import Runtime, runtime_from_requires

__all__ = [
    "ArchiveLimits",
    "SourceFile",
    "SourceInfo",
    "WheelInfo",
    "inspect_source",
    "inspect_wheel",
    "read_source_member",
    "runtime_from_requires",
]

# Small files read whole into memory; anything larger is refused (METADATA) or cut.
MAX_METADATA_BYTES = 8 * 1024 * 1024
MAX_README_BYTES = 1024 * 1024
MAX_PYPROJECT_BYTES = 1024 * 1024

_METADATA_PATH = re.compile(r"[^/]+\.dist-info/METADATA")
# `<name>-<version>[-<hash8>].tar.gz`, as the prime client and our CLI name them.
_SOURCE_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]{0,250}\.tar\.gz")
# OSError: a bogus offset makes zipfile seek to a negative position (EINVAL). The file
# itself is opened and stat'ed outside these guards, so real I/O errors still surface.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    struct.error,
    UnicodeDecodeError,
    OSError,
)
_TAR_ERRORS = (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error)


@dataclass(frozen=True)
class WheelInfo:
    name: str
    normalized_name: str
    version: str
    requires_dist: list[str]
    requires_python: str | None
    summary: str | None
    license: str | None
    keywords: list[str]
    description: str | None
    description_content_type: str | None
    runtime: Runtime
    metadata_bytes: bytes = field(repr=False)

    @property
    def tags(self) -> list[str]:
        return self.keywords


@dataclass(frozen=True)
class SourceFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class SourceInfo:
    files: list[SourceFile]
    readme: str | None
    pyproject: dict[str, Any] | None
    content_hash: str


# --- wheels -------------------------------------------------------------------------


def _corrupt(filename: str, kind: str, err: Exception, fix: str) -> InvalidArchive:
    return InvalidArchive(
        f"{filename} is not a valid {kind} ({err}). {fix}", code="archive-corrupt"
    )


def _check_zip(zf: zipfile.ZipFile, archive_size: int, limits: ArchiveLimits) -> None:
    infos = zf.infolist()
    if len(infos) > limits.max_files:
        raise InvalidArchive(
            f"The wheel has {len(infos)} members, over the limit of {limits.max_files}. "
            "Exclude data or generated files from the package.",
            code="archive-too-many-files",
        )
    registry = MemberRegistry(limits)
    for info in infos:
        path = member_path(info.filename)
        check_zip_mode(info.filename, info.external_attr)
        if info.flag_bits & 0x1:
            raise InvalidArchive(
                f"Wheel member {info.filename!r} is encrypted. Rebuild the wheel without "
                "encryption.",
                code="archive-corrupt",
            )
        registry.add(info.filename, path, is_dir=info.is_dir(), size=info.file_size)
    # zipfile never yields more than a member's declared size (it stops and checks the
    # CRC there), so declared sizes bound the real output and the ratio is sound.
    check_ratio(registry.declared_bytes, archive_size, limits, "across the whole wheel")
    for info in infos:
        if info.is_dir():
            continue
        try:
            with zf.open(info) as fh:
                while fh.read(CHUNK):
                    pass
        except _ZIP_ERRORS as err:
            raise InvalidArchive(
                f"Wheel member {info.filename!r} is corrupt ({err}). Rebuild the wheel and "
                "upload it again.",
                code="archive-corrupt",
            ) from None


def _find_metadata(zf: zipfile.ZipFile, filename: str) -> zipfile.ZipInfo:
    found = [i for i in zf.infolist() if _METADATA_PATH.fullmatch(member_path(i.filename))]
    if not found:
        raise InvalidArchive(
            f"{filename} has no <name>-<version>.dist-info/METADATA file. Build the wheel "
            "with a standard backend (`uv build --wheel` or `python -m build --wheel`).",
            code="wheel-metadata-missing",
        )
    if len(found) > 1:
        names = ", ".join(repr(i.filename) for i in found)
        raise InvalidArchive(
            f"{filename} has several METADATA files ({names}); a wheel must have exactly "
            "one .dist-info directory. Rebuild it from a clean tree.",
            code="wheel-metadata-ambiguous",
        )
    info = found[0]
    if info.file_size > MAX_METADATA_BYTES:
        raise InvalidArchive(
            f"Wheel member {info.filename!r} is {human(info.file_size)}, over the "
            f"{human(MAX_METADATA_BYTES)} limit for METADATA. Shorten the README.",
            code="archive-too-large",
        )
    return info


def _mismatch(filename: str, what: str) -> InvalidArchive:
    return InvalidArchive(
        f"{filename}: {what}. The filename, the .dist-info directory and METADATA must "
        "agree; rebuild the wheel instead of renaming it.",
        code="wheel-metadata-mismatch",
    )


def _keywords(raw: list[str]) -> list[str]:
    # Keywords is comma-separated by the spec, but some tools write spaces instead.
    words = raw[0].split() if len(raw) == 1 else raw
    return list(dict.fromkeys(w.strip() for w in words if w.strip()))


def inspect_wheel(path: Path, filename: str, limits: ArchiveLimits) -> WheelInfo:
    """Validate a wheel and read its metadata; `filename` is the name it was uploaded as."""
    try:
        if "/" in filename or "\\" in filename:
            raise InvalidWheelFilename(filename)
        wheel_name, wheel_version, _, _ = parse_wheel_filename(filename)
    except InvalidWheelFilename as err:
        raise InvalidArchive(
            f"{filename!r} is not a valid wheel filename ({err}). Expected "
            "<name>-<version>-<python>-<abi>-<platform>.whl, as built by `uv build --wheel`.",
            code="wheel-filename-invalid",
        ) from None
    fix = "Rebuild the wheel (`uv build --wheel`) and upload it again."
    archive_size = Path(path).stat().st_size
    try:
        with zipfile.ZipFile(path) as zf:
            _check_zip(zf, archive_size, limits)
            meta = _find_metadata(zf, filename)
            metadata_bytes = zf.read(meta)
    except _ZIP_ERRORS as err:
        raise _corrupt(filename, "wheel (zip archive)", err, fix) from None

    dist_info = member_path(meta.filename).split("/")[0].removesuffix(".dist-info")
    di_name, _, di_version = dist_info.rpartition("-")
    raw, _unparsed = parse_email(metadata_bytes)
    name, version_text = raw.get("name"), raw.get("version")
    if not name or not version_text:
        raise _mismatch(filename, "METADATA lacks a Name or Version field")
    try:
        version = Version(version_text)
    except InvalidVersion:
        raise _mismatch(filename, f"version {version_text!r} is not valid PEP 440") from None
    try:
        di_matches = Version(di_version) == wheel_version
    except InvalidVersion:
        di_matches = False
    if canonicalize_name(name) != wheel_name:
        raise _mismatch(filename, f"METADATA Name is {name!r} but the filename says {wheel_name!r}")
    if version != wheel_version:
        raise _mismatch(
            filename, f"METADATA Version is {version} but the filename says {wheel_version}"
        )
    if canonicalize_name(di_name) != wheel_name or not di_matches:
        raise _mismatch(filename, f"the metadata directory is {dist_info}.dist-info")

    requires = raw.get("requires_dist", [])
    return WheelInfo(
        name=name,
        normalized_name=canonicalize_name(name),
        version=str(version),
        requires_dist=requires,
        requires_python=raw.get("requires_python"),
        summary=raw.get("summary"),
        license=raw.get("license_expression") or raw.get("license"),
        keywords=_keywords(raw.get("keywords", [])),
        description=raw.get("description"),
        description_content_type=raw.get("description_content_type"),
        runtime=runtime_from_requires(requires),
        metadata_bytes=metadata_bytes,
    )


# --- source archives ------------------------------------------------------------------


@contextmanager
def _open_tar(
    path: Path, limits: ArchiveLimits | None
) -> Iterator[tuple[tarfile.TarFile, LimitedStream]]:
    """Stream a .tar.gz: sequential reads, real decompressed bytes counted and capped."""
    size = Path(path).stat().st_size
    if limits is None:  # an already-validated archive: no limits, still streaming
        limits = ArchiveLimits(2**62, 2**62, float("inf"), 2**62)
    cap = limits.max_uncompressed_bytes + TAR_OVERHEAD_FIXED
    cap += TAR_OVERHEAD_PER_MEMBER * limits.max_files
    with Path(path).open("rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
        stream = LimitedStream(cast(BinaryIO, gz), compressed_size=size, cap=cap, limits=limits)
        fileobj = cast(BinaryIO, stream)
        with tarfile.open(fileobj=fileobj, mode="r|", tarinfo=SafeTarInfo) as tar:
            yield tar, stream


def _check_tar_member(info: tarfile.TarInfo) -> None:
    if info.issym() or info.islnk():
        refuse_link(info.name, info.linkname)
    if info.ischr() or info.isblk():
        refuse_special(info.name, "device file")
    if info.isfifo():
        refuse_special(info.name, "FIFO")
    if info.issparse():
        refuse_special(info.name, "sparse file")
    if not (info.isreg() or info.isdir()):
        refuse_special(info.name, f"tar entry of unsupported type {info.type!r}")


def _read_member(tar: tarfile.TarFile, info: tarfile.TarInfo) -> BinaryIO:
    fh = tar.extractfile(info)
    assert fh is not None  # regular members always have a file object
    return cast(BinaryIO, fh)


def _hash_unsorted(path: Path, limits: ArchiveLimits) -> str:
    """Content hash when members are not in sorted order: spool, then hash in order.

    Streaming gzip cannot seek back cheaply, so bytes go to one anonymous temp file
    (bounded by the limits the first pass already enforced; no member is materialized).
    """
    index: list[tuple[str, int, int]] = []
    hasher = ContentHasher()
    with tempfile.TemporaryFile() as spool, _open_tar(path, limits) as (tar, _):
        for info in tar:
            if info.isreg():
                index.append((member_path(info.name), spool.tell(), info.size))
                shutil.copyfileobj(_read_member(tar, info), spool, CHUNK)
        for relpath, offset, size in sorted(index):
            spool.seek(offset)
            hasher.start_file(relpath)
            while size > 0:
                chunk = spool.read(min(CHUNK, size))
                hasher.update(chunk)
                size -= len(chunk)
    return hasher.hexdigest()


def inspect_source(path: Path, filename: str, limits: ArchiveLimits) -> SourceInfo:
    """Validate a source .tar.gz, list its files and compute its content hash."""
    if not _SOURCE_FILENAME.fullmatch(filename):
        raise InvalidArchive(
            f"{filename!r} is not a valid source archive name: expected "
            "<name>-<version>[-<hash8>].tar.gz using letters, digits and . _ + ! -.",
            code="source-filename-invalid",
        )
    files: list[SourceFile] = []
    small: dict[str, bytearray] = {"README.md": bytearray(), "pyproject.toml": bytearray()}
    caps = {"README.md": MAX_README_BYTES, "pyproject.toml": MAX_PYPROJECT_BYTES + 1}
    hasher: ContentHasher | None = ContentHasher()
    registry = MemberRegistry(limits)
    where = "at the start of the archive"
    try:
        with _open_tar(path, limits) as (tar, stream):
            for info in tar:
                where = stream.where = f"at member {info.name!r}"
                relpath = member_path(info.name)
                _check_tar_member(info)
                registry.add(info.name, relpath, is_dir=info.isdir(), size=info.size)
                if info.isdir():
                    continue
                if hasher is not None and files and relpath < files[-1].path:
                    hasher = None  # out of order: a second pass hashes it
                if hasher is not None:
                    hasher.start_file(relpath)
                digest, keep = hashlib.sha256(), small.get(relpath)
                fh = _read_member(tar, info)
                while chunk := fh.read(CHUNK):
                    digest.update(chunk)
                    if hasher is not None:
                        hasher.update(chunk)
                    if keep is not None and len(keep) < caps[relpath]:
                        keep += chunk[: caps[relpath] - len(keep)]
                files.append(SourceFile(relpath, info.size, digest.hexdigest()))
            where = stream.where = "after the last member"
            stream.drain()
    except _TAR_ERRORS as err:
        fix = "Rebuild it (`envhub push` or `prime env push`) and upload it again."
        raise _corrupt(filename, f"gzip-compressed tar archive; {where}", err, fix) from None

    present = {f.path for f in files}
    pyproject: dict[str, Any] | None = None
    raw_pyproject = bytes(small["pyproject.toml"])
    if "pyproject.toml" in present and len(raw_pyproject) <= MAX_PYPROJECT_BYTES:
        try:
            pyproject = tomllib.loads(raw_pyproject.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            pyproject = None  # stored as-is; the source browser still shows the text
    readme = small["README.md"].decode("utf-8", "replace") if "README.md" in present else None
    content_hash = hasher.hexdigest() if hasher is not None else _hash_unsorted(path, limits)
    return SourceInfo(
        files=sorted(files, key=lambda f: f.path),
        readme=readme,
        pyproject=pyproject,
        content_hash=content_hash,
    )


def read_source_member(path: Path, member: str, max_bytes: int) -> tuple[bytes, bool]:
    """(content, truncated): the first `max_bytes` of one file of a stored source archive.

    Meant for archives that passed `inspect_source`; streams until the member is found.
    """
    try:
        wanted = member_path(member)
    except InvalidArchive:
        raise NotFound(f"No file {member!r} in this version's source.") from None
    try:
        with _open_tar(path, None) as (tar, _):
            for info in tar:
                try:
                    relpath = member_path(info.name)
                except InvalidArchive:
                    continue
                if relpath != wanted:
                    continue
                if not info.isreg():
                    break
                fh = _read_member(tar, info)
                data = fh.read(max(max_bytes, 0))
                return data, info.size > len(data)
    except _TAR_ERRORS as err:
        raise _corrupt(path.name, "gzip-compressed tar archive", err, "Re-upload it.") from None
    raise NotFound(f"No file {member!r} in this version's source.")
