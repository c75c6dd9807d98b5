"""Evaluation runs (hosted = verified, uploaded = self-reported) and their sample index.

Sample bodies (prompt, completion, ...) live as JSONL chunks in object storage; each
sample also has a small row here (reward, error, tokens) so paging, filters and the
leaderboard statistics never read the bodies. The row's primary key is the sample's
identity, so a resumed job cannot store a sample twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.kit.db import Base, CreatedMixin, IdMixin


class Evaluation(IdMixin, CreatedMixin, Base):
    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_env_model", "environment_id", "model"),)

    job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), unique=True)
    environment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("versions.id", ondelete="SET NULL"))
    # Copied from the version: the leaderboard keeps showing what was evaluated.
    version: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    runtime: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))  # "provider/model"
    verified: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(String(16))  # hosted | upload-v0 | upload-v1
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True)
    completed_at: Mapped[datetime | None]
    # Aggregates, written once the samples are complete (see service.finalize).
    n_examples: Mapped[int] = mapped_column(default=0)
    rollouts_per_example: Mapped[int] = mapped_column(default=0)
    n_samples: Mapped[int] = mapped_column(default=0)
    n_errors: Mapped[int] = mapped_column(default=0)
    mean_reward: Mapped[float | None]
    ci_low: Mapped[float | None]
    ci_high: Mapped[float | None]
    pass_at_k: Mapped[float | None]
    mean_tokens: Mapped[float | None]
    tokens_in: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens_out: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[float | None]
    metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)


class EvalSample(Base):
    __tablename__ = "eval_samples"

    eval_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE"), primary_key=True)
    example_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    rollout_index: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column()  # arrival order, for stable paging
    reward: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(Text)
    tokens_in: Mapped[int | None]
    tokens_out: Mapped[int | None]
    latency_s: Mapped[float | None]
    metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    chunk_key: Mapped[str] = mapped_column(String(300))
    line: Mapped[int] = mapped_column()


class EvalModelRequest(Base):
    """One chat-completion request the model gateway saw during a hosted run: the per-request
    usage record (tokens, latency, the status the sandbox got). Keyed by attempt, so a retried
    job keeps what each attempt spent; a re-recorded attempt replaces its own rows."""

    __tablename__ = "eval_model_requests"

    eval_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(primary_key=True)
    request_index: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[int] = mapped_column()
    prompt_tokens: Mapped[int] = mapped_column()
    completion_tokens: Mapped[int] = mapped_column()
    latency_s: Mapped[float] = mapped_column()
    stream: Mapped[bool] = mapped_column(default=False)
    estimated: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(String(500))
