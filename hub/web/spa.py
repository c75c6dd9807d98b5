"""Serving the built web catalog (frontend/dist) from the API process.

Hashed assets are immutable; every other non-API path returns index.html so deep links
(`/alice/my-env`, `/evals/<id>`) work on reload. Production may serve the same files
from any static server or CDN instead.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from hub.kit.errors import NotFound

DEFAULT_DIST = Path(__file__).resolve().parents[2] / "frontend" / "dist"
_NOT_BUILT = """<!doctype html><title>Environments Hub</title>
<p>The web catalog is not built. Run <code>make run</code> (it builds <code>frontend/</code>),
or use the API at <a href="/api/v1/docs">/api/v1/docs</a>.</p>"""
_API_PREFIXES = ("/api/", "/index/")


def mount_frontend(app: FastAPI, dist: Path = DEFAULT_DIST) -> None:
    assets = dist / "assets"
    if assets.is_dir():
        app.mount("/assets", _ImmutableStatic(directory=assets), name="assets")

    @app.get("/{path:path}", include_in_schema=False)
    def spa(path: str, request: Request) -> Response:
        if request.url.path.startswith(_API_PREFIXES):
            raise NotFound(f"No route {request.url.path}.", code="route-not-found")
        candidate = (dist / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(dist.resolve()):
            return FileResponse(candidate)
        index = dist / "index.html"
        if not index.is_file():
            return HTMLResponse(_NOT_BUILT, status_code=503)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})


class _ImmutableStatic(StaticFiles):
    async def get_response(self, path: str, scope: dict) -> Response:  # type: ignore[override,type-arg]
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response
