"""Imports every domain's models so metadata (Alembic, tests) sees all tables."""

from hub.accounts import models as accounts_models
from hub.evals import models as evals_models
from hub.jobs import models as jobs_models
from hub.providers import models as providers_models
from hub.registry import models as registry_models

__all__ = ["accounts_models", "evals_models", "jobs_models", "providers_models",
           "registry_models"]
