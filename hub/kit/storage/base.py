"""The storage interface every backend implements, and the key rules they share."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO, Protocol

_SHA256 = re.compile(r"[0-9a-f]{64}")
# Temp files of in-flight local writes; keys may not use this prefix so listings can skip them.
_TMP_PREFIX = ".tmp-"


def blob_key(sha256_hex: str) -> str:
    """Content-addressed key; two levels of fan-out keep directories small on disk."""
    if not _SHA256.fullmatch(sha256_hex):
        raise ValueError(f"not a lowercase sha256 hex digest: {sha256_hex!r}")
    return f"blobs/{sha256_hex[:2]}/{sha256_hex[2:4]}/{sha256_hex}"


def check_key(key: str) -> str:
    """Reject keys that could escape the store's root or collide with temp files."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"invalid storage key: {key!r}")
    for part in key.split("/"):
        if part in ("", ".", "..") or part.startswith(_TMP_PREFIX):
            raise ValueError(f"invalid storage key: {key!r}")
    return key


class Storage(Protocol):
    def put_stream(
        self, key: str, stream: BinaryIO, *, content_type: str = "application/octet-stream"
    ) -> int:
        """Store the stream's bytes atomically in bounded memory; return the byte count."""
        ...

    def open(self, key: str) -> BinaryIO:
        """Raises FileNotFoundError."""
        ...

    def iter_chunks(self, key: str, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        """Raises FileNotFoundError when called, not when first iterated."""
        ...

    def size(self, key: str) -> int:
        """Raises FileNotFoundError."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Deleting a missing key is not an error."""
        ...

    def copy(self, src: str, dst: str) -> None:
        """Raises FileNotFoundError if src is missing."""
        ...

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Keys starting with `prefix` (a string prefix, as in S3), in sorted order."""
        ...

    def presigned_put_url(self, key: str, *, expires_in: int, content_length: int) -> str | None:
        """A URL a client may PUT exactly `content_length` bytes to, or None if unsupported."""
        ...

    def presigned_get_url(
        self, key: str, *, expires_in: int, filename: str | None = None
    ) -> str | None:
        """A time-limited download URL, or None when the hub must stream the bytes itself."""
        ...
