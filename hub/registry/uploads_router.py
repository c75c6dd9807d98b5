"""Receiving upload bytes (local backend) and finalizing uploads."""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.accounts import service as accounts
from hub.accounts.deps import WritePrincipal
from hub.kit import signing
from hub.kit.deps import get_settings_dep, get_storage
from hub.kit.errors import Conflict, Forbidden, InvalidArchive, PayloadTooLarge
from hub.kit.http import TransactionalRoute, get_db, problem_responses
from hub.kit.settings import Settings
from hub.kit.storage import Storage
from hub.registry import publish, service
from hub.registry.access import readable_env
from hub.registry.models import Upload
from hub.registry.schemas import UploadFileOut, UploadOut, VersionOut

router = APIRouter(route_class=TransactionalRoute, tags=["publishing"])
Db = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StorageDep = Annotated[Storage, Depends(get_storage)]

UPLOAD_PURPOSE = "upload"
STAGING_KEY = re.compile(
    r"staging/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/(wheel|source)")


def signed_upload_url(settings: Settings, staging_key: str, size: int) -> str:
    token = signing.sign(UPLOAD_PURPOSE, {"key": staging_key, "size": size},
                         secret=settings.secret_key, ttl_seconds=settings.upload_url_ttl_seconds)
    return f"{settings.public_url}/api/v1/uploads/blob/{token}"


def upload_url_for(settings: Settings, storage: Storage, staging_key: str, size: int) -> str:
    presigned = storage.presigned_put_url(staging_key, expires_in=settings.upload_url_ttl_seconds,
                                          content_length=size)
    return presigned or signed_upload_url(settings, staging_key, size)


def upload_out(db: Session, settings: Settings, storage: Storage, upload: Upload) -> UploadOut:
    files = [
        UploadFileOut(id=f.id, kind=f.kind, filename=f.filename,
                      upload_url=upload_url_for(settings, storage, f.staging_key, f.size))
        for f in publish.upload_files(db, upload.id)
    ]
    return UploadOut(id=upload.id, expires_at=upload.expires_at, files=files)


@router.put("/uploads/blob/{token}", status_code=204,
            responses=problem_responses(Forbidden, PayloadTooLarge))
async def receive_blob(token: str, request: Request, settings: SettingsDep,
                       storage: StorageDep) -> Response:
    """The hub's own signed, expiring upload URL: the URL is the credential, no header needed.

    Bytes go to a temp file chunk by chunk, never whole into memory, and are refused as
    soon as they pass the registered size.
    """
    claims = signing.verify(token, UPLOAD_PURPOSE, secret=settings.secret_key)
    key, size = str(claims["key"]), int(claims["size"])
    if not STAGING_KEY.fullmatch(key):
        # Defence in depth: even a token signed with a leaked key can only ever write a
        # pending upload's staging object, which finalize re-hashes; never a blob, a log
        # or a sample chunk.
        raise Forbidden("This upload URL does not name an upload's staging area.",
                        code="invalid-upload-url")
    limit = min(size, settings.max_upload_bytes)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"This upload URL accepts {size} bytes, not {declared}.",
                              code="upload-too-large")
    fd, tmp_name = tempfile.mkstemp(prefix="envhub-upload-")
    tmp = Path(tmp_name)
    try:
        received = 0
        with os.fdopen(fd, "wb") as fh:
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise PayloadTooLarge(
                        f"More bytes than the {size} registered; register the real size.",
                        code="upload-too-large",
                    )
                await run_in_threadpool(fh.write, chunk)
        await run_in_threadpool(_store, storage, key, tmp)
    finally:
        tmp.unlink(missing_ok=True)
    return Response(status_code=204)


def _store(storage: Storage, key: str, path: Path) -> None:
    with path.open("rb") as fh:
        storage.put_stream(key, fh)


@router.post("/uploads/{upload_id}/finalize", response_model=VersionOut, status_code=201,
             responses=problem_responses(InvalidArchive, Conflict))
def finalize(upload_id: uuid.UUID, response: Response, db: Db, principal: WritePrincipal,
             settings: SettingsDep, storage: StorageDep) -> VersionOut:
    version, created = publish.finalize(db, settings, storage, principal, upload_id)
    if not created:
        response.status_code = 200
    upload = publish.get_upload(db, upload_id, principal)
    owner = accounts.namespace_name(db, upload.owner_id)
    env = readable_env(db, owner, upload.name, principal)
    return service.version_out(db, env, owner, version, settings.public_url)


