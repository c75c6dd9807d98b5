"""Pick the storage backend the settings' `storage_url` names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from hub.kit.storage.base import Storage
from hub.kit.storage.local import LocalStorage
from hub.kit.storage.s3 import S3Storage

if TYPE_CHECKING:
    from hub.kit.settings import Settings


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
