"""Building simple-index pages (PEP 503 HTML, PEP 691 JSON) for environments.

Pages only change when an environment changes (publish, yank, delete bump
`updated_at`), so rendered pages are cached by (environment, updated_at, format).
"""

from __future__ import annotations

import hashlib
import html
import json
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from threading import Lock
from time import monotonic
from urllib.parse import quote

from packaging.version import Version as PepVersion
from sqlalchemy import event, select
from sqlalchemy.orm import Session, object_session

from hub.kit.db import after_commit
from hub.registry.models import Environment, File, FileKind, Version

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
API_VERSION = "1.1"  # PEP 700 (upload-time, versions, size)


@dataclass(frozen=True)
class Rendered:
    body: bytes
    media_type: str
    etag: str


def wants_json(accept: str | None) -> bool:
    """PEP 691 negotiation: JSON only when the client ranks it at least as high as HTML."""
    if not accept:
        return False
    best_json, best_html = -1.0, -1.0
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            k, _, v = param.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        media = media.strip().lower()
        if media == JSON_TYPE:
            best_json = max(best_json, q)
        elif media in (HTML_TYPE, "text/html", "*/*"):
            best_html = max(best_html, q)
    return best_json > 0 and best_json >= best_html


def _rendered(body: str, media_type: str) -> Rendered:
    data = body.encode()
    return Rendered(data, media_type, '"' + hashlib.sha256(data).hexdigest()[:32] + '"')


def render_root(projects: list[str], as_json: bool) -> Rendered:
    if as_json:
        doc = {"meta": {"api-version": API_VERSION},
               "projects": [{"name": p} for p in sorted(projects)]}
        return _rendered(json.dumps(doc), JSON_TYPE)
    links = "\n".join(f'    <a href="{quote(p)}/">{html.escape(p)}</a><br/>'
                      for p in sorted(projects))
    body = (f'<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version"'
            f' content="{API_VERSION}">\n    <title>Simple index</title>\n  </head>\n'
            f"  <body>\n{links}\n  </body>\n</html>\n")
    return _rendered(body, HTML_TYPE)


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def render_project(db: Session, env: Environment, files_base: str, as_json: bool) -> Rendered:
    rows = list(db.execute(
        select(Version, File).join(File, File.version_id == Version.id)
        .where(Version.environment_id == env.id, File.kind == FileKind.WHEEL)
    ).tuples().all())
    rows.sort(key=lambda r: (PepVersion(r[0].version), r[1].filename))
    versions = sorted({v.version for v, _ in rows}, key=PepVersion)
    if as_json:
        files = []
        for v, f in rows:
            entry: dict[str, object] = {
                "filename": f.filename,
                "url": f"{files_base}/{quote(v.version)}/{quote(f.filename)}",
                "hashes": {"sha256": f.sha256},
                "requires-python": v.requires_python,
                "yanked": (v.yanked_reason or True) if v.yanked else False,
                "size": f.size,
                "upload-time": _iso(f.upload_time),
            }
            if f.metadata_sha256:
                entry["core-metadata"] = {"sha256": f.metadata_sha256}
                entry["dist-info-metadata"] = {"sha256": f.metadata_sha256}
            files.append(entry)
        doc = {"meta": {"api-version": API_VERSION}, "name": env.normalized_name,
               "versions": versions, "files": files}
        return _rendered(json.dumps(doc), JSON_TYPE)
    links = []
    for v, f in rows:
        attrs = [f'href="{files_base}/{quote(v.version)}/{quote(f.filename)}#sha256={f.sha256}"']
        if v.requires_python:
            attrs.append(f'data-requires-python="{html.escape(v.requires_python)}"')
        if v.yanked:
            attrs.append(f'data-yanked="{html.escape(v.yanked_reason or "")}"')
        if f.metadata_sha256:
            attrs.append(f'data-dist-info-metadata="sha256={f.metadata_sha256}"')
            attrs.append(f'data-core-metadata="sha256={f.metadata_sha256}"')
        links.append(f"    <a {' '.join(attrs)}>{html.escape(f.filename)}</a><br/>")
    name = html.escape(env.normalized_name)
    body = (f'<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version"'
            f' content="{API_VERSION}">\n    <title>Links for {name}</title>\n  </head>\n'
            f"  <body>\n    <h1>Links for {name}</h1>\n" + "\n".join(links) +
            "\n  </body>\n</html>\n")
    return _rendered(body, HTML_TYPE)


class PageCache:
    """A small LRU of rendered project pages; keys include `updated_at`, so no invalidation."""

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._items: OrderedDict[tuple[object, ...], Rendered] = OrderedDict()
        self._lock = Lock()

    def get(self, key: tuple[object, ...]) -> Rendered | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[object, ...], value: Rendered) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def project_cache_key(env: Environment, files_base: str, as_json: bool
                      ) -> tuple[uuid.UUID, datetime, str, bool]:
    return (env.id, env.updated_at, files_base, as_json)


class StampCache:
    """(owner, project) -> (environment id, updated_at) of public environments, briefly.

    With it an anonymous request for a hot public page needs no database at all: the stamp
    names the cached page. Any ORM change to an Environment clears it when its transaction
    commits (see `_forget_stamps`); another hub process may serve a page up to `ttl`
    seconds old, well inside the `max-age=60` public pages already carry.
    """

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], tuple[float, uuid.UUID, datetime]] = {}

    def get(self, key: tuple[str, str], ttl: float) -> tuple[uuid.UUID, datetime] | None:
        found = self._items.get(key)
        if found is None or ttl <= 0 or monotonic() - found[0] > ttl:
            return None
        return found[1], found[2]

    def put(self, key: tuple[str, str], env: Environment) -> None:
        if len(self._items) > 10_000:
            self._items.clear()
        self._items[key] = (monotonic(), env.id, env.updated_at)

    def clear(self) -> None:
        self._items.clear()


STAMPS = StampCache()


@event.listens_for(Environment, "after_update")
@event.listens_for(Environment, "after_delete")
def _forget_stamps(_mapper: object, _connection: object, target: Environment) -> None:
    session = object_session(target)
    if session is not None:
        after_commit(session, STAMPS.clear)
