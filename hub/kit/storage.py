"""Blob storage: one small interface, a local-disk backend and an S3 backend.

Modelled on Warehouse's file storage: callers never see backend exceptions for a missing
object, only `FileNotFoundError`, so services stay backend-agnostic. Keys are relative
POSIX paths; package files are content-addressed under `blob_key()`.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast
from urllib.parse import quote, urlparse

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

    from hub.kit.settings import Settings

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


_PART_SIZE = 8 * 1024 * 1024  # S3 parts must be >= 5 MiB (except the last); one is buffered
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class _BodyReader(io.RawIOBase):
    """Adapts botocore's StreamingBody to a raw stream so callers get a real BinaryIO."""

    def __init__(self, body: StreamingBody) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _content_disposition(filename: str) -> str:
    # Plain ASCII fallback plus RFC 6266 filename* so odd names neither break nor inject.
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class S3Storage:
    """Any S3 API (AWS, MinIO, R2). The client is built on first use, never at import."""

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
    ) -> None:
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self._access_key = access_key
        self._secret_key = secret_key
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client_obj: S3Client | None = None
        self._lock = threading.Lock()

    @property
    def _client(self) -> S3Client:
        if self._client_obj is None:
            with self._lock:  # several request threads may race to build the first client
                if self._client_obj is None:
                    client = self._build_client()
                    self._ensure_bucket(client)
                    self._client_obj = client
        return self._client_obj

    def _build_client(self) -> S3Client:
        import boto3
        from botocore.config import Config

        # Path-style addressing for custom endpoints: MinIO and moto then need no DNS tricks.
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
        )
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self._access_key,
            aws_secret_access_key=self._secret_key,
            config=config,
        )

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (also done automatically on first use)."""
        if self._client_obj is None:
            self._client  # noqa: B018 - building the client ensures the bucket
        else:
            self._ensure_bucket(self._client_obj)

    def _ensure_bucket(self, client: S3Client) -> None:
        from botocore.exceptions import ClientError

        try:
            client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("403", "AccessDenied"):
                return  # it exists, but credentials may not HeadBucket: leave it alone
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise
        try:
            if self.region == "us-east-1":  # the one region S3 refuses a LocationConstraint for
                client.create_bucket(Bucket=self.bucket)
            else:
                location = cast("BucketLocationConstraintType", self.region)
                client.create_bucket(
                    Bucket=self.bucket,
                    CreateBucketConfiguration={"LocationConstraint": location},
                )
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass  # another process won the race

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put_stream(
        self, key: str, stream: BinaryIO, *, content_type: str = "application/octet-stream"
    ) -> int:
        client, full = self._client, self._key(key)
        first = _read_part(stream)
        if len(first) < _PART_SIZE:  # small blob: one PUT, atomic by nature
            client.put_object(Bucket=self.bucket, Key=full, Body=first, ContentType=content_type)
            return len(first)
        # Multipart: the object only appears on complete; any failure aborts the upload.
        upload = client.create_multipart_upload(
            Bucket=self.bucket, Key=full, ContentType=content_type
        )
        upload_id, written, part = upload["UploadId"], 0, first
        parts: list[CompletedPartTypeDef] = []
        try:
            while part:
                number = len(parts) + 1
                sent = client.upload_part(
                    Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumber=number, Body=part
                )
                parts.append({"ETag": sent["ETag"], "PartNumber": number})
                written += len(part)
                part = _read_part(stream)
            client.complete_multipart_upload(
                Bucket=self.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            raise
        return written

    def _get(self, key: str) -> StreamingBody:
        with _missing_as_not_found(key):
            return self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]

    def open(self, key: str) -> BinaryIO:
        return io.BufferedReader(_BodyReader(self._get(key)), buffer_size=1 << 16)

    def iter_chunks(self, key: str, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        body = self._get(key)  # fetched eagerly so a missing key fails here

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(chunk_size)
            finally:
                body.close()

        return chunks()

    def size(self, key: str) -> int:
        with _missing_as_not_found(key):
            head = self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        return head["ContentLength"]

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except FileNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def copy(self, src: str, dst: str) -> None:
        # Single-request server-side copy; S3 caps it at 5 GB, far above max_upload_bytes.
        with _missing_as_not_found(src):
            self._client.copy_object(
                Bucket=self.bucket,
                Key=self._key(dst),
                CopySource={"Bucket": self.bucket, "Key": self._key(src)},
            )

    def list_keys(self, prefix: str) -> Iterator[str]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix) :]

    def presigned_put_url(self, key: str, *, expires_in: int, content_length: int) -> str | None:
        # ContentLength becomes a signed header, so real S3 refuses a body of another size.
        return self._client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": self._key(key), "ContentLength": content_length},
            ExpiresIn=expires_in,
        )

    def presigned_get_url(
        self, key: str, *, expires_in: int, filename: str | None = None
    ) -> str | None:
        params = {"Bucket": self.bucket, "Key": self._key(key)}
        if filename:
            params["ResponseContentDisposition"] = _content_disposition(filename)
        return self._client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_in
        )


def _read_part(stream: BinaryIO) -> bytes:
    """Fill one part; a stream's read() may legally return fewer bytes than asked."""
    buf = bytearray()
    while len(buf) < _PART_SIZE:
        chunk = stream.read(_PART_SIZE - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


@contextmanager
def _missing_as_not_found(key: str) -> Iterator[None]:
    """Warehouse's rule: a missing object is a FileNotFoundError, whatever the backend."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
            raise FileNotFoundError(key) from exc
        raise


def storage_from_settings(settings: Settings) -> Storage:
    """`file:///abs/path` -> LocalStorage; `s3://bucket[/prefix]` -> S3Storage."""
    url = urlparse(settings.storage_url)
    if url.scheme == "file":
        return LocalStorage(Path(url.netloc + url.path))
    if url.scheme == "s3" and url.netloc:
        return S3Storage(
            url.netloc,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key=settings.s3_access_key_id,
            secret_key=settings.s3_secret_access_key,
            prefix=url.path,
        )
    raise ValueError(f"unsupported storage_url: {settings.storage_url!r}")
