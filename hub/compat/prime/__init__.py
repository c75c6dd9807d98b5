"""The prime CLI's Environments Hub API (PyPI `prime==0.18.0`), served over the hub's own
services. See docs/design/prime-compat.md. Mount with `app.include_router(router)`."""

from __future__ import annotations

from fastapi import APIRouter

from hub.compat.prime import browse, evaluations, hosted, push, users
from hub.compat.prime.route import API_PREFIX

router = APIRouter(prefix=API_PREFIX)
# push first: its fixed paths (`/resolve`, `/lookup`) must win over `{owner}/{name}` shapes.
router.include_router(push.router)
router.include_router(browse.router)
router.include_router(users.router)
router.include_router(evaluations.router)
router.include_router(hosted.router)

__all__ = ["router"]
