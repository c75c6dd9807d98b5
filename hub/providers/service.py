"""Inference providers: the built-in `local` model plus operator-registered endpoints.

`local` is not a row: it exists whenever HUB_LOCAL_MODEL_URL is set (the default points at
the model server `envhub serve` starts), so it can never be misconfigured into paying.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.jobs.models import Queue
from hub.jobs.settings import JobSettings
from hub.kit.db import utcnow
from hub.kit.errors import Conflict, InvalidInput, NotFound
from hub.providers import crypto
from hub.providers.models import Provider
from hub.providers.schemas import ProviderAdminOut, ProviderIn, ProviderOut

LOCAL = "local"
# Same id as workers.inference.local_model.MODEL_ID (not imported: that module is the
# model server's, and the API must not depend on it).
LOCAL_MODEL = "smollm2-135m-instruct"


@dataclass(frozen=True)
class ResolvedModel:
    """Everything a worker needs to reach a model. `api_key` is plaintext: keep it in
    memory, hand it only to the gateway, never to the sandbox or a log."""

    provider: str
    model: str
    kind: str
    base_url: str
    api_key: str | None
    price_input_per_mtok: float | None
    price_output_per_mtok: float | None

    @property
    def queue(self) -> str:
        return Queue.GPU if self.kind == "vllm" else Queue.EVALS


def split_model(ref: str) -> tuple[str, str]:
    provider, sep, model = ref.partition("/")
    if not sep or not provider or not model:
        raise InvalidInput(f"model must be PROVIDER/MODEL (e.g. {LOCAL}/{LOCAL_MODEL}),"
                           f" not '{ref}'.", code="invalid-model")
    return provider, model


def list_providers(db: Session, jobs: JobSettings) -> list[ProviderOut]:
    out: list[ProviderOut] = []
    if jobs.local_model_url:
        out.append(ProviderOut(name=LOCAL, kind="openai", models=[LOCAL_MODEL], builtin=True))
    for p in db.scalars(select(Provider).where(Provider.enabled.is_(True))
                        .order_by(Provider.name)):
        out.append(ProviderOut(name=p.name, kind=p.kind, models=list(p.models),
                               has_secret=p.secret_encrypted is not None,
                               price_input_per_mtok=p.price_input_per_mtok,
                               price_output_per_mtok=p.price_output_per_mtok))
    return out


def admin_out(p: Provider) -> ProviderAdminOut:
    return ProviderAdminOut(name=p.name, kind=p.kind, models=list(p.models),
                            base_url=p.base_url, has_secret=p.secret_encrypted is not None,
                            price_input_per_mtok=p.price_input_per_mtok,
                            price_output_per_mtok=p.price_output_per_mtok)


def upsert_provider(db: Session, secret_key: str, body: ProviderIn, *, replace: bool
                    ) -> Provider:
    if body.name == LOCAL:
        raise Conflict(f"'{LOCAL}' is the built-in provider; pick another name.",
                       code="provider-reserved")
    if body.kind == "openai" and body.base_url is None:
        raise InvalidInput("An OpenAI-compatible provider needs base_url.",
                           code="provider-base-url-required")
    existing = db.scalar(select(Provider).where(Provider.name == body.name))
    if existing is not None and not replace:
        raise Conflict(f"Provider '{body.name}' exists; pass replace to change it.",
                       code="provider-exists")
    provider = existing or Provider(name=body.name)
    provider.kind = body.kind
    provider.base_url = str(body.base_url).rstrip("/") if body.base_url else ""
    provider.models = sorted({m.strip() for m in body.models if m.strip()})
    if body.api_key is not None:
        provider.secret_encrypted = crypto.encrypt(secret_key, body.api_key) \
            if body.api_key else None
    provider.price_input_per_mtok = body.price_input_per_mtok
    provider.price_output_per_mtok = body.price_output_per_mtok
    provider.enabled = True
    provider.updated_at = utcnow()
    db.add(provider)
    db.flush()
    return provider


def delete_provider(db: Session, name: str) -> None:
    provider = db.scalar(select(Provider).where(Provider.name == name))
    if provider is None:
        raise NotFound(f"No provider '{name}'.", code="provider-not-found")
    db.delete(provider)
    db.flush()


def resolve(db: Session, jobs: JobSettings, ref: str, *, secret_key: str | None = None
            ) -> ResolvedModel:
    """Find PROVIDER/MODEL; with `secret_key` the provider's API key is decrypted too."""
    name, model = split_model(ref)
    if name == LOCAL and jobs.local_model_url:
        if model != LOCAL_MODEL:
            raise _unknown_model(name, model, [LOCAL_MODEL])
        return ResolvedModel(LOCAL, model, "openai", jobs.local_model_url.rstrip("/"), None,
                             None, None)
    provider = db.scalar(select(Provider).where(Provider.name == name,
                                                Provider.enabled.is_(True)))
    if provider is None:
        raise NotFound(f"No provider '{name}'. See GET /api/v1/providers.",
                       code="provider-not-found")
    if model not in provider.models:
        raise _unknown_model(name, model, provider.models)
    key = None
    if secret_key is not None and provider.secret_encrypted:
        key = crypto.decrypt(secret_key, provider.secret_encrypted)
    return ResolvedModel(provider.name, model, provider.kind, provider.base_url, key,
                         provider.price_input_per_mtok, provider.price_output_per_mtok)


def _unknown_model(provider: str, model: str, models: list[str]) -> NotFound:
    return NotFound(f"Provider '{provider}' has no model '{model}'; it offers:"
                    f" {', '.join(models) or 'none'}.", code="model-not-found")


def cost_of(model: ResolvedModel, tokens_in: int, tokens_out: int) -> float | None:
    if model.price_input_per_mtok is None and model.price_output_per_mtok is None:
        return None
    return (tokens_in * (model.price_input_per_mtok or 0.0)
            + tokens_out * (model.price_output_per_mtok or 0.0)) / 1_000_000
