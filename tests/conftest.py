from __future__ import annotations

pytest_plugins = [
    "tests.support.db",
    "tests.support.s3",
    "tests.support.hub",
    "tests.support.live",
    "tests.support.live_worker",
    "tests.support.browser",
]
