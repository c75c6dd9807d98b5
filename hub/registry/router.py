"""Environment and version routes: search, detail, metadata, yank, delete, source, downloads."""

from __future__ import annotations

import base64
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts.deps import OptionalPrincipal, WritePrincipal
from hub.kit.deps import get_settings_dep, get_storage
from hub.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.kit.http import TransactionalRoute, get_db, problem_responses
from hub.kit.settings import Settings
from hub.kit.storage import Storage
from hub.registry import catalog, publish, service
from hub.registry.access import readable_env
from hub.registry.archive import read_source_member
from hub.registry.models import File, FileKind, Runtime, SourceEntry, Visibility
from hub.registry.schemas import (
    DailyCount,
    EnvironmentOut,
    EnvironmentPage,
    EnvironmentPatch,
    FileContent,
    TagCount,
    TreeEntry,
    UploadCreate,
    UploadOut,
    VersionOut,
    VersionSummary,
    YankIn,
)
from hub.registry.uploads_router import upload_out

router = APIRouter(route_class=TransactionalRoute, tags=["environments"],
                   responses=problem_responses(NotFound))
Db = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StorageDep = Annotated[Storage, Depends(get_storage)]
ENV = "/environments/{owner}/{name}"


@router.get("/environments", response_model=EnvironmentPage)
def list_environments(
    db: Db, principal: OptionalPrincipal, settings: SettingsDep,
    q: str | None = None, owner: str | None = None,
    tag: Annotated[list[str] | None, Query()] = None,
    runtime: Runtime | None = None, visibility: Visibility | None = None,
    sort: str | None = Query(None, description=f"one of {', '.join(catalog.SORTS)}"),
    order: str = Query("desc", pattern="^(asc|desc)$"),
    page: int = Query(1, ge=1), per_page: int = Query(20, ge=1, le=100),
    mine: bool = False, starred: bool = False,
) -> EnvironmentPage:
    sq = catalog.SearchQuery(
        q=q, owner=owner, tags=tuple(tag or ()), runtime=runtime, visibility=visibility,
        sort=sort, order=order, page=page, per_page=per_page, mine=mine,
        starred_by=principal.user_id if starred and principal else None,
    )
    rows, total = catalog.search(db, principal, sq)
    items = service.environments_out(db, rows, principal, settings.public_url)
    return EnvironmentPage(items=items, total=total, page=page, per_page=per_page)


@router.get("/tags", response_model=list[TagCount])
def tags(db: Db, principal: OptionalPrincipal, limit: int = Query(30, ge=1, le=200)
         ) -> list[TagCount]:
    return [TagCount(name=t, count=n) for t, n in catalog.popular_tags(db, principal, limit)]


@router.get(ENV, response_model=EnvironmentOut)
def get_environment(owner: str, name: str, db: Db, principal: OptionalPrincipal,
                    settings: SettingsDep) -> EnvironmentOut:
    env = readable_env(db, owner, name, principal)
    return service.environments_out(db, [env], principal, settings.public_url)[0]


@router.patch(ENV, response_model=EnvironmentOut, responses=problem_responses(Forbidden))
def patch_environment(owner: str, name: str, body: EnvironmentPatch, db: Db,
                      principal: WritePrincipal, settings: SettingsDep) -> EnvironmentOut:
    env = readable_env(db, owner, name, principal)
    service.patch_environment(db, env, owner, principal, body)
    return service.environments_out(db, [env], principal, settings.public_url)[0]


@router.delete(ENV, status_code=204, responses=problem_responses(Forbidden, Conflict))
def delete_environment(owner: str, name: str, db: Db, principal: WritePrincipal) -> Response:
    env = readable_env(db, owner, name, principal)
    service.delete_environment(db, env, owner, principal)
    return Response(status_code=204)


@router.put(f"{ENV}/star", response_model=EnvironmentOut)
def star(owner: str, name: str, db: Db, principal: WritePrincipal,
         settings: SettingsDep) -> EnvironmentOut:
    env = readable_env(db, owner, name, principal)
    catalog.set_star(db, env, principal, True)
    return service.environments_out(db, [env], principal, settings.public_url)[0]


@router.delete(f"{ENV}/star", response_model=EnvironmentOut)
def unstar(owner: str, name: str, db: Db, principal: WritePrincipal,
           settings: SettingsDep) -> EnvironmentOut:
    env = readable_env(db, owner, name, principal)
    catalog.set_star(db, env, principal, False)
    return service.environments_out(db, [env], principal, settings.public_url)[0]


@router.get(f"{ENV}/downloads", response_model=list[DailyCount])
def downloads(owner: str, name: str, db: Db, principal: OptionalPrincipal,
              days: int = Query(30, ge=1, le=365)) -> list[DailyCount]:
    env = readable_env(db, owner, name, principal)
    return [DailyCount(day=d, count=c) for d, c in catalog.daily_downloads(db, env, days)]


@router.get(f"{ENV}/versions", response_model=list[VersionSummary])
def list_versions(owner: str, name: str, db: Db, principal: OptionalPrincipal
                  ) -> list[VersionSummary]:
    return service.version_summaries(db, readable_env(db, owner, name, principal))


@router.get(f"{ENV}/versions/{{version}}", response_model=VersionOut)
def get_version(owner: str, name: str, version: str, db: Db, principal: OptionalPrincipal,
                settings: SettingsDep) -> VersionOut:
    env = readable_env(db, owner, name, principal)
    found = catalog.get_version(db, env, version)
    return service.version_out(db, env, owner, found, settings.public_url)


@router.delete(f"{ENV}/versions/{{version}}", status_code=204,
               responses=problem_responses(Forbidden, Conflict))
def delete_version(owner: str, name: str, version: str, db: Db, principal: WritePrincipal
                   ) -> Response:
    env = readable_env(db, owner, name, principal)
    service.delete_version(db, env, owner, principal, version)
    return Response(status_code=204)


@router.post(f"{ENV}/versions/{{version}}/yank", response_model=VersionOut)
def yank(owner: str, name: str, version: str, body: YankIn, db: Db, principal: WritePrincipal,
         settings: SettingsDep) -> VersionOut:
    env = readable_env(db, owner, name, principal)
    found = service.yank(db, env, owner, principal, version, body.reason, True)
    return service.version_out(db, env, owner, found, settings.public_url)


@router.post(f"{ENV}/versions/{{version}}/unyank", response_model=VersionOut)
def unyank(owner: str, name: str, version: str, db: Db, principal: WritePrincipal,
           settings: SettingsDep) -> VersionOut:
    env = readable_env(db, owner, name, principal)
    found = service.yank(db, env, owner, principal, version, None, False)
    return service.version_out(db, env, owner, found, settings.public_url)


@router.get(f"{ENV}/versions/{{version}}/tree", response_model=list[TreeEntry])
def source_tree(owner: str, name: str, version: str, db: Db, principal: OptionalPrincipal
                ) -> list[TreeEntry]:
    env = readable_env(db, owner, name, principal)
    found = catalog.get_version(db, env, version)
    rows = db.scalars(select(SourceEntry).where(SourceEntry.version_id == found.id)
                      .order_by(SourceEntry.path))
    return [TreeEntry(path=r.path, size=r.size, sha256=r.sha256) for r in rows]


@router.get(f"{ENV}/versions/{{version}}/files/{{path:path}}", response_model=FileContent)
def source_file(owner: str, name: str, version: str, path: str, db: Db,
                principal: OptionalPrincipal, settings: SettingsDep, storage: StorageDep,
                max_bytes: int | None = Query(None, ge=1)) -> FileContent:
    env = readable_env(db, owner, name, principal)
    found = catalog.get_version(db, env, version)
    entry = db.get(SourceEntry, (found.id, path))
    source = db.scalar(select(File).where(File.version_id == found.id,
                                          File.kind == FileKind.SOURCE))
    if entry is None or source is None:
        raise NotFound(f"No file '{path}' in {env.name} {found.version}.", code="file-not-found")
    cap = min(max_bytes or settings.max_source_file_bytes, settings.max_source_file_bytes)
    data, truncated = _read_member(storage, source.blob_key, path, cap)
    try:
        return FileContent(path=path, size=entry.size, content=data.decode("utf-8"),
                           encoding="utf-8", truncated=truncated)
    except UnicodeDecodeError:
        return FileContent(path=path, size=entry.size, content=base64.b64encode(data).decode(),
                           encoding="base64", truncated=truncated)


def _read_member(storage: Storage, key: str, member: str, cap: int) -> tuple[bytes, bool]:
    with tempfile.TemporaryDirectory(prefix="envhub-src-") as tmp:
        local = Path(tmp) / "source.tar.gz"
        with storage.open(key) as src, local.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        return read_source_member(local, member, cap)


@router.get(f"{ENV}/versions/{{version}}/download/{{filename}}",
            responses={200: {"content": {"application/octet-stream": {}}}})
def download(owner: str, name: str, version: str, filename: str, db: Db,
             principal: OptionalPrincipal, storage: StorageDep) -> Response:
    env = readable_env(db, owner, name, principal)
    found = catalog.get_version(db, env, version)
    f = db.scalar(select(File).where(File.version_id == found.id, File.filename == filename))
    if f is None:
        raise NotFound(f"No file '{filename}' in {env.name} {found.version}.",
                       code="file-not-found")
    catalog.count_download(db, env.id)
    return blob_response(storage, f, public=env.visibility == Visibility.PUBLIC)


def immutable_cache_control(*, public: bool) -> str:
    """A published file never changes, so shared caches may keep a public one forever; a
    private one must never sit in a shared cache, where it would outlive revoked access."""
    return "public, max-age=31536000, immutable" if public else "private, no-store"


def blob_response(storage: Storage, f: File, *, public: bool) -> Response:
    presigned = storage.presigned_get_url(f.blob_key, expires_in=300, filename=f.filename)
    if presigned:
        # The signed URL expires in minutes: no cache may remember where it points.
        return RedirectResponse(presigned, status_code=302,
                                headers={"Cache-Control": "no-store"})
    return StreamingResponse(
        storage.iter_chunks(f.blob_key), media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{f.filename}"',
                 "Content-Length": str(f.size), "ETag": f'"{f.sha256}"',
                 "Cache-Control": immutable_cache_control(public=public)},
    )


@router.post(f"{ENV}/uploads", response_model=UploadOut, status_code=201,
             responses=problem_responses(Forbidden, Conflict, InvalidInput))
def register_upload(owner: str, name: str, body: UploadCreate, response: Response, db: Db,
                    principal: WritePrincipal, settings: SettingsDep, storage: StorageDep
                    ) -> UploadOut:
    upload = publish.register(db, settings, principal, owner, name, body)
    already = publish.existing_identical(db, upload)
    if already is not None:
        db.delete(upload)
        response.status_code = 200
        env = readable_env(db, owner, name, principal)
        return UploadOut(id=upload.id, expires_at=upload.expires_at, files=[],
                         already_published=True,
                         version=service.version_out(db, env, owner, already, settings.public_url))
    return upload_out(db, settings, storage, upload)
