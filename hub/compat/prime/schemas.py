"""Request bodies the prime client sends. Unknown fields are ignored, as the client adds
fields across releases; answers are built as plain dicts in `wire.py`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

HEX64 = r"^[0-9a-f]{64}$"


class ResolveIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    visibility: str | None = None
    owner_slug: str | None = None
    team_slug: str | None = None
    team_id: str | None = None


class LookupIn(BaseModel):
    id: str = Field(min_length=1, max_length=100)


class WheelIn(BaseModel):
    content_hash: str = Field(pattern=HEX64)
    filename: str = Field(min_length=1, max_length=255)
    sha256: str = Field(pattern=HEX64)
    size: int = Field(gt=0)
    semantic_version: str | None = Field(default=None, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)
    runtime_hint: str | None = None


class SourceIn(BaseModel):
    content_hash: str = Field(pattern=HEX64)
    filename: str = Field(min_length=1, max_length=255)
    sha256: str = Field(pattern=HEX64)
    semantic_version: str | None = Field(default=None, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)
    runtime_hint: str | None = None


class ForkIn(BaseModel):
    team_slug: str | None = None
    team_id: str | None = None


class SlugIn(BaseModel):
    slug: str = Field(min_length=1, max_length=64)
