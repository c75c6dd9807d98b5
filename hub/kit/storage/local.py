"""Blob storage on local disk: the embedded default."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from hub.kit.storage.base import _TMP_PREFIX, check_key


class LocalStorage:
    """Files under `root`; the embedded default. Presigned URLs are the hub's own job."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*PurePosixPath(check_key(key)).parts)

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str = "application/octet-stream",  # noqa: ARG002 - disk keeps no metadata
    ) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Same directory as the target so os.replace is a same-filesystem atomic rename.
        fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
        written = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(1 << 20):
                    out.write(chunk)
                    written += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return written

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path.open("rb")

    def iter_chunks(self, key: str, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        handle = self.open(key)  # opened eagerly so a missing key fails here

        def chunks() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(chunk_size):
                    yield chunk

        return chunks()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path.stat().st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def copy(self, src: str, dst: str) -> None:
        with self.open(src) as handle:
            self.put_stream(dst, handle)

    def list_keys(self, prefix: str) -> Iterator[str]:
        # Walk only the deepest directory the prefix names; filter the rest by string prefix.
        directory = PurePosixPath(prefix.rsplit("/", 1)[0] if "/" in prefix else "")
        if directory.is_absolute() or ".." in directory.parts:
            raise ValueError(f"invalid storage prefix: {prefix!r}")
        base = self.root.joinpath(*directory.parts)
        found: list[str] = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(_TMP_PREFIX):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        return iter(sorted(found))

    # The hub issues its own signed URLs (hub.kit.signing) and streams bytes for this backend.
    def presigned_put_url(self, key: str, *, expires_in: int, content_length: int) -> str | None:  # noqa: ARG002
        check_key(key)
        return None

    def presigned_get_url(
        self,
        key: str,
        *,
        expires_in: int,  # noqa: ARG002
        filename: str | None = None,  # noqa: ARG002
    ) -> str | None:
        check_key(key)
        return None
