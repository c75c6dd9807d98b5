"""Publishing: register an upload, receive its bytes, finalize it into a version.

Finalize is the only way a version comes to exist. It re-reads the uploaded bytes,
checks them against the registration, validates the archives and writes every row in
the request's transaction; blobs move to content-addressed keys first, so a version row
never points at missing bytes, and a failed finalize leaves no version behind.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from packaging.version import InvalidVersion
from packaging.version import Version as PepVersion
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.accounts import service as accounts
from hub.accounts.models import Role
from hub.accounts.service import Principal
from hub.kit.db import utcnow
from hub.kit.errors import Conflict, Gone, InvalidArchive, InvalidInput, NotFound, PayloadTooLarge
from hub.kit.names import normalize_project, validate_env_name
from hub.kit.settings import Settings
from hub.kit.storage import Storage, blob_key
from hub.registry import blob_gc, catalog
from hub.registry.access import require_role
from hub.registry.archive import ArchiveLimits, SourceInfo, WheelInfo, inspect_source, inspect_wheel
from hub.registry.models import (
    Environment,
    File,
    FileKind,
    RetiredFilename,
    SourceEntry,
    Upload,
    UploadFile,
    UploadState,
    Version,
)
from hub.registry.schemas import UploadCreate


def normalize_version(raw: str) -> str:
    try:
        return str(PepVersion(raw))
    except InvalidVersion:
        raise InvalidInput(
            f"'{raw}' is not a PEP 440 version (e.g. 0.1.0, 1.2.3rc1).", code="invalid-version"
        ) from None


def limits_from(settings: Settings) -> ArchiveLimits:
    return ArchiveLimits(
        max_files=settings.max_archive_files,
        max_uncompressed_bytes=settings.max_uncompressed_bytes,
        max_ratio=settings.max_compression_ratio,
        max_member_bytes=settings.max_uncompressed_bytes,
    )


def register(
    db: Session, settings: Settings, principal: Principal, owner: str, name: str,
    body: UploadCreate,
) -> Upload:
    validate_env_name(name)
    ns = accounts.get_namespace(db, owner)
    require_role(db, ns.id, owner, principal, Role.WRITE)
    version = normalize_version(body.version)
    kinds = [f.kind for f in body.files]
    if FileKind.WHEEL not in kinds or len(set(kinds)) != len(kinds):
        raise InvalidInput(
            "Register exactly one wheel and at most one source archive.", code="invalid-files"
        )
    for f in body.files:
        if f.size > settings.max_upload_bytes:
            raise PayloadTooLarge(
                f"{f.filename} is {f.size} bytes; this hub accepts at most"
                f" {settings.max_upload_bytes} bytes per file (HUB_MAX_UPLOAD_BYTES).",
                code="upload-too-large",
            )
    upload = Upload(
        owner_id=ns.id, name=name, version=version, content_hash=body.content_hash,
        visibility=body.visibility, state=UploadState.PENDING, created_by=principal.user_id,
        expires_at=utcnow() + timedelta(seconds=settings.pending_upload_ttl_seconds),
    )
    db.add(upload)
    db.flush()
    for f in body.files:
        db.add(UploadFile(
            upload_id=upload.id, kind=f.kind, filename=f.filename, sha256=f.sha256, size=f.size,
            staging_key=f"staging/{upload.id}/{f.kind}",
        ))
    db.flush()
    return upload


def upload_files(db: Session, upload_id: uuid.UUID) -> list[UploadFile]:
    return list(db.scalars(
        select(UploadFile).where(UploadFile.upload_id == upload_id).order_by(UploadFile.kind)
    ))


def existing_identical(db: Session, upload: Upload) -> Version | None:
    """The version this upload would publish, if it is already published with equal content."""
    env = db.scalar(select(Environment).where(
        Environment.owner_id == upload.owner_id,
        Environment.normalized_name == normalize_project(upload.name),
    ))
    if env is None:
        return None
    version = db.scalar(select(Version).where(
        Version.environment_id == env.id, Version.version == upload.version
    ))
    if version is None:
        return None
    if upload.content_hash is not None:
        # One content-hash recipe over the source tree in every client (ours and prime's),
        # while their archives of the same tree differ byte for byte: the hash decides.
        identical = upload.content_hash == version.content_hash
    else:
        published = {f.kind: f.sha256 for f in db.scalars(
            select(File).where(File.version_id == version.id))}
        wanted = {f.kind: f.sha256 for f in upload_files(db, upload.id)}
        identical = all(published.get(kind) == sha for kind, sha in wanted.items())
    if identical:
        return version
    raise version_exists(upload.name, upload.version)


def version_exists(name: str, version: str) -> Conflict:
    return Conflict(
        f"{name} {version} is already published with different content. Versions are"
        " immutable: bump the version in pyproject.toml and publish again.",
        code="version-exists",
    )


def get_upload(db: Session, upload_id: uuid.UUID, principal: Principal, *,
               lock: bool = False) -> Upload:
    query = select(Upload).where(Upload.id == upload_id)
    if lock:
        query = query.with_for_update()
    upload = db.scalar(query)
    if upload is None or upload.created_by != principal.user_id:
        raise NotFound("No such upload (it may have expired).", code="upload-not-found")
    return upload


@dataclass
class _Received:
    row: UploadFile
    path: Path


@contextmanager
def _fetched(storage: Storage, files: list[UploadFile], settings: Settings
             ) -> Iterator[list[_Received]]:
    """Copy each staged blob to a private temp file, checking size and sha256 as it streams."""
    tmp = Path(tempfile.mkdtemp(prefix="envhub-finalize-"))
    try:
        out = []
        for f in files:
            path = tmp / f.filename.replace("/", "_")
            digest = hashlib.sha256()
            written = 0
            try:
                chunks = storage.iter_chunks(f.staging_key)
                with path.open("wb") as fh:
                    for chunk in chunks:
                        written += len(chunk)
                        if written > min(f.size, settings.max_upload_bytes):
                            break
                        digest.update(chunk)
                        fh.write(chunk)
            except FileNotFoundError:
                raise InvalidInput(
                    f"{f.filename} was registered but never uploaded: PUT its bytes to the"
                    " upload_url, then finalize.", code="upload-incomplete",
                ) from None
            if written != f.size:
                raise InvalidInput(
                    f"{f.filename}: registered {f.size} bytes, received"
                    f" {'more' if written > f.size else written}.", code="size-mismatch",
                )
            if digest.hexdigest() != f.sha256:
                raise InvalidInput(
                    f"{f.filename}: sha256 of the uploaded bytes does not match the registration;"
                    " the upload was corrupted or replaced. Upload again.", code="sha256-mismatch",
                )
            out.append(_Received(row=f, path=path))
        yield out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_agreement(upload: Upload, wheel: WheelInfo, source: SourceInfo | None) -> None:
    if wheel.normalized_name != normalize_project(upload.name):
        raise InvalidArchive(
            f"The wheel is for '{wheel.name}' but you are publishing '{upload.name}'.",
            code="wheel-metadata-mismatch",
        )
    if wheel.version != upload.version:
        raise InvalidArchive(
            f"The wheel is version {wheel.version} but you registered {upload.version}.",
            code="wheel-metadata-mismatch",
        )
    if source is not None and upload.content_hash and source.content_hash != upload.content_hash:
        raise InvalidArchive(
            "The source archive's content hash does not match the registered content_hash:"
            " the archive must hold exactly the environment's files.",
            code="content-hash-mismatch",
        )


def get_or_create_env(db: Session, upload: Upload, *, description: str = "",
                      env_id: uuid.UUID | None = None) -> Environment:
    """The environment an upload publishes into, created on first publish (race-safe)."""
    query = select(Environment).where(
        Environment.owner_id == upload.owner_id,
        Environment.normalized_name == normalize_project(upload.name),
    )
    env = db.scalar(query)
    if env is not None:
        return env
    try:
        with db.begin_nested():
            env = Environment(
                id=env_id or uuid.uuid4(), owner_id=upload.owner_id, name=upload.name,
                normalized_name=normalize_project(upload.name), visibility=upload.visibility,
                description=description,
            )
            db.add(env)
            db.flush()
    except IntegrityError:
        # Another publisher created it a moment ago: use theirs.
        env = db.scalar(query)
        assert env is not None
    return env


def finalize(db: Session, settings: Settings, storage: Storage, principal: Principal,
             upload_id: uuid.UUID) -> tuple[Version, bool]:
    """Publish an upload. Returns (version, created); created is False for an idempotent replay."""
    upload = get_upload(db, upload_id, principal, lock=True)
    if upload.state == UploadState.FINALIZED:
        replay = existing_identical(db, upload)
        if replay is not None:
            return replay, False
    if upload.expires_at <= utcnow():
        raise Gone("This upload expired; register it again.", code="upload-expired")
    ns_name = accounts.namespace_name(db, upload.owner_id)
    require_role(db, upload.owner_id, ns_name, principal, Role.WRITE)
    files = upload_files(db, upload.id)
    already = existing_identical(db, upload)
    if already is not None:
        upload.state = UploadState.FINALIZED
        _drop_staging(storage, files)
        return already, False
    try:
        with _fetched(storage, files, settings) as received:
            version = _publish(db, settings, storage, principal, upload, received)
    except (InvalidArchive, InvalidInput):
        # Bad bytes are useless: discard them so nothing unverified stays reachable.
        _drop_staging(storage, files)
        raise
    upload.state = UploadState.FINALIZED
    _drop_staging(storage, files)
    return version, True


def _publish(db: Session, settings: Settings, storage: Storage, principal: Principal,
             upload: Upload, received: list[_Received]) -> Version:
    limits = limits_from(settings)
    by_kind = {r.row.kind: r for r in received}
    wheel_file = by_kind[FileKind.WHEEL]
    wheel = inspect_wheel(wheel_file.path, wheel_file.row.filename, limits)
    source_file = by_kind.get(FileKind.SOURCE)
    source = (inspect_source(source_file.path, source_file.row.filename, limits)
              if source_file else None)
    _check_agreement(upload, wheel, source)
    env_key = f"{accounts.namespace_name(db, upload.owner_id)}/{normalize_project(upload.name)}"
    _refuse_retired(db, env_key, [r.row.filename for r in received])

    # Blobs before rows: content-addressed, so a concurrent identical publish writes the
    # same key. Written before this transaction's first write, because on SQLite that
    # write locks the whole database, and copying a large archive must not hold the lock.
    metadata_sha = hashlib.sha256(wheel.metadata_bytes).hexdigest()
    metadata_key = blob_key(metadata_sha)
    _store_missing(storage, received, metadata_key, wheel.metadata_bytes)
    env = get_or_create_env(db, upload, description=wheel.summary or "")
    # Pinned, then checked again: the blob collector may have deleted an unreferenced blob
    # between our check and the pin; after the pin it cannot (hub.registry.blob_gc).
    blob_gc.pin(db, [blob_key(r.row.sha256) for r in received] + [metadata_key])
    _store_missing(storage, received, metadata_key, wheel.metadata_bytes)

    content_hash = source.content_hash if source else (upload.content_hash or wheel_file.row.sha256)
    version = Version(
        environment_id=env.id, version=upload.version, content_hash=content_hash,
        runtime=wheel.runtime, description=wheel.summary or "", license=wheel.license,
        requires_python=wheel.requires_python, dependencies=list(wheel.requires_dist),
        tags=list(wheel.keywords), readme=(source.readme if source and source.readme else
                                           wheel.description or ""),
        published_by=principal.user_id,
    )
    try:
        with db.begin_nested():
            db.add(version)
            db.flush()
    except IntegrityError:
        # Lost a race with another publisher of the same version (the savepoint rollback
        # already expunged our pending row).
        replay = existing_identical(db, upload)
        if replay is not None:
            return replay
        raise version_exists(upload.name, upload.version) from None
    for r in received:
        is_wheel = r.row.kind == FileKind.WHEEL
        db.add(File(
            version_id=version.id, kind=r.row.kind, filename=r.row.filename,
            sha256=r.row.sha256, size=r.row.size, blob_key=blob_key(r.row.sha256),
            metadata_sha256=metadata_sha if is_wheel else None,
            metadata_key=metadata_key if is_wheel else None,
        ))
    if source is not None:
        for entry in source.files:
            db.add(SourceEntry(version_id=version.id, path=entry.path, size=entry.size,
                               sha256=entry.sha256))
    db.flush()
    catalog.refresh_environment(db, env, published=True)
    return version


def _store_missing(storage: Storage, received: list[_Received], metadata_key: str,
                   metadata: bytes) -> None:
    for r in received:
        key = blob_key(r.row.sha256)
        if not storage.exists(key):
            with r.path.open("rb") as fh:
                storage.put_stream(key, fh)
    if not storage.exists(metadata_key):
        storage.put_stream(metadata_key, io.BytesIO(metadata))


def ns_key(db: Session, env: Environment) -> str:
    return f"{accounts.namespace_name(db, env.owner_id)}/{env.normalized_name}"


def _refuse_retired(db: Session, env_key: str, filenames: list[str]) -> None:
    for filename in filenames:
        if db.get(RetiredFilename, (env_key, filename)) is not None:
            raise Conflict(
                f"{filename} was published before and deleted; filenames are never reused."
                " Publish under a new version.", code="filename-retired",
            )


def _drop_staging(storage: Storage, files: list[UploadFile]) -> None:
    for f in files:
        storage.delete(f.staging_key)


def sweep_expired_uploads(db: Session, storage: Storage, *, limit: int = 500) -> int:
    """Delete expired, unfinalized uploads and their staged bytes. Idempotent."""
    expired = db.scalars(
        select(Upload).where(Upload.state != UploadState.FINALIZED, Upload.expires_at <= utcnow())
        .limit(limit)
    ).all()
    for upload in expired:
        _drop_staging(storage, upload_files(db, upload.id))
        db.delete(upload)
    finalized_old = db.scalars(
        select(Upload).where(Upload.state == UploadState.FINALIZED,
                             Upload.expires_at <= utcnow()).limit(limit)
    ).all()
    for upload in finalized_old:
        db.delete(upload)
    db.flush()
    return len(expired)
