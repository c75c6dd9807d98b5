"""Names of owners and environments: validation, normalization, reserved words."""

from __future__ import annotations

import re

from hub.kit.errors import InvalidInput

# PEP 508 project names, case-insensitive; we additionally cap the length.
_PROJECT_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_OWNER_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?$")

# Words that appear as path segments of the web app, the API or the prime-compat routes:
# an owner or environment with such a name would shadow a route.
RESERVED = frozenset(
    {
        "about", "account", "api", "assets", "dashboard", "docs", "environments",
        "environmentshub", "evals", "evaluations", "explore", "favicon.ico", "health",
        "index", "login", "logout", "me", "new", "orgs", "resolve", "robots.txt",
        "search", "secrets", "session", "settings", "signup", "simple", "static",
        "status", "tokens", "user", "users", "variables", "versions", "wheels", "www",
        "leaderboard", "leaderboards", "providers", "jobs", "training", "null", "none",
    }
)


def normalize_project(name: str) -> str:
    """PEP 503 normalization: runs of -, _ and . become a single -, lowercased."""
    return re.sub(r"[-_.]+", "-", name).lower()


def validate_env_name(name: str) -> str:
    if len(name) > 100 or not _PROJECT_RE.match(name):
        raise InvalidInput(
            f"'{name}' is not a valid environment name: use letters, digits, '-', '_' and '.',"
            " starting and ending with a letter or digit (PEP 508), at most 100 characters.",
            code="invalid-name",
        )
    if normalize_project(name) in RESERVED:
        raise InvalidInput(f"'{name}' is a reserved word; pick another name.", code="reserved-name")
    return name


def validate_owner_name(name: str) -> str:
    if not _OWNER_RE.match(name):
        raise InvalidInput(
            f"'{name}' is not a valid user or organization name: lowercase letters, digits and"
            " '-', starting and ending with a letter or digit, at most 39 characters.",
            code="invalid-name",
        )
    if name in RESERVED:
        raise InvalidInput(f"'{name}' is a reserved word; pick another name.", code="reserved-name")
    return name
