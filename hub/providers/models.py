"""Operator-registered OpenAI-compatible inference endpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.kit.db import Base, CreatedMixin, IdMixin, utcnow


class Provider(IdMixin, CreatedMixin, Base):
    __tablename__ = "providers"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    # "openai" = any OpenAI-compatible URL; "vllm" = the GPU queue starts vLLM itself.
    kind: Mapped[str] = mapped_column(String(16), default="openai")
    base_url: Mapped[str] = mapped_column(String(500), default="")
    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Fernet token (key derived from HUB_SECRET_KEY); the plaintext is never stored.
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # US dollars per million tokens, for the leaderboard's cost column.
    price_input_per_mtok: Mapped[float | None]
    price_output_per_mtok: Mapped[float | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
