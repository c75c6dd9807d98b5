"""The hub's environments and versions in the shapes the prime client reads.

Pure presentation: every value comes from the registry's own rows and URL helpers, so
an environment pushed with `prime env push` and one published with `envhub push` look
the same here and everywhere else.
"""

from __future__ import annotations

import uuid
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from sqlalchemy.orm import Session

from hub.accounts import service as accounts
from hub.accounts.service import Principal
from hub.compat.prime.route import iso, wire_runtime, wire_visibility
from hub.kit.errors import NotFound
from hub.registry import catalog, service
from hub.registry.models import Environment, File, FileKind, Version, Visibility


def owner_of(db: Session, env: Environment) -> str:
    return accounts.namespace_name(db, env.owner_id)


def target_owner(db: Session, principal: Principal, owner_slug: str | None,
                 team_slug: str | None, team_id: str | None) -> str:
    """The namespace a push or fork goes to: `-o OWNER`, a team slug or id, else the caller."""
    if owner_slug:
        return owner_slug.lower()
    if team_slug:
        return accounts.get_org(db, team_slug).name
    if team_id:
        try:
            return accounts.namespace_name(db, uuid.UUID(team_id))
        except ValueError:
            raise NotFound(f"No team with id '{team_id}'. `prime teams list` shows the ids"
                           " of your organizations on this hub.", code="org-not-found") from None
    return principal.user.username


def environment_rows(db: Session, envs: list[Environment]) -> list[dict[str, Any]]:
    """`prime env list` rows: `latest_version` is the version string here, not an object."""
    owners = catalog.owner_names(db, {e.owner_id for e in envs})
    tags = catalog.tags_of(db, [e.id for e in envs])
    return [{
        "id": str(e.id), "name": e.name, "owner": {"name": owners[e.owner_id]},
        "description": e.description, "visibility": wire_visibility(e.visibility),
        "latest_version": e.latest_version, "runtime": wire_runtime(e.runtime),
        "stars": e.stars, "downloads": e.downloads, "tags": tags.get(e.id, []),
        "created_at": iso(e.created_at), "updated_at": iso(e.updated_at),
    } for e in envs]


def version_brief(version: Version | None) -> dict[str, Any] | None:
    if version is None:
        return None
    return {"id": str(version.id), "version_id": str(version.id),
            "semantic_version": version.version, "content_hash": version.content_hash,
            "created_at": iso(version.created_at)}


def status(db: Session, env: Environment) -> dict[str, Any]:
    latest = catalog.latest(catalog.versions_of(db, env))
    return {"id": str(env.id), "name": env.name, "owner": {"name": owner_of(db, env)},
            "description": env.description, "visibility": wire_visibility(env.visibility),
            "runtime": wire_runtime(env.runtime), "latest_version": version_brief(latest)}


def url_dependencies(requires: list[str]) -> list[str]:
    """Direct-reference requirements (`pkg @ https://...`): installers need them spelled out."""
    out = []
    for text in requires:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.url and (req.marker is None or req.marker.evaluate({"extra": ""})):
            out.append(text)
    return out


def _file(files: list[File], kind: FileKind) -> File | None:
    return next((f for f in files if f.kind == kind), None)


def version_details(db: Session, env: Environment, version: Version, public_url: str
                    ) -> dict[str, Any]:
    """`GET .../@{ref}`: what info, pull and install read.

    Public versions carry the package-scoped index (install by name, no credentials) and
    the wheel URL. Private ones carry only the source download, which the client fetches
    with its token and builds locally: an index URL would need the token in it.
    """
    owner = owner_of(db, env)
    files = catalog.files_of(db, [version.id])[version.id]
    latest = catalog.latest(catalog.versions_of(db, env))
    source, wheel = _file(files, FileKind.SOURCE), _file(files, FileKind.WHEEL)

    def url(f: File) -> str:
        return service.download_url(public_url, owner, env, version.version, f.filename)

    tags = catalog.tags_of(db, [env.id]).get(env.id, [])
    out: dict[str, Any] = {
        "id": str(env.id), "environment_id": str(env.id), "name": env.name,
        "owner": {"name": owner}, "visibility": wire_visibility(env.visibility),
        "version_id": str(version.id), "semantic_version": version.version,
        "version": version.version, "content_hash": version.content_hash,
        "runtime": wire_runtime(version.runtime), "yanked": version.yanked,
        "created_at": iso(version.created_at),
        "metadata": {
            "description": version.description or env.description, "tags": tags,
            "license": version.license, "python_requires": version.requires_python,
            "dependencies": version.dependencies, "requires_dist": version.dependencies,
        },
        "latest_version": version_brief(latest),
        "url_dependencies": url_dependencies(version.dependencies),
        "files": [{"kind": f.kind.value, "filename": f.filename, "sha256": f.sha256,
                   "size": f.size, "url": url(f)} for f in files],
        "package_url": url(source) if source else None,
        "tracked_package_url": url(source) if source else None,
    }
    if env.visibility == Visibility.PUBLIC:
        index = service.index_url(public_url, owner, env.normalized_name)
        out |= {"install_index_url": index, "simple_index_url": index,
                "wheel_url": url(wheel) if wheel else None}
    return out


def version_rows(db: Session, env: Environment) -> list[dict[str, Any]]:
    """`prime env version list`: newest first. The client shows `size` as the number of
    artifacts, so that is what `size` is; the byte total is in `total_bytes`."""
    versions = catalog.versions_of(db, env)
    files = catalog.files_of(db, [v.id for v in versions])
    return [{"id": str(v.id), "version": v.version, "semantic_version": v.version,
             "content_hash": v.content_hash, "sha256": v.content_hash,
             "created_at": iso(v.created_at), "yanked": v.yanked,
             "size": len(files[v.id]), "total_bytes": sum(f.size for f in files[v.id])}
            for v in versions]
