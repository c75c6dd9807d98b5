"""The web catalog's typed client is generated from `frontend/openapi.json`; it must be
the current hub's schema, or the UI silently drifts from the API it calls (it did once:
it was built against hand-written evaluation shapes the hub never served)."""

from __future__ import annotations

import json
from pathlib import Path

from hub.openapi import schema

DUMP = Path(__file__).resolve().parents[2] / "frontend" / "openapi.json"


def test_frontend_openapi_dump_is_the_hubs_schema() -> None:
    committed = json.loads(DUMP.read_text())
    assert committed == schema(), (
        "frontend/openapi.json is stale. Regenerate the client:\n"
        "  python -m hub.openapi > frontend/openapi.json\n"
        "  cd frontend && npm run gen:api && npm run build && npm test")
