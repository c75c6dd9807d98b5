"""Shared FastAPI dependencies that are not owned by a domain.

`async def` on purpose: they do no I/O, and FastAPI runs every plain `def` dependency
in the threadpool, which costs a thread hand-off per dependency per request.
"""

from __future__ import annotations

from fastapi import Request

from hub.kit.settings import Settings
from hub.kit.storage import Storage


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage
