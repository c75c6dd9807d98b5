"""Shared FastAPI dependencies that are not owned by a domain."""

from __future__ import annotations

from fastapi import Request

from hub.kit.settings import Settings
from hub.kit.storage import Storage


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage
