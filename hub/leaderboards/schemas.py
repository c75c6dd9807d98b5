"""Leaderboard rows."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class LeaderboardRow(BaseModel):
    model: str
    mean_reward: float | None
    ci_low: float | None
    ci_high: float | None
    n_examples: int
    rollouts_per_example: int
    pass_at_k: float | None
    mean_tokens: float | None
    cost: float | None
    error_rate: float | None
    date: datetime
    version: str
    content_hash: str
    verified: bool
    rank_low: int
    rank_high: int
    evaluation_id: uuid.UUID


class Leaderboard(BaseModel):
    environment: str
    version: str | None
    sort: str
    rows: list[LeaderboardRow]
