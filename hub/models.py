"""Imports every domain's models so metadata (Alembic, tests) sees all tables."""

from hub.accounts import models as accounts_models
from hub.registry import models as registry_models

__all__ = ["accounts_models", "registry_models"]
