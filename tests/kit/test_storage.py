"""One contract for every storage backend: local disk, and S3 against a real moto server."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import httpx
import pytest

from hub.kit.settings import Settings
from hub.kit.storage import LocalStorage, S3Storage, Storage, blob_key, storage_from_settings

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MiB = 1024 * 1024


class ClientGoneError(Exception):
    """The client went away mid-upload."""


class Source(io.RawIOBase):
    """`total` deterministic bytes made on demand, so big blobs never sit in test memory."""

    def __init__(self, total: int, *, fail_at: int | None = None, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._left = total
        self._sent = 0
        self._fail_at = fail_at
        self.digest = hashlib.sha256()
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        self.largest_read = max(self.largest_read, len(view))
        if self._fail_at is not None and self._sent >= self._fail_at:
            raise ClientGoneError
        n = min(len(view), self._left, MiB)
        data = self._rng.randbytes(n)
        view[:n] = data
        self.digest.update(data)
        self._left -= n
        self._sent += n
        return n


def stream(source: Source) -> BinaryIO:
    return io.BufferedReader(source)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    s3: S3Storage = request.getfixturevalue("s3_storage")
    return s3


def test_put_open_size_exists(storage: Storage) -> None:
    assert not storage.exists("a/b.txt")
    assert storage.put_stream("a/b.txt", io.BytesIO(b"hello"), content_type="text/plain") == 5
    assert storage.exists("a/b.txt")
    assert storage.size("a/b.txt") == 5
    with storage.open("a/b.txt") as handle:
        assert handle.read() == b"hello"
    assert b"".join(storage.iter_chunks("a/b.txt", chunk_size=2)) == b"hello"


def test_put_replaces_existing(storage: Storage) -> None:
    storage.put_stream("k", io.BytesIO(b"old contents"))
    storage.put_stream("k", io.BytesIO(b"new"))
    assert storage.size("k") == 3
    with storage.open("k") as handle:
        assert handle.read() == b"new"


def test_empty_blob(storage: Storage) -> None:
    assert storage.put_stream("empty", io.BytesIO(b"")) == 0
    assert storage.exists("empty")
    assert storage.size("empty") == 0
    assert b"".join(storage.iter_chunks("empty")) == b""


def test_delete(storage: Storage) -> None:
    storage.put_stream("gone/soon", io.BytesIO(b"x"))
    storage.delete("gone/soon")
    assert not storage.exists("gone/soon")
    storage.delete("gone/soon")  # deleting a missing key is fine
    storage.delete("never/was")


def test_copy(storage: Storage) -> None:
    storage.put_stream("src/one", io.BytesIO(b"payload"))
    storage.copy("src/one", "dst/two")
    with storage.open("dst/two") as handle:
        assert handle.read() == b"payload"
    assert storage.exists("src/one")


def test_list_keys_is_a_string_prefix_in_sorted_order(storage: Storage) -> None:
    for key in ["a/b/2", "a/b/1", "a/bc/3", "x/1"]:
        storage.put_stream(key, io.BytesIO(key.encode()))
    assert list(storage.list_keys("a/b/")) == ["a/b/1", "a/b/2"]
    assert list(storage.list_keys("a/b")) == ["a/b/1", "a/b/2", "a/bc/3"]
    assert list(storage.list_keys("")) == ["a/b/1", "a/b/2", "a/bc/3", "x/1"]
    assert list(storage.list_keys("nothing/")) == []


def test_missing_key_is_file_not_found(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        storage.open("no/such")
    with pytest.raises(FileNotFoundError):
        storage.iter_chunks("no/such")  # raised on the call, before iteration
    with pytest.raises(FileNotFoundError):
        storage.size("no/such")
    with pytest.raises(FileNotFoundError):
        storage.copy("no/such", "dst")
    assert not storage.exists("no/such")
    assert not storage.exists("dst")


def test_large_blob_streams_round_trip(storage: Storage) -> None:
    source = Source(20 * MiB + 12345)
    key = blob_key("ab" * 32)
    assert storage.put_stream(key, stream(source)) == 20 * MiB + 12345
    assert source.largest_read <= 8 * MiB  # read in bounded pieces, not all at once
    assert storage.size(key) == 20 * MiB + 12345

    streamed = hashlib.sha256()
    for chunk in storage.iter_chunks(key, chunk_size=1 << 20):
        assert len(chunk) <= 1 << 20
        streamed.update(chunk)
    assert streamed.hexdigest() == source.digest.hexdigest()

    opened = hashlib.sha256()
    with storage.open(key) as handle:
        while chunk := handle.read(3 * MiB):
            opened.update(chunk)
    assert opened.hexdigest() == source.digest.hexdigest()


@pytest.mark.parametrize("fail_at", [1000, 12 * MiB], ids=["small", "multipart"])
def test_failed_put_leaves_nothing(storage: Storage, fail_at: int) -> None:
    with pytest.raises(ClientGoneError):
        storage.put_stream("up/new", stream(Source(20 * MiB, fail_at=fail_at)))
    assert not storage.exists("up/new")
    assert list(storage.list_keys("")) == []
    if isinstance(storage, LocalStorage):
        assert [p for p in storage.root.rglob("*") if p.is_file()] == []  # no temp file left
    if isinstance(storage, S3Storage):
        uploads = storage._client.list_multipart_uploads(Bucket=storage.bucket)
        assert uploads.get("Uploads", []) == []  # the multipart upload was aborted


def test_failed_put_keeps_previous_object(storage: Storage) -> None:
    storage.put_stream("k", io.BytesIO(b"good"))
    with pytest.raises(ClientGoneError):
        storage.put_stream("k", stream(Source(MiB, fail_at=100)))
    with storage.open("k") as handle:
        assert handle.read() == b"good"


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../up", "a/../../b", "a//b", "a/./b", "a/", "a\\b", ".tmp-x"]
)
def test_bad_keys_are_rejected(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.put_stream(key, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.exists(key)


def test_local_keys_cannot_escape_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    for key in ["../escaped", "/tmp/escaped", "a/../../escaped"]:
        with pytest.raises(ValueError, match="invalid storage key"):
            storage.put_stream(key, io.BytesIO(b"x"))
    assert not (tmp_path / "escaped").exists()
    with pytest.raises(ValueError, match="invalid storage prefix"):
        list(storage.list_keys("../"))


def test_local_has_no_presigned_urls(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    assert storage.presigned_put_url("k", expires_in=60, content_length=1) is None
    assert storage.presigned_get_url("k", expires_in=60, filename="k.whl") is None


def test_s3_presigned_put_accepts_an_http_put(s3_storage: S3Storage) -> None:
    data = b"wheel bytes " * 1000
    url = s3_storage.presigned_put_url("up/pkg.whl", expires_in=300, content_length=len(data))
    assert url is not None
    # No Authorization header: the URL alone carries the authority, as for the prime CLI.
    response = httpx.put(url, content=data, trust_env=False)
    assert response.status_code == 200, response.text
    assert s3_storage.size("up/pkg.whl") == len(data)
    with s3_storage.open("up/pkg.whl") as handle:
        assert handle.read() == data


def test_s3_presigned_get_returns_the_bytes(s3_storage: S3Storage) -> None:
    s3_storage.put_stream("files/x", io.BytesIO(b"\x00binary\xff"))
    url = s3_storage.presigned_get_url("files/x", expires_in=300, filename="env-1.0-py3.whl")
    assert url is not None
    response = httpx.get(url, trust_env=False)
    assert response.status_code == 200
    assert response.content == b"\x00binary\xff"
    assert 'filename="env-1.0-py3.whl"' in response.headers["content-disposition"]


def test_s3_prefix_is_invisible_to_callers(s3_server: str, s3_storage: S3Storage) -> None:
    scoped = S3Storage(
        s3_storage.bucket, s3_server, access_key="k", secret_key="s", prefix="/tenant/"
    )
    scoped.put_stream("a/b", io.BytesIO(b"x"))
    assert list(scoped.list_keys("")) == ["a/b"]
    assert list(s3_storage.list_keys("")) == ["tenant/a/b"]


def test_s3_client_is_built_lazily() -> None:
    storage = S3Storage("b", endpoint_url="http://127.0.0.1:9", access_key="k", secret_key="s")
    assert storage._client_obj is None  # nothing connected yet, so construction never fails


def test_blob_key_is_content_addressed() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    assert blob_key(digest) == f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"
    for bad in ["", "AB" * 32, "ab" * 31, "../" + "a" * 61]:
        with pytest.raises(ValueError, match="sha256"):
            blob_key(bad)


def test_storage_from_settings(tmp_path: Path) -> None:
    local = storage_from_settings(Settings(storage_url=f"file://{tmp_path}/blobs"))
    assert isinstance(local, LocalStorage)
    assert local.root == tmp_path / "blobs"

    s3 = storage_from_settings(
        Settings(storage_url="s3://bucket/some/prefix", s3_endpoint_url="http://minio:9000")
    )
    assert isinstance(s3, S3Storage)
    assert (s3.bucket, s3.prefix, s3.endpoint_url) == (
        "bucket",
        "some/prefix/",
        "http://minio:9000",
    )

    with pytest.raises(ValueError, match="unsupported storage_url"):
        storage_from_settings(Settings(storage_url="ftp://nope"))
