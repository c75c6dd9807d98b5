"""Serving the built web catalog (frontend/dist) from the API process.

Hashed assets are immutable and served pre-compressed (`.br`, `.gz` written by the build)
when the browser accepts it. Every other non-API path returns index.html so deep links
(`/alice/my-env`, `/evals/<id>`) work on reload; for the home page and the catalog it
carries `<link rel="preload" as="fetch">` for the API calls the page makes first
(`hub.web.preload`). Production may serve the same files from any static server or CDN
instead (without the preloads the page simply fetches its data itself).
"""

from __future__ import annotations

import html
import mimetypes
import os
import stat
from pathlib import Path
from threading import Lock
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.staticfiles import NotModifiedResponse

from hub.kit.errors import NotFound
from hub.web.compression import accepted_codings
from hub.web.preload import preload_urls

DEFAULT_DIST = Path(__file__).resolve().parents[2] / "frontend" / "dist"
_NOT_BUILT = """<!doctype html><title>Environments Hub</title>
<p>The web catalog is not built. Run <code>make run</code> (it builds <code>frontend/</code>),
or use the API at <a href="/api/v1/docs">/api/v1/docs</a>.</p>"""
_API_PREFIXES = ("/api/", "/index/")
IMMUTABLE = "public, max-age=31536000, immutable"
# Pre-compressed variants, best first: (Content-Encoding, file suffix).
VARIANTS = (("br", ".br"), ("gzip", ".gz"))


def mount_frontend(app: FastAPI, dist: Path = DEFAULT_DIST) -> None:
    assets = dist / "assets"
    if assets.is_dir():
        app.mount("/assets", _ImmutableStatic(directory=assets), name="assets")
    index = _IndexTemplate(dist / "index.html")

    @app.get("/{path:path}", include_in_schema=False)
    def spa(path: str, request: Request) -> Response:
        if request.url.path.startswith(_API_PREFIXES):
            raise NotFound(f"No route {request.url.path}.", code="route-not-found")
        candidate = (dist / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(dist.resolve()):
            return FileResponse(candidate)
        page = index.render(preload_urls(request.url.path, request.url.query))
        if page is None:
            return HTMLResponse(_NOT_BUILT, status_code=503)
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


class _IndexTemplate:
    """dist/index.html, re-read when the build replaces it, with preload links put in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = Lock()
        self._cached: tuple[tuple[int, int], str] | None = None

    def _text(self) -> str | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if self._cached is None or self._cached[0] != key:
                self._cached = (key, self.path.read_text(encoding="utf-8"))
            return self._cached[1]

    def render(self, preloads: list[str]) -> str | None:
        text = self._text()
        if text is None or not preloads:
            return text
        head_end = text.find("</head>")
        if head_end < 0:
            return text
        first_script = text.find("<script", 0, head_end)
        at = first_script if first_script >= 0 else head_end
        # crossorigin (= credentials "same-origin"), as the page's own fetch, or the
        # browser will not hand the preloaded response to it.
        links = "".join(f'<link rel="preload" as="fetch" crossorigin href="{html.escape(u)}">\n    '
                        for u in preloads)
        return text[:at] + links + text[at:]


class _ImmutableStatic(StaticFiles):
    """Hashed assets: cached forever, and pre-compressed variants when the client takes
    them (`app-1234.js.br` for `app-1234.js`, with `Content-Encoding: br`)."""

    async def get_response(self, path: str, scope: dict) -> Response:  # type: ignore[override,type-arg]
        response = await super().get_response(path, scope)
        if response.status_code in (200, 206):
            response.headers["Cache-Control"] = IMMUTABLE
        return response

    def file_response(self, full_path: Any, stat_result: os.stat_result, scope: Any,
                      status_code: int = 200) -> Response:
        request_headers = Headers(scope=scope)
        media_type = mimetypes.guess_type(str(full_path))[0] or "application/octet-stream"
        accepted = accepted_codings(request_headers.get("accept-encoding"))
        response: Response | None = None
        for coding, suffix in VARIANTS:
            if coding not in accepted:
                continue
            variant = f"{full_path}{suffix}"
            try:
                variant_stat = os.stat(variant)
            except OSError:
                continue
            if stat.S_ISREG(variant_stat.st_mode):
                response = FileResponse(
                    variant, status_code=status_code, stat_result=variant_stat,
                    media_type=media_type,
                    headers={"Content-Encoding": coding, "Vary": "Accept-Encoding"})
                break
        if response is None:
            response = FileResponse(full_path, status_code=status_code, stat_result=stat_result,
                                    media_type=media_type, headers={"Vary": "Accept-Encoding"})
        if self.is_not_modified(response.headers, request_headers):
            return NotModifiedResponse(response.headers)
        return response
