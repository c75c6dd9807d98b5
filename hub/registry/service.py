"""Changing environments after publish (metadata, yank, delete) and presenting them."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts import service as accounts
from hub.accounts.models import Role, User
from hub.accounts.service import Principal
from hub.kit.errors import Conflict, NotFound
from hub.kit.storage import Storage
from hub.registry import blob_gc, catalog
from hub.registry.access import require_role
from hub.registry.archive import read_source_member
from hub.registry.models import (
    AuditEvent,
    Environment,
    File,
    FileKind,
    RetiredFilename,
    SourceEntry,
    Version,
    Visibility,
)
from hub.registry.publish import ns_key
from hub.registry.schemas import (
    EnvironmentOut,
    EnvironmentPatch,
    FileOut,
    InstallOut,
    VersionOut,
    VersionSummary,
)


def _audit(db: Session, action: str, subject: str, actor: Principal, **details: object) -> None:
    # subject: "owner/normalized-name[@version]", the form hub.registry.audit reads back.
    db.add(AuditEvent(action=action, subject=subject, actor_id=actor.user_id, details=details))


def patch_environment(db: Session, env: Environment, owner: str, principal: Principal,
                      body: EnvironmentPatch) -> None:
    needed = Role.ADMIN if body.visibility is not None else Role.WRITE
    require_role(db, env.owner_id, owner, principal, needed)
    if body.description is not None:
        env.description = body.description
    if body.tags is not None:
        catalog.set_tags(db, env, body.tags)
    if body.visibility is not None and body.visibility != env.visibility:
        _audit(db, "visibility", ns_key(db, env), principal,
               to=str(body.visibility))
        env.visibility = body.visibility
    catalog.refresh_environment(db, env)


def yank(db: Session, env: Environment, owner: str, principal: Principal, ref: str,
         reason: str | None, yanked: bool) -> Version:
    require_role(db, env.owner_id, owner, principal, Role.WRITE)
    version = catalog.get_version(db, env, ref)
    version.yanked = yanked
    version.yanked_reason = (reason or None) if yanked else None
    _audit(db, "yank" if yanked else "unyank", f"{ns_key(db, env)}@{version.version}",
           principal, reason=reason or "")
    catalog.refresh_environment(db, env)
    return version


def _refuse_public_delete(env: Environment, what: str) -> None:
    if env.visibility != Visibility.PRIVATE:
        raise Conflict(
            f"Public {what} cannot be deleted: people may depend on them. Yank the version"
            " instead (envhub yank), or make the environment private first.",
            code="delete-public-refused",
        )


def _retire_files(db: Session, key: str, version: Version) -> None:
    for f in db.scalars(select(File).where(File.version_id == version.id)):
        if db.get(RetiredFilename, (key, f.filename)) is None:
            db.add(RetiredFilename(environment_key=key, filename=f.filename))


def delete_version(db: Session, env: Environment, owner: str, principal: Principal,
                   ref: str) -> None:
    require_role(db, env.owner_id, owner, principal, Role.ADMIN)
    _refuse_public_delete(env, "versions")
    version = catalog.get_version(db, env, ref)
    # Queue its blobs for the collector before deleting any row (lock order: blob_gc).
    blob_gc.release(db, blob_gc.keys_of_versions(db, [version.id]))
    key = ns_key(db, env)  # canonical: the URL may spell the owner in capitals
    _retire_files(db, key, version)
    _audit(db, "delete-version", f"{key}@{version.version}", principal,
           content_hash=version.content_hash)
    db.delete(version)
    catalog.refresh_environment(db, env)


def delete_environment(db: Session, env: Environment, owner: str, principal: Principal) -> None:
    require_role(db, env.owner_id, owner, principal, Role.ADMIN)
    _refuse_public_delete(env, "environments")
    key = ns_key(db, env)  # canonical: the URL may spell the owner in capitals
    versions = catalog.versions_of(db, env)
    blob_gc.release(db, blob_gc.keys_of_versions(db, [v.id for v in versions]))
    for version in versions:
        _retire_files(db, key, version)
    _audit(db, "delete-environment", key, principal)
    db.delete(env)
    db.flush()


# --- presentation -----------------------------------------------------------------------

def environment_out(env: Environment, owner: str, tags: list[str], public_url: str,
                    starred: bool = False) -> EnvironmentOut:
    return EnvironmentOut(
        id=env.id, owner=owner, name=env.name, full_name=f"{owner}/{env.name}",
        visibility=env.visibility, description=env.description, tags=tags, runtime=env.runtime,
        latest_version=env.latest_version, downloads=env.downloads, stars=env.stars,
        starred=starred, created_at=env.created_at, updated_at=env.updated_at,
        url=f"{public_url}/{owner}/{env.name}",
    )


def environments_out(db: Session, envs: list[Environment], principal: Principal | None,
                     public_url: str) -> list[EnvironmentOut]:
    ids = [e.id for e in envs]
    names = catalog.owner_names(db, {e.owner_id for e in envs})
    tags = catalog.tags_of(db, ids)
    starred = catalog.starred_ids(db, principal, ids)
    return [environment_out(e, names[e.owner_id], tags.get(e.id, []), public_url, e.id in starred)
            for e in envs]


def index_url(public_url: str, owner: str, name: str) -> str:
    return f"{public_url}/index/{owner}/{name}/simple/"


def with_token_placeholder(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"__token__:$HUB_TOKEN@{parts.netloc}"))


def install_out(public_url: str, owner: str, env: Environment, version: str) -> InstallOut:
    scoped = index_url(public_url, owner, env.normalized_name)
    shown = scoped if env.visibility == Visibility.PUBLIC else with_token_placeholder(scoped)
    spec = f"{env.normalized_name}=={version}"
    return InstallOut(
        index_url=scoped,
        owner_index_url=f"{public_url}/index/{owner}/simple/",
        pip=f"pip install '{spec}' --extra-index-url {shown}",
        uv=f"uv pip install '{spec}' --extra-index-url {shown}",
        envhub=f"envhub install {owner}/{env.name}@{version}",
        prime=f"prime env install {owner}/{env.name}@{version}",
    )


def download_url(public_url: str, owner: str, env: Environment, version: str, filename: str
                 ) -> str:
    return (f"{public_url}/api/v1/environments/{owner}/{env.name}/versions/{version}"
            f"/download/{quote(filename)}")


def version_out(db: Session, env: Environment, owner: str, version: Version, public_url: str
                ) -> VersionOut:
    files = catalog.files_of(db, [version.id])[version.id]
    publisher = db.get(User, version.published_by) if version.published_by else None
    return VersionOut(
        environment=f"{owner}/{env.name}", version=version.version,
        content_hash=version.content_hash, runtime=version.runtime,
        description=version.description, tags=version.tags, license=version.license,
        requires_python=version.requires_python, dependencies=version.dependencies,
        readme=version.readme, yanked=version.yanked, yanked_reason=version.yanked_reason,
        created_at=version.created_at, published_by=publisher.username if publisher else None,
        visibility=env.visibility,
        files=[FileOut(kind=f.kind, filename=f.filename, sha256=f.sha256, size=f.size,
                       upload_time=f.upload_time,
                       download_url=download_url(public_url, owner, env, version.version,
                                                 f.filename)) for f in files],
        install=install_out(public_url, owner, env, version.version),
    )


def version_summaries(db: Session, env: Environment) -> list[VersionSummary]:
    versions = catalog.versions_of(db, env)
    files = catalog.files_of(db, [v.id for v in versions])
    return [VersionSummary(version=v.version, content_hash=v.content_hash, runtime=v.runtime,
                           yanked=v.yanked, yanked_reason=v.yanked_reason, created_at=v.created_at,
                           size=sum(f.size for f in files[v.id])) for v in versions]


# --- source browsing and forks (used by the prime-compat adapter) ------------------------

def source_entries(db: Session, version: Version) -> list[SourceEntry]:
    return list(db.scalars(select(SourceEntry).where(SourceEntry.version_id == version.id)
                           .order_by(SourceEntry.path)))


def read_source_file(db: Session, storage: Storage, version: Version, path: str, max_bytes: int
                     ) -> tuple[SourceEntry, bytes, bool]:
    """(entry, the first `max_bytes` of the file, truncated) from the version's source archive."""
    entry = db.get(SourceEntry, (version.id, path))
    source = db.scalar(select(File).where(File.version_id == version.id,
                                          File.kind == FileKind.SOURCE))
    if entry is None or source is None:
        raise NotFound(f"No file '{path}' in version {version.version}.", code="file-not-found")
    with tempfile.TemporaryDirectory(prefix="envhub-src-") as tmp:
        local = Path(tmp) / "source.tar.gz"
        with storage.open(source.blob_key) as src, local.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        data, truncated = read_source_member(local, path, max_bytes)
    return entry, data, truncated


def fork_environment(db: Session, principal: Principal, env: Environment, owner: str,
                     target_owner: str) -> tuple[Environment, Version]:
    """Copy the latest version of a readable environment to `target_owner`, same name.

    The copy shares the source's content-addressed blobs (no bytes move) and keeps its
    visibility, so a fork never exposes what the original did not.
    """
    ns = accounts.get_namespace(db, target_owner)
    require_role(db, ns.id, ns.name, principal, Role.WRITE)
    source = catalog.get_version(db, env, "latest")
    taken = db.scalar(select(Environment.id).where(
        Environment.owner_id == ns.id, Environment.normalized_name == env.normalized_name))
    if taken is not None:
        raise Conflict(f"{ns.name}/{env.name} already exists; delete or rename it first.",
                       code="environment-exists")
    key = f"{ns.name}/{env.normalized_name}"
    files = catalog.files_of(db, [source.id])[source.id]
    for f in files:
        if db.get(RetiredFilename, (key, f.filename)) is not None:
            raise Conflict(f"{f.filename} was published to {key} before and deleted; filenames"
                           " are never reused.", code="filename-retired")
    # The copy shares the blobs: keep the collector off them, then make sure the source
    # still references them (a concurrent delete may have let them go; see blob_gc).
    blob_keys = sorted({k for f in files for k in (f.blob_key, f.metadata_key) if k})
    blob_gc.pin(db, blob_keys)
    if blob_gc.referenced(db, blob_keys) != set(blob_keys):
        raise NotFound(f"{env.name} {source.version} was deleted meanwhile.",
                       code="version-not-found")
    fork = Environment(owner_id=ns.id, name=env.name, normalized_name=env.normalized_name,
                       visibility=env.visibility, description=env.description)
    db.add(fork)
    db.flush()
    copy = Version(environment_id=fork.id, version=source.version,
                   content_hash=source.content_hash, runtime=source.runtime,
                   description=source.description, license=source.license,
                   requires_python=source.requires_python, dependencies=list(source.dependencies),
                   tags=list(source.tags), readme=source.readme, published_by=principal.user_id)
    db.add(copy)
    db.flush()
    for f in files:
        db.add(File(version_id=copy.id, kind=f.kind, filename=f.filename, sha256=f.sha256,
                    size=f.size, blob_key=f.blob_key, metadata_sha256=f.metadata_sha256,
                    metadata_key=f.metadata_key))
    for e in source_entries(db, source):
        db.add(SourceEntry(version_id=copy.id, path=e.path, size=e.size, sha256=e.sha256))
    catalog.set_tags(db, fork, catalog.tags_of(db, [env.id]).get(env.id, []))
    _audit(db, "fork", key, principal, source=f"{owner}/{env.name}@{source.version}")
    catalog.refresh_environment(db, fork)
    return fork, copy

