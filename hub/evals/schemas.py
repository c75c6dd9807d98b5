"""Evaluation request and response shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from hub.jobs.schemas import JobOut


class EvalCreate(BaseModel):
    environment: str = Field(description="owner/name", pattern=r"^[^/\s]+/[^/\s@]+$")
    version: str = "latest"
    model: str = Field(description="provider/model, e.g. local/smollm2-135m-instruct")
    num_examples: int = Field(5, ge=1)
    rollouts_per_example: int = Field(1, ge=1)
    sampling_args: dict[str, Any] = Field(default_factory=dict)
    env_args: dict[str, Any] = Field(default_factory=dict)
    max_concurrency: int = Field(4, ge=1, le=256)
    timeout_s: float = Field(3600.0, ge=10, le=7 * 24 * 3600)
    seed: int | None = None
    max_tokens_budget: int | None = Field(None, ge=1, description="total token budget")
    max_requests_budget: int | None = Field(
        None, ge=1, description="most chat-completion requests the gateway will forward")


class Aggregates(BaseModel):
    n_examples: int
    rollouts_per_example: int
    n_samples: int
    n_errors: int
    error_rate: float | None
    mean_reward: float | None
    ci_low: float | None
    ci_high: float | None
    pass_at_k: float | None
    mean_tokens: float | None
    tokens_in: int
    tokens_out: int
    cost: float | None
    metrics: dict[str, float]


class EvalOut(BaseModel):
    id: uuid.UUID
    environment: str
    version: str
    content_hash: str
    runtime: str
    model: str
    provider: str
    verified: bool
    source: str
    status: str
    spec: dict[str, Any]
    created_by: str | None
    created_at: datetime
    completed_at: datetime | None
    progress_done: int
    progress_total: int | None
    error_code: str | None
    error_message: str | None
    aggregates: Aggregates
    job: JobOut | None


class EvalPage(BaseModel):
    items: list[EvalOut]
    total: int
    page: int
    per_page: int


class SampleOut(BaseModel):
    example_id: str
    rollout_index: int
    prompt: Any = None
    completion: Any = None
    answer: Any = None
    reward: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    error: str | None = None


class SamplePage(BaseModel):
    items: list[SampleOut]
    total: int
    page: int
    per_page: int


class LogOut(BaseModel):
    offset: int
    next_offset: int
    text: str
    complete: bool


class UsageSummary(BaseModel):
    requests: int = Field(description="chat-completion requests the gateway saw")
    prompt_tokens: int
    completion_tokens: int
    refused: int = Field(description="requests answered with an error (budget, upstream)")
    estimated: int = Field(description="requests whose tokens were estimated (no usage)")
    attempts: int = Field(description="job attempts that recorded requests")
    latency_p50_s: float | None
    latency_p95_s: float | None


class ModelRequestOut(BaseModel):
    attempt: int
    request_index: int
    status: int
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    stream: bool
    estimated: bool
    error: str | None


class UsagePage(BaseModel):
    summary: UsageSummary
    items: list[ModelRequestOut]
    page: int
    per_page: int
