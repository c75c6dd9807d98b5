"""Per-environment leaderboards, read from the evaluations' stored aggregates.

One row per model: its best-standing evaluation (verified before self-reported, then the
newest) among finished ones, optionally limited to one version. Ranks come from the
confidence intervals (`stats.rank_with_ties`): overlapping intervals share a rank range.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.evals.models import Evaluation
from hub.jobs.models import Job, JobState
from hub.kit.errors import InvalidInput
from hub.leaderboards import stats
from hub.leaderboards.schemas import LeaderboardRow
from hub.registry import catalog
from hub.registry.models import Environment

SORTS = ("mean_reward", "model", "date", "cost", "error_rate", "mean_tokens")


def _pick(evals: list[Evaluation]) -> list[Evaluation]:
    best: dict[str, Evaluation] = {}
    for ev in evals:
        current = best.get(ev.model)
        key = (ev.verified, ev.completed_at or ev.created_at)
        if current is None or key > (current.verified, current.completed_at or current.created_at):
            best[ev.model] = ev
    return list(best.values())


def _interval(ev: Evaluation) -> stats.Interval:
    mean = ev.mean_reward if ev.mean_reward is not None else 0.0
    return stats.Interval(mean, ev.ci_low if ev.ci_low is not None else mean,
                          ev.ci_high if ev.ci_high is not None else mean,
                          ev.n_examples, ev.n_samples)


def leaderboard(db: Session, env: Environment, *, version: str | None, sort: str
                ) -> list[LeaderboardRow]:
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}.", code="invalid-sort")
    query = (select(Evaluation).outerjoin(Job, Job.id == Evaluation.job_id)
             .where(Evaluation.environment_id == env.id, Evaluation.mean_reward.is_not(None),
                    or_(Evaluation.job_id.is_(None), Job.state == JobState.SUCCEEDED)))
    if version is not None:
        query = query.where(Evaluation.version == catalog.get_version(db, env, version).version)
    chosen = _pick(list(db.scalars(query)))
    ranked = stats.rank_with_ties([(ev, _interval(ev)) for ev in chosen])
    rows = [LeaderboardRow(
        model=r.key.model, mean_reward=r.key.mean_reward, ci_low=r.key.ci_low,
        ci_high=r.key.ci_high, n_examples=r.key.n_examples,
        rollouts_per_example=r.key.rollouts_per_example, pass_at_k=r.key.pass_at_k,
        mean_tokens=r.key.mean_tokens, cost=r.key.cost,
        error_rate=r.key.n_errors / r.key.n_samples if r.key.n_samples else None,
        date=r.key.completed_at or r.key.created_at, version=r.key.version,
        content_hash=r.key.content_hash, verified=r.key.verified, rank_low=r.rank_low,
        rank_high=r.rank_high, evaluation_id=r.key.id) for r in ranked]
    return _sorted(rows, sort)


def _sorted(rows: list[LeaderboardRow], sort: str) -> list[LeaderboardRow]:
    if sort == "mean_reward":
        return rows  # rank order already
    if sort == "model":
        return sorted(rows, key=lambda r: r.model)
    if sort == "date":
        return sorted(rows, key=lambda r: r.date, reverse=True)
    # Ascending for costs and error rates (lower is better); unknown values last.
    def key(row: LeaderboardRow) -> tuple[bool, float]:
        value: float | None = getattr(row, sort)
        return (value is None, value or 0.0)

    return sorted(rows, key=key)
