"""The two-step publish the prime client uses, and reserved environment ids.

`prime env push` asks for an environment id first (resolve), then registers the wheel,
then the source archive (with no size), then finalizes. These functions give that flow
the same rules and the same result as `publish.register` + `publish.finalize`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts import service as accounts
from hub.accounts.models import Role
from hub.accounts.service import Principal
from hub.kit.db import utcnow
from hub.kit.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from hub.kit.names import normalize_project, validate_env_name
from hub.kit.settings import Settings
from hub.kit.storage import Storage
from hub.registry import catalog
from hub.registry.access import require_role
from hub.registry.models import (
    Environment,
    FileKind,
    Runtime,
    Upload,
    UploadFile,
    UploadState,
    Version,
    Visibility,
)
from hub.registry.publish import get_or_create_env, normalize_version, upload_files

_RESERVATION_NAMESPACE = uuid.UUID("5f1d0c3e-8a57-4c4f-9a0e-6d1b2f3c4a50")


@dataclass(frozen=True)
class Reservation:
    """An environment that does not exist yet but that the caller may create: its future id."""

    env_id: uuid.UUID
    owner_id: uuid.UUID
    owner: str
    name: str
    visibility: Visibility


def reservation_id(owner_id: uuid.UUID, name: str, visibility: Visibility) -> uuid.UUID:
    # Deterministic, so later calls can find the reservation again without storing it.
    return uuid.uuid5(_RESERVATION_NAMESPACE,
                      f"{owner_id}/{normalize_project(name)}/{visibility.value}")


def reserve_environment(db: Session, principal: Principal, owner: str, name: str,
                        visibility: Visibility) -> Reservation:
    """Check that the caller may create owner/name and name its future id. Writes nothing:

    an environment comes to exist with its first published version, so asking for an id
    (which an eval push may do for a name it merely guesses) never leaves an empty one.
    """
    validate_env_name(name)
    ns = accounts.get_namespace(db, owner)
    require_role(db, ns.id, ns.name, principal, Role.WRITE)
    return Reservation(reservation_id(ns.id, name, visibility), ns.id, ns.name, name, visibility)


def find_reservation(db: Session, principal: Principal, env_id: uuid.UUID, name: str
                     ) -> Reservation | None:
    """Which of the caller's writable namespaces `env_id` reserves `name` in, if any."""
    owners = [(principal.user_id, principal.user.username)]
    owners += [(org.id, org.name) for org, role in accounts.list_user_orgs(db, principal.user)
               if role.at_least(Role.WRITE)]
    for owner_id, owner in owners:
        for visibility in Visibility:
            if reservation_id(owner_id, name, visibility) == env_id:
                return Reservation(env_id, owner_id, owner, name, visibility)
    return None


def claim_reservation(db: Session, upload: Upload, env_id: uuid.UUID) -> Environment:
    """Create the environment an upload publishes under its reserved id, before finalize.

    Call it in the finalize transaction: if finalize fails, the environment goes too.
    """
    return get_or_create_env(db, upload, env_id=env_id)


def refuse_duplicate_content(db: Session, owner_id: uuid.UUID, name: str, content_hash: str
                             ) -> None:
    """Refuse to register content that some version of the environment already has."""
    env = db.scalar(select(Environment).where(
        Environment.owner_id == owner_id, Environment.normalized_name == normalize_project(name)))
    found = catalog.version_with_content(db, env, content_hash) if env is not None else None
    if env is not None and found is not None:
        raise Conflict(
            f"A version with content hash {content_hash[:8]} already exists ({env.name}"
            f" {found.version}). Change the environment's files, or bump the version"
            " (prime env push --auto-bump).", code="content-exists",
        )


def pending_uploads(db: Session, principal: Principal, version: str, content_hash: str
                    ) -> list[Upload]:
    """The caller's unexpired, unfinalized uploads of this version and content, newest first."""
    return list(db.scalars(select(Upload).where(
        Upload.created_by == principal.user_id, Upload.state == UploadState.PENDING,
        Upload.version == normalize_version(version), Upload.content_hash == content_hash,
        Upload.expires_at > utcnow(),
    ).order_by(Upload.created_at.desc())))


def mark_received(db: Session, storage: Storage, upload: Upload, kind: FileKind) -> UploadFile:
    """Confirm a registered file's bytes arrived with the registered size (sha256 is checked
    at finalize, which re-reads everything)."""
    row = next((f for f in upload_files(db, upload.id) if f.kind == kind), None)
    if row is None:
        raise NotFound(f"This upload has no {kind.value} file.", code="upload-file-not-found")
    try:
        size = storage.size(row.staging_key)
    except FileNotFoundError:
        raise InvalidInput(f"{row.filename} was registered but never uploaded: PUT its bytes to"
                           " the upload_url first.", code="upload-incomplete") from None
    if size != row.size:
        raise InvalidInput(f"{row.filename}: registered {row.size} bytes, received {size}.",
                           code="size-mismatch")
    row.received = True
    db.flush()
    return row


def attach_source(db: Session, settings: Settings, upload: Upload, filename: str, sha256: str,
                  name: str | None = None) -> UploadFile:
    """Add a source archive of not yet known size to a registered upload.

    The size is measured when the bytes have arrived (`measure_unsized`); the sha256 the
    client declared still has to match at finalize. `name`, the author's spelling of the
    environment name, replaces the one read from the wheel filename when they agree.
    """
    if upload.state != UploadState.PENDING:
        raise Conflict("This upload is already finalized.", code="upload-finalized")
    for old in upload_files(db, upload.id):
        if old.kind == FileKind.SOURCE:  # a retried registration replaces the first one
            db.delete(old)
    db.flush()
    if name and normalize_project(name) == normalize_project(upload.name):
        upload.name = name
    row = UploadFile(upload_id=upload.id, kind=FileKind.SOURCE, filename=filename, sha256=sha256,
                     size=settings.max_upload_bytes, staging_key=f"staging/{upload.id}/source")
    db.add(row)
    extra = dict(upload.extra or {})
    extra["unsized"] = sorted({*extra.get("unsized", []), FileKind.SOURCE.value})
    upload.extra = extra  # reassigned: in-place changes to a JSON column are not tracked
    db.flush()
    return row


def measure_unsized(db: Session, storage: Storage, settings: Settings, upload: Upload) -> None:
    """Record the received size of files registered without one (before `finalize`)."""
    unsized = set((upload.extra or {}).get("unsized", []))
    for row in upload_files(db, upload.id):
        if row.kind.value not in unsized:
            continue
        try:
            row.size = storage.size(row.staging_key)
        except FileNotFoundError:
            continue  # finalize reports it as never uploaded
        if row.size > settings.max_upload_bytes:
            raise PayloadTooLarge(f"{row.filename} is over the hub's limit of"
                                  f" {settings.max_upload_bytes} bytes.", code="upload-too-large")
    db.flush()


def apply_runtime_hint(db: Session, env: Environment, version: Version, runtime: Runtime) -> None:
    """The publisher's explicit runtime wins over the one inferred from Requires-Dist."""
    if version.runtime != runtime:
        version.runtime = runtime
        catalog.refresh_environment(db, env)

