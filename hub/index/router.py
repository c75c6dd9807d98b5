"""The package index: one package-scoped index per environment and one per owner.

The package-scoped index serves exactly one project, so `--extra-index-url` with it can
never shadow a PyPI package. Private environments answer only to a token, given by pip
and uv as HTTP basic credentials embedded in the index URL; to anyone else they are 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.accounts import service as accounts
from hub.accounts.deps import OptionalPrincipal
from hub.accounts.service import Principal
from hub.index.service import (
    STAMPS,
    PageCache,
    Rendered,
    project_cache_key,
    render_project,
    render_root,
    wants_json,
)
from hub.kit.deps import get_settings_dep, get_storage
from hub.kit.errors import NotFound
from hub.kit.http import TransactionalRoute, get_db
from hub.kit.names import normalize_project
from hub.kit.settings import Settings
from hub.kit.storage import Storage
from hub.registry import catalog
from hub.registry.access import readable_env
from hub.registry.models import Environment, File, FileKind, Visibility
from hub.registry.router import blob_response, immutable_cache_control

router = APIRouter(route_class=TransactionalRoute, tags=["index"], prefix="/index")
Db = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StorageDep = Annotated[Storage, Depends(get_storage)]

_cache = PageCache()


def _respond(request: Request, page: Rendered, private: bool) -> Response:
    headers = {
        "ETag": page.etag,
        "Vary": "Accept, Authorization",
        # Private pages must never sit in a shared cache; public ones may, briefly.
        "Cache-Control": "private, no-store" if private else "public, max-age=60",
    }
    if request.headers.get("if-none-match") == page.etag:
        return Response(status_code=304, headers=headers)
    return Response(page.body, media_type=page.media_type, headers=headers)


def _files_base(settings: Settings, owner: str, env: Environment) -> str:
    return f"{settings.public_url}/index/{owner}/files/{env.normalized_name}"


def _project_page(request: Request, db: Session, settings: Settings, owner: str,
                  env: Environment) -> Response:
    as_json = wants_json(request.headers.get("accept"))
    base = _files_base(settings, owner, env)
    key = project_cache_key(env, base, as_json)
    page = _cache.get(key)
    if page is None:
        page = render_project(db, env, base, as_json)
        _cache.put(key, page)
    if env.visibility == Visibility.PUBLIC:
        STAMPS.put((owner.lower(), env.normalized_name), env)
    return _respond(request, page, env.visibility == Visibility.PRIVATE)


def _hot_public_page(request: Request, settings: Settings, owner: str, project: str
                     ) -> Response | None:
    """An anonymous request for a public page seen within the stamp TTL: no database."""
    normalized = normalize_project(project)
    stamp = STAMPS.get((owner.lower(), normalized), settings.index_stamp_ttl_seconds)
    if stamp is None:
        return None
    base = f"{settings.public_url}/index/{owner}/files/{normalized}"
    page = _cache.get((stamp[0], stamp[1], base, wants_json(request.headers.get("accept"))))
    return None if page is None else _respond(request, page, False)


@router.get("/{owner}/{name}/simple/", summary="Package-scoped index root")
def scoped_root(owner: str, name: str, request: Request, db: Db, principal: OptionalPrincipal
                ) -> Response:
    env = readable_env(db, owner, name, principal)
    page = render_root([env.normalized_name], wants_json(request.headers.get("accept")))
    return _respond(request, page, env.visibility == Visibility.PRIVATE)


@router.get("/{owner}/{name}/simple/{project}/", summary="Package-scoped project page")
async def scoped_project(owner: str, name: str, project: str, request: Request,
                         principal: OptionalPrincipal, settings: SettingsDep) -> Response:
    if principal is None and normalize_project(project) == normalize_project(name):
        hot = _hot_public_page(request, settings, owner, project)
        if hot is not None:
            return hot
    db = await get_db(request)
    return await run_in_threadpool(_scoped_project, request, db, settings, owner, name,
                                   project, principal)


def _scoped_project(request: Request, db: Session, settings: Settings, owner: str, name: str,
                    project: str, principal: Principal | None) -> Response:
    env = readable_env(db, owner, name, principal)
    if normalize_project(project) != env.normalized_name:
        raise NotFound(f"This index serves only '{env.normalized_name}'.",
                       code="project-not-found")
    return _project_page(request, db, settings, owner, env)


@router.get("/{owner}/simple/", summary="Owner-wide index root")
def owner_root(owner: str, request: Request, db: Db, principal: OptionalPrincipal) -> Response:
    ns = accounts.get_namespace(db, owner)
    query = catalog.visible_filter(db, principal).where(Environment.owner_id == ns.id)
    names = [e.normalized_name for e in db.scalars(query)]
    page = render_root(names, wants_json(request.headers.get("accept")))
    return _respond(request, page, principal is not None)


@router.get("/{owner}/simple/{project}/", summary="Owner-wide project page")
async def owner_project(owner: str, project: str, request: Request,
                        principal: OptionalPrincipal, settings: SettingsDep) -> Response:
    if principal is None:
        hot = _hot_public_page(request, settings, owner, project)
        if hot is not None:
            return hot
    db = await get_db(request)
    return await run_in_threadpool(_owner_project, request, db, settings, owner, project,
                                   principal)


def _owner_project(request: Request, db: Session, settings: Settings, owner: str,
                   project: str, principal: Principal | None) -> Response:
    env = readable_env(db, owner, project, principal)
    return _project_page(request, db, settings, owner, env)


@router.get("/{owner}/files/{name}/{version}/{filename}", summary="Wheel or PEP 658 metadata")
def index_file(owner: str, name: str, version: str, filename: str, db: Db,
               principal: OptionalPrincipal, storage: StorageDep) -> Response:
    env = readable_env(db, owner, name, principal)
    found = catalog.get_version(db, env, version)
    want_metadata = filename.endswith(".metadata")
    wheel_name = filename.removesuffix(".metadata") if want_metadata else filename
    f = db.scalar(select(File).where(File.version_id == found.id, File.filename == wheel_name,
                                     File.kind == FileKind.WHEEL))
    if f is None:
        raise NotFound(
            f"No file '{filename}'.", code="file-not-found")
    if want_metadata:
        if f.metadata_key is None:
            raise NotFound("No metadata for this file.", code="file-not-found")
        with storage.open(f.metadata_key) as fh:
            body = fh.read()
        public = env.visibility == Visibility.PUBLIC
        return Response(body, media_type="text/plain; charset=utf-8",
                        headers={"Cache-Control": immutable_cache_control(public=public)})
    catalog.count_download(db, env.id)
    return blob_response(storage, f, public=env.visibility == Visibility.PUBLIC)
