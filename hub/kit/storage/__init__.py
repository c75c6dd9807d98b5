"""Blob storage: one small interface, a local-disk backend and an S3 backend.

Modelled on Warehouse's file storage: callers never see backend exceptions for a missing
object, only `FileNotFoundError`, so services stay backend-agnostic. Keys are relative
POSIX paths; package files are content-addressed under `blob_key()`.

The interface and key rules live in `base`, the backends in `local` and `s3`, and
`storage_from_settings` in `factory`; everything public is importable from here.
"""

from __future__ import annotations

from hub.kit.storage.base import Storage, blob_key, check_key
from hub.kit.storage.factory import storage_from_settings
from hub.kit.storage.local import LocalStorage
from hub.kit.storage.s3 import S3Storage

__all__ = [
    "LocalStorage",
    "S3Storage",
    "Storage",
    "blob_key",
    "check_key",
    "storage_from_settings",
]
