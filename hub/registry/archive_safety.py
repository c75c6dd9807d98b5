"""Building blocks for reading untrusted archives without extracting them.

Nothing here writes a member to disk. Every refusal is an `InvalidArchive` whose `code`
is stable (clients branch on it) and whose detail names the member and the fix:

archive-corrupt          not a zip / gzip tar, bad CRC, truncated, encrypted, non-UTF-8 name
archive-absolute-path    '/x', 'C:/x'
archive-path-traversal   a '..' component, a backslash or NUL, a file with an empty name
archive-link             tar symlink or hardlink; zip entry with symlink mode bits
archive-special-file     devices, FIFOs, sockets, sparse or unknown tar entry types
archive-too-many-files   more members than `max_files`
archive-too-large        a member over `max_member_bytes`, or the total over
                         `max_uncompressed_bytes` (tar.gz: also the real decompressed stream)
archive-bomb             decompressed / compressed size over `max_ratio`
archive-duplicate-member the same path twice (after './' normalization), or file vs dir
(wheel-* and source-filename-invalid are raised in `archive`.)
"""

from __future__ import annotations

import re
import stat
import tarfile
from dataclasses import dataclass
from typing import BinaryIO, Self

from hub.kit.errors import InvalidArchive

CHUNK = 1024 * 1024
# pax / GNU long-name headers are read whole into memory by tarfile: cap them.
MAX_TAR_META_BYTES = 1024 * 1024
# The decompressed tar stream carries headers and padding besides file bytes.
TAR_OVERHEAD_PER_MEMBER = 4096
TAR_OVERHEAD_FIXED = 64 * 1024

_DRIVE = re.compile(r"^[A-Za-z]:")
_META_TYPES = frozenset(
    {tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
     tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK}
)  # fmt: skip


@dataclass(frozen=True)
class ArchiveLimits:
    max_files: int
    max_uncompressed_bytes: int
    max_ratio: float
    max_member_bytes: int
    # Tiny archives have high ratios for innocent reasons (a 10 KiB tar of zero padding
    # gzips to ~100 bytes), so the ratio is only judged past this many bytes.
    ratio_floor_bytes: int = 1024 * 1024


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def member_path(name: str) -> str:
    """The normalized relative POSIX path of a member name ('' for the root itself).

    './' prefixes and doubled slashes are dropped; anything that could land outside the
    extraction root on any OS is refused.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArchive(
            f"Archive member {name!r} has a name that is not valid UTF-8. Rename the file "
            "with a UTF-8 name and rebuild the archive.",
            code="archive-corrupt",
        ) from None
    if "\\" in name or "\x00" in name:
        raise InvalidArchive(
            f"Archive member {name!r} contains a backslash or NUL, which some systems read "
            "as a path separator. Rename it (use '/' between directories) and rebuild.",
            code="archive-path-traversal",
        )
    if name.startswith("/") or _DRIVE.match(name):
        raise InvalidArchive(
            f"Archive member {name!r} has an absolute path. Archives may only contain "
            "paths relative to the project root; rebuild it from inside the project.",
            code="archive-absolute-path",
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArchive(
            f"Archive member {name!r} contains a '..' component that would escape the "
            "archive root. Remove it and rebuild the archive.",
            code="archive-path-traversal",
        )
    return "/".join(parts)


class MemberRegistry:
    """Counts members and refuses duplicates, including a path used as file and dir."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.count = 0
        self.declared_bytes = 0
        self.files: set[str] = set()
        self.dirs: set[str] = set()

    def add(self, raw_name: str, path: str, *, is_dir: bool, size: int) -> None:
        self.count += 1
        if self.count > self.limits.max_files:
            raise InvalidArchive(
                f"The archive has more than {self.limits.max_files} members (stopped at "
                f"{raw_name!r}). Exclude generated or data files (e.g. via .gitignore).",
                code="archive-too-many-files",
            )
        if not is_dir and not path:
            raise InvalidArchive(
                f"Archive member {raw_name!r} is a file without a name. Rebuild the archive.",
                code="archive-path-traversal",
            )
        parents = path.split("/")[:-1]
        for i in range(1, len(parents) + 1):
            prefix = "/".join(parents[:i])
            if prefix in self.files:
                self._duplicate(raw_name, f"'{prefix}' is also a file")
            self.dirs.add(prefix)
        if is_dir:
            if path in self.files:
                self._duplicate(raw_name, f"'{path}' is also a file")
            self.dirs.add(path)
            return
        if path in self.files:
            self._duplicate(raw_name, f"'{path}' appears twice")
        if path in self.dirs:
            self._duplicate(raw_name, f"'{path}' is also a directory")
        self.files.add(path)
        self.check_size(raw_name, size)

    def check_size(self, raw_name: str, size: int) -> None:
        limits = self.limits
        if size > limits.max_member_bytes:
            raise InvalidArchive(
                f"Archive member {raw_name!r} is {size:,} bytes, over the "
                f"{limits.max_member_bytes:,}-byte ({human(limits.max_member_bytes)}) per-file "
                "limit. Keep large data out of the package (download it at run time) or ask "
                "the operator to raise the limit.",
                code="archive-too-large",
            )
        self.declared_bytes += size
        if self.declared_bytes > limits.max_uncompressed_bytes:
            raise InvalidArchive(
                f"The archive's files add up to more than "
                f"{human(limits.max_uncompressed_bytes)} uncompressed (reached at member "
                f"{raw_name!r}). Exclude large data files from the package.",
                code="archive-too-large",
            )

    @staticmethod
    def _duplicate(raw_name: str, why: str) -> None:
        raise InvalidArchive(
            f"Archive member {raw_name!r} collides with another member: {why}. Each path "
            "may appear once; rebuild the archive from a clean directory.",
            code="archive-duplicate-member",
        )


def check_ratio(total: int, compressed_size: int, limits: ArchiveLimits, where: str) -> None:
    if total <= limits.ratio_floor_bytes:
        return
    if total > limits.max_ratio * max(compressed_size, 1):
        raise InvalidArchive(
            f"The archive expands to more than {limits.max_ratio:g}x its compressed size "
            f"({human(total)} from {human(compressed_size)}, {where}); this looks like a "
            "decompression bomb. Upload ordinary, less compressible content.",
            code="archive-bomb",
        )


def refuse_link(raw_name: str, target: str | None) -> None:
    to = f" pointing to {target!r}" if target else ""
    raise InvalidArchive(
        f"Archive member {raw_name!r} is a link{to}. Links are not allowed; replace it with "
        "a copy of the file it points to and rebuild the archive.",
        code="archive-link",
    )


def refuse_special(raw_name: str, kind: str) -> None:
    raise InvalidArchive(
        f"Archive member {raw_name!r} is a {kind}. Only regular files and directories are "
        "allowed; remove it and rebuild the archive.",
        code="archive-special-file",
    )


def check_zip_mode(raw_name: str, external_attr: int) -> None:
    """Refuse zip entries whose Unix mode bits say symlink or special file."""
    mode = external_attr >> 16
    # Many writers (zipfile.writestr included) store permission bits with no file type.
    if stat.S_IFMT(mode) in (0, stat.S_IFREG, stat.S_IFDIR):
        return
    if stat.S_ISLNK(mode):
        refuse_link(raw_name, None)
    refuse_special(raw_name, "device, FIFO or socket")


class SafeTarInfo(tarfile.TarInfo):
    """Refuses oversized pax/GNU long-name headers before tarfile reads them into memory."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        info = super().frombuf(buf, encoding, errors)
        if info.type in _META_TYPES and info.size > MAX_TAR_META_BYTES:
            raise InvalidArchive(
                f"A tar extended header (before member {info.name!r}) is {human(info.size)}, "
                f"over the {human(MAX_TAR_META_BYTES)} limit. Rebuild the archive.",
                code="archive-too-large",
            )
        return info


class LimitedStream:
    """A read-only view of a decompressing stream that counts the *real* output.

    Headers can lie about sizes; this is what actually comes out of the decompressor.
    It raises as soon as the output passes the byte cap or the compression-ratio limit,
    so a bomb is never decompressed beyond the limit.
    """

    def __init__(
        self, inner: BinaryIO, *, compressed_size: int, cap: int, limits: ArchiveLimits
    ) -> None:
        self._inner = inner
        self._compressed_size = compressed_size
        self._cap = cap
        self._limits = limits
        self.total = 0
        self.where = "at the start of the archive"  # updated by the caller for messages

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            parts = []
            while chunk := self.read(CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        data = self._inner.read(min(size, CHUNK))
        self.total += len(data)
        check_ratio(self.total, self._compressed_size, self._limits, self.where)
        if self.total > self._cap:
            raise InvalidArchive(
                f"The archive decompresses to more than {human(self._cap)} ({self.where}), "
                "over the size limit. Exclude large data files from the package.",
                code="archive-too-large",
            )
        return data

    def drain(self) -> None:
        """Read to the end: verifies the gzip CRC and counts trailing data as well."""
        while self.read(CHUNK):
            pass
