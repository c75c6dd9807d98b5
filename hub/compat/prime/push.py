"""`prime env push`: resolve -> register wheel -> PUT -> register source -> PUT -> finalize.

Each step maps onto the registry's publish flow (`register`, the signed upload URLs,
`finalize`), so a pushed version is the same object `envhub push` creates: same content
hash, same files and index entries. Two differences of the client are absorbed here:

- resolve hands out an id before the environment exists. The hub creates environments
  with their first version, so an unknown name gets a *reservation* id (deterministic per
  owner, name and visibility), which becomes the environment's id when the push finalizes.
  An eval push that resolves a name it merely guesses therefore creates nothing.
- the source archive is registered after the wheel and without a size: it joins the
  wheel's pending upload, goes to a hub-signed URL capped at the upload limit, and its
  size is measured before finalize (its sha256 is still verified).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from sqlalchemy.orm import Session

from hub.accounts.deps import CurrentPrincipal, WritePrincipal
from hub.accounts.service import Principal
from hub.compat.prime.route import (
    Db,
    PrimeRoute,
    SettingsDep,
    StorageDep,
    data,
    iso,
    parse_runtime_hint,
    parse_visibility,
    wire_visibility,
)
from hub.compat.prime.schemas import LookupIn, ResolveIn, SourceIn, WheelIn
from hub.compat.prime.wire import owner_of, target_owner
from hub.kit.errors import Conflict, InvalidArchive, InvalidInput, NotFound
from hub.registry import catalog, publish, two_step
from hub.registry.access import can_read, find_env
from hub.registry.models import Environment, FileKind, Runtime, Upload, Visibility
from hub.registry.schemas import UploadCreate, UploadFileIn
from hub.registry.uploads_router import signed_upload_url, upload_url_for

router = APIRouter(route_class=PrimeRoute, tags=["prime-compat"])
HUB = "/environmentshub"


@router.post(f"{HUB}/resolve")
def resolve(body: ResolveIn, db: Db, principal: CurrentPrincipal) -> dict[str, Any]:
    owner = target_owner(db, principal, body.owner_slug, body.team_slug, body.team_id)
    env = find_env(db, owner, body.name)
    if env is not None and can_read(db, env, principal):
        return data({"id": str(env.id), "name": env.name, "owner": {"name": owner_of(db, env)},
                     "visibility": wire_visibility(env.visibility), "created": False})
    reserved = two_step.reserve_environment(db, principal, owner, body.name,
                                           parse_visibility(body.visibility))
    return data({"id": str(reserved.env_id), "name": reserved.name,
                 "owner": {"name": reserved.owner},
                 "visibility": wire_visibility(reserved.visibility), "created": True})


@router.post(f"{HUB}/lookup")
def lookup(body: LookupIn, db: Db, principal: CurrentPrincipal) -> dict[str, Any]:
    """Whether an id names an existing environment the caller may read (prime-evals)."""
    env = _existing(db, principal, body.id)
    if env is None:
        raise NotFound(f"No environment with id '{body.id}' (or you may not see it). Push it"
                       " first with `prime env push`.", code="environment-not-found")
    return data({"id": str(env.id), "name": env.name, "owner": {"name": owner_of(db, env)}})


def _existing(db: Session, principal: Principal | None, env_id: str) -> Environment | None:
    try:
        env = catalog.environment_by_id(db, uuid.UUID(env_id))
    except ValueError:
        return None
    return env if env is not None and can_read(db, env, principal) else None


@dataclass(frozen=True)
class _Target:
    owner: str
    name: str
    visibility: Visibility
    owner_id: uuid.UUID


def _target(db: Session, principal: Principal, env_id: str, wheel_filename: str) -> _Target:
    env = _existing(db, principal, env_id)
    if env is not None:
        return _Target(owner_of(db, env), env.name, env.visibility, env.owner_id)
    try:
        name = str(parse_wheel_filename(wheel_filename)[0])
        reserved = two_step.find_reservation(db, principal, uuid.UUID(env_id), name)
    except InvalidWheelFilename:
        raise InvalidArchive(f"'{wheel_filename}' is not a wheel filename.",
                             code="wheel-filename-invalid") from None
    except ValueError:
        reserved = None
    if reserved is None:
        raise NotFound(
            f"No environment with id '{env_id}' that you may push to. Run `prime env push`"
            f" again; the environment's name must be the package's name ('{name}').",
            code="environment-not-found")
    return _Target(reserved.owner, reserved.name, reserved.visibility, reserved.owner_id)


def _version_of(raw: str | None) -> str:
    if not raw:
        raise InvalidInput("pyproject.toml needs a static [project] version to push.",
                           code="invalid-version")
    return raw


@router.post(f"{HUB}/{{env_id}}/wheels")
def register_wheel(env_id: str, body: WheelIn, db: Db, principal: WritePrincipal,
                   settings: SettingsDep, storage: StorageDep) -> dict[str, Any]:
    target = _target(db, principal, env_id, body.filename)
    hint = parse_runtime_hint(body.runtime_hint)
    two_step.refuse_duplicate_content(db, target.owner_id, target.name, body.content_hash)
    upload = publish.register(db, settings, principal, target.owner, target.name, UploadCreate(
        version=_version_of(body.semantic_version), content_hash=body.content_hash,
        visibility=target.visibility,
        files=[UploadFileIn(kind=FileKind.WHEEL, filename=body.filename, sha256=body.sha256,
                            size=body.size)]))
    if publish.existing_identical(db, upload) is not None:  # raises when content differs
        raise Conflict(f"{target.name} {upload.version} already exists with this content hash.",
                       code="content-exists")
    upload.extra = {"env_ref": env_id, "runtime_hint": hint.value if hint else None}
    wheel = publish.upload_files(db, upload.id)[0]
    return data({"wheel_id": str(upload.id), "expires_at": iso(upload.expires_at),
                 "upload_url": upload_url_for(settings, storage, wheel.staging_key, wheel.size)})


def _pending(db: Session, principal: Principal, env_id: str, upload_id: uuid.UUID) -> Upload:
    upload = publish.get_upload(db, upload_id, principal)
    if (upload.extra or {}).get("env_ref") != env_id:
        raise NotFound("No such upload for this environment.", code="upload-not-found")
    return upload


@router.post(f"{HUB}/{{env_id}}/wheels/{{wheel_id}}/finalize")
def finalize_wheel(env_id: str, wheel_id: uuid.UUID, db: Db, principal: WritePrincipal,
                   storage: StorageDep) -> dict[str, Any]:
    upload = _pending(db, principal, env_id, wheel_id)
    two_step.mark_received(db, storage, upload, FileKind.WHEEL)
    return data({"success": True, "wheel_id": str(upload.id)})


def _source_env_name(filename: str, version: str, content_hash: str) -> str | None:
    # The client names the archive `<env name>-<version>-<hash8>.tar.gz`.
    suffix = f"-{version}-{content_hash[:8]}.tar.gz"
    return filename[: -len(suffix)] if filename.endswith(suffix) else None


@router.post(f"{HUB}/{{env_id}}/versions")
def register_source(env_id: str, body: SourceIn, db: Db, principal: WritePrincipal,
                    settings: SettingsDep) -> dict[str, Any]:
    version = _version_of(body.semantic_version)
    pending = [u for u in two_step.pending_uploads(db, principal, version, body.content_hash)
               if (u.extra or {}).get("env_ref") == env_id]
    if not pending:
        raise Conflict(f"No wheel of version {version} with this content hash is waiting for"
                       " its source archive: register the wheel first.", code="upload-not-found")
    upload = pending[0]
    name = _source_env_name(body.filename, version, body.content_hash)
    source = two_step.attach_source(db, settings, upload, body.filename, body.sha256, name)
    # The size is unknown, so no presigned S3 PUT (it signs the length): the hub's own
    # signed URL, capped at the upload limit, streams the bytes to the same storage.
    url = signed_upload_url(settings, source.staging_key, settings.max_upload_bytes)
    return data({"version_id": str(upload.id), "upload_url": url,
                 "expires_at": iso(upload.expires_at)})


@router.post(f"{HUB}/{{env_id}}/versions/{{version_id}}/finalize")
def finalize_version(env_id: str, version_id: uuid.UUID, db: Db, principal: WritePrincipal,
                     settings: SettingsDep, storage: StorageDep) -> dict[str, Any]:
    upload = _pending(db, principal, env_id, version_id)
    two_step.measure_unsized(db, storage, settings, upload)
    if catalog.environment_by_id(db, uuid.UUID(env_id)) is None:
        two_step.claim_reservation(db, upload, uuid.UUID(env_id))
    version, created = publish.finalize(db, settings, storage, principal, upload.id)
    env = catalog.environment_by_id(db, version.environment_id)
    assert env is not None
    hint = (upload.extra or {}).get("runtime_hint")
    if created and hint:
        two_step.apply_runtime_hint(db, env, version, Runtime(hint))
    return data({"success": True, "environment_id": str(env.id), "version_id": str(version.id),
                 "semantic_version": version.version, "content_hash": version.content_hash,
                 "created": created})
