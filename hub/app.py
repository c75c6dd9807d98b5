"""The FastAPI application factory."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts.router import router as accounts_router
from hub.compat.prime import router as prime_router
from hub.evals.router import router as evals_router
from hub.index.router import router as index_router
from hub.jobs.dispatch import celery_dispatcher
from hub.jobs.router import router as jobs_router
from hub.jobs.service import Dispatcher
from hub.kit.db import engine_for, session_factory
from hub.kit.http import install_problem_handlers
from hub.kit.settings import Settings, get_settings
from hub.kit.storage import Storage, storage_from_settings
from hub.leaderboards.router import router as leaderboards_router
from hub.providers.router import router as providers_router
from hub.registry.audit_router import router as audit_router
from hub.registry.router import router as registry_router
from hub.registry.uploads_router import router as uploads_router
from hub.web.compression import CompressResponses
from hub.web.spa import mount_frontend

API_PREFIX = "/api/v1"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; branch on `code`, never on `detail`.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable machine code"},
        "instance": {"type": "string"},
    },
}


def create_app(
    settings: Settings | None = None,
    *,
    sessions: sessionmaker[Session] | None = None,
    storage: Storage | None = None,
    dispatcher: Dispatcher | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Environments Hub",
        version="1",
        description="Registry, package index and evaluation service for RL environments.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=f"{API_PREFIX}/redoc",
    )
    app.state.settings = settings
    app.state.session_factory = sessions or session_factory(engine_for(settings.database_url))
    app.state.storage = storage or storage_from_settings(settings)
    # Sends job tasks after commit; tests swap in a RecordingDispatcher.
    app.state.job_dispatcher = dispatcher or celery_dispatcher(settings)
    install_problem_handlers(app)
    # gzip for API JSON, index pages and index.html; never downloads, SSE or pre-compressed
    # assets (hub/web/compression.py).
    app.add_middleware(CompressResponses)

    app.include_router(accounts_router, prefix=API_PREFIX)
    app.include_router(registry_router, prefix=API_PREFIX)
    app.include_router(audit_router, prefix=API_PREFIX)
    app.include_router(uploads_router, prefix=API_PREFIX)
    app.include_router(evals_router, prefix=API_PREFIX)
    app.include_router(jobs_router, prefix=API_PREFIX)
    app.include_router(providers_router, prefix=API_PREFIX)
    app.include_router(leaderboards_router, prefix=API_PREFIX)
    app.include_router(index_router)
    app.include_router(prime_router)

    @app.get(f"{API_PREFIX}/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                PROBLEM_SCHEMA
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # The web catalog's catch-all route: it must stay the last route registered.
    mount_frontend(app)
    return app
