"""Blob storage on any S3 API (AWS, MinIO, R2)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO, cast
from urllib.parse import quote

from hub.kit.storage.base import check_key

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

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
