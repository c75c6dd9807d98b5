"""Provider shapes. A provider's secret is write-only: no response ever carries it."""

from __future__ import annotations

from pydantic import BaseModel, Field, HttpUrl


class ProviderIn(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    kind: str = Field("openai", pattern="^(openai|vllm)$")
    base_url: HttpUrl | None = None
    models: list[str] = Field(min_length=1, max_length=200)
    api_key: str | None = Field(None, max_length=4000)
    price_input_per_mtok: float | None = Field(None, ge=0)
    price_output_per_mtok: float | None = Field(None, ge=0)


class ProviderOut(BaseModel):
    name: str
    kind: str
    models: list[str]
    builtin: bool = False
    has_secret: bool = False
    price_input_per_mtok: float | None = None
    price_output_per_mtok: float | None = None


class ProviderAdminOut(ProviderOut):
    base_url: str
