"""Reading and managing environments: list, status, details, versions, inspect, delete, fork.

Paths keep the prime client's shape: `{owner}/{name}` for an environment, `@{ref}` for a
version, where ref is `latest`, a version number or a content-hash prefix.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.accounts.deps import OptionalPrincipal, WritePrincipal
from hub.compat.prime.route import (
    Db,
    PrimeRoute,
    SettingsDep,
    StorageDep,
    data,
    parse_visibility,
)
from hub.compat.prime.schemas import ForkIn
from hub.compat.prime.wire import (
    environment_rows,
    owner_of,
    status,
    target_owner,
    version_details,
    version_rows,
)
from hub.kit.errors import InvalidInput, NotFound, NotImplementedYet, Unauthorized
from hub.registry import catalog, service
from hub.registry.access import readable_env

router = APIRouter(route_class=PrimeRoute, tags=["prime-compat"])
HUB = "/environmentshub"
ENV = f"{HUB}/{{owner}}/{{name}}"

_SORTS = {"name": "name", "created_at": "created", "updated_at": "updated", "stars": "stars"}
# Offsets that are not a multiple of the page size are served from one larger page;
# bound it so a query string cannot ask for the whole catalog at once.
_MAX_WINDOW = 1000


@router.get(f"{HUB}/")
@router.get(HUB, include_in_schema=False)
def list_environments(
    db: Db, principal: OptionalPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    sort_by: str = "created_at",
    sort_order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    owner: str | None = None, visibility: str | None = None, search: str | None = None,
    tags: Annotated[list[str] | None, Query()] = None,
    starred_only: bool = False, mine_only: bool = False,
    include_teams: bool = True,  # noqa: ARG001 - teams are always included on this hub
) -> dict[str, Any]:
    if (starred_only or mine_only) and principal is None:
        raise Unauthorized("--mine and --starred need a token (PRIME_API_KEY).",
                           code="unauthenticated")
    if sort_by not in _SORTS:
        raise InvalidInput(f"sort_by must be one of {', '.join(_SORTS)}.", code="invalid-sort")
    if offset % limit == 0:
        page, per_page, skip = offset // limit + 1, limit, 0
    elif offset + limit <= _MAX_WINDOW:
        page, per_page, skip = 1, offset + limit, offset
    else:
        raise InvalidInput("offset must be a multiple of limit past the first"
                           f" {_MAX_WINDOW} results.", code="invalid-offset")
    rows, total = catalog.search(db, principal, catalog.SearchQuery(
        q=search, owner=owner, tags=tuple(tags or ()),
        visibility=parse_visibility(visibility) if visibility else None,
        sort=_SORTS[sort_by], order=sort_order, page=page, per_page=per_page, mine=mine_only,
        starred_by=principal.user_id if starred_only and principal else None,
    ))
    return data(environment_rows(db, rows[skip:]), total_count=total, offset=offset,
                limit=limit)


@router.get(f"{ENV}/status")
def environment_status(owner: str, name: str, db: Db, principal: OptionalPrincipal
                       ) -> dict[str, Any]:
    return data(status(db, readable_env(db, owner, name, principal)))


@router.get(f"{ENV}/versions")
def list_versions(owner: str, name: str, db: Db, principal: OptionalPrincipal
                  ) -> dict[str, Any]:
    return data(version_rows(db, readable_env(db, owner, name, principal)))


@router.get(f"{ENV}/@{{ref}}")
def version_detail(owner: str, name: str, ref: str, db: Db, principal: OptionalPrincipal,
                   settings: SettingsDep) -> dict[str, Any]:
    env = readable_env(db, owner, name, principal)
    version = catalog.version_by_ref(db, env, ref)
    return data(version_details(db, env, version, settings.public_url))


@router.get(f"{ENV}/@{{ref}}/inspect")
def inspect(owner: str, name: str, ref: str, db: Db, principal: OptionalPrincipal,
            settings: SettingsDep, storage: StorageDep, path: str | None = None,
            max_bytes: Annotated[int, Query(ge=1)] = 100_000) -> dict[str, Any]:
    """A directory listing, or one file's text, from the version's source archive."""
    env = readable_env(db, owner, name, principal)
    version = catalog.version_by_ref(db, env, ref)
    entries = service.source_entries(db, version)
    wanted = (path or "").strip("/")
    if wanted and any(e.path == wanted for e in entries):
        cap = min(max_bytes, settings.max_source_file_bytes)
        entry, raw, truncated = service.read_source_file(db, storage, version, wanted, cap)
        try:
            content, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            content, encoding = base64.b64encode(raw).decode("ascii"), "base64"
        return data({"kind": "file", "path": wanted, "version_id": str(version.id),
                     "content": content, "encoding": encoding, "truncated": truncated,
                     "total_bytes": entry.size, "size": entry.size,
                     "entry": {"name": wanted.rsplit("/", 1)[-1], "path": wanted,
                               "is_directory": False, "size": entry.size,
                               "content_hash": entry.sha256}})
    prefix = f"{wanted}/" if wanted else ""
    dirs: set[str] = set()
    files: list[dict[str, Any]] = []
    for e in entries:
        if not e.path.startswith(prefix):
            continue
        head, sep, _ = e.path[len(prefix):].partition("/")
        if sep:
            dirs.add(head)
        else:
            files.append({"name": head, "path": e.path, "is_directory": False, "size": e.size,
                          "content_hash": e.sha256})
    if wanted and not dirs and not files:
        raise NotFound(f"No file or directory '{wanted}' in {env.name} {version.version}.",
                       code="file-not-found")
    listing = [{"name": d, "path": prefix + d, "is_directory": True, "size": None}
               for d in sorted(dirs)] + files
    return data({"kind": "directory", "path": wanted or "/", "version_id": str(version.id),
                 "entries": listing, "truncated": False})


@router.delete(f"{ENV}/@{{ref}}")
def delete_version(owner: str, name: str, ref: str, db: Db, principal: WritePrincipal
                   ) -> dict[str, Any]:
    env = readable_env(db, owner, name, principal)
    version = catalog.version_by_ref(db, env, ref)
    deleted = version.version
    service.delete_version(db, env, owner_of(db, env), principal, deleted)
    return data({"success": True, "deleted_version": deleted})


@router.post(f"{ENV}/fork")
def fork(owner: str, name: str, db: Db, principal: WritePrincipal,
         body: ForkIn | None = None) -> dict[str, Any]:
    env = readable_env(db, owner, name, principal)
    body = body or ForkIn()
    target = target_owner(db, principal, None, body.team_slug, body.team_id)
    copy_env, copy = service.fork_environment(db, principal, env, owner_of(db, env), target)
    slug = f"{target}/{copy_env.name}"
    return data({"success": True, "message": f"Forked {owner_of(db, env)}/{env.name} to {slug}",
                 "environment_id": str(copy_env.id), "version_id": str(copy.id),
                 "name": copy_env.name, "owner": target, "slug": slug})


_NO_SECRETS = ("Environment secrets and variables are not supported by this hub: pass"
               " configuration as environment arguments (env_args) instead.")


_ALL = ["GET", "POST", "PATCH", "DELETE"]


# Undocumented stubs (one function under several paths): the client gets a clear 501.
@router.api_route(f"{HUB}/{{env_id}}/secrets", methods=_ALL, include_in_schema=False)
@router.api_route(f"{HUB}/{{env_id}}/secrets/{{rest:path}}", methods=_ALL,
                  include_in_schema=False)
@router.api_route(f"{HUB}/{{env_id}}/variables", methods=_ALL, include_in_schema=False)
@router.api_route(f"{HUB}/{{env_id}}/variables/{{rest:path}}", methods=_ALL,
                  include_in_schema=False)
def secrets_and_variables(env_id: str) -> dict[str, Any]:  # noqa: ARG001
    raise NotImplementedYet(_NO_SECRETS, code="secrets-not-supported")


@router.get(ENV)
def environment(owner: str, name: str, db: Db, principal: OptionalPrincipal) -> dict[str, Any]:
    return data(status(db, readable_env(db, owner, name, principal)))


@router.delete(ENV)
def delete_environment(owner: str, name: str, db: Db, principal: WritePrincipal
                       ) -> dict[str, Any]:
    env = readable_env(db, owner, name, principal)
    slug = f"{owner_of(db, env)}/{env.name}"
    service.delete_environment(db, env, owner_of(db, env), principal)
    return data({"success": True, "deleted": slug})
