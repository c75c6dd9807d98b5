"""Leaderboard statistics: confidence intervals, pass@k and tie-aware ranks.

Pure Python on purpose: leaderboards are recomputed inside the API process and in workers,
and the sizes involved (hundreds to a few thousand examples) do not need numpy.

The unit of sampling is the *example* (a prompt of the environment's dataset), not the
rollout: rollouts of one example are correlated (same prompt, same difficulty), so treating
them as independent would make intervals too narrow. Hence the cluster bootstrap, and a
mean that weighs every example equally whatever its number of rollouts.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

K = TypeVar("K")


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval.

    `degenerate` is True when the interval could not be estimated (a single example: the
    between-example variance is unknown) and `low == high == mean` only states the estimate.
    It must not be read as certainty; callers show such rows without an interval.
    """

    mean: float
    low: float
    high: float
    n_examples: int
    n_rollouts: int
    degenerate: bool = False

    @property
    def width(self) -> float:
        return self.high - self.low

    def overlaps(self, other: Interval) -> bool:
        # Closed intervals: touching endpoints count as overlapping (a tie is not refuted).
        return self.low <= other.high and other.low <= self.high


def _mean(values: Sequence[float]) -> float:
    """fsum mean clamped to [min, max]: the exactly rounded sum divided by n can still land
    one ulp outside the data (3 * 0.2 / 3 > 0.2), and identical values must give that value."""
    lo, hi = min(values), max(values)
    if lo == hi:
        return lo
    return min(max(math.fsum(values) / len(values), lo), hi)


def _example_means(rewards_by_example: Mapping[str, Sequence[float]]) -> list[float]:
    """Per-example means in key order, so results never depend on mapping order.
    math.fsum is exactly rounded and hence independent of the rollouts' order too."""
    means: list[float] = []
    for key in sorted(rewards_by_example):
        rollouts = rewards_by_example[key]
        if len(rollouts) == 0:
            raise ValueError(f"example {key!r} has no rollouts")
        if not all(math.isfinite(r) for r in rollouts):
            raise ValueError(f"example {key!r} has a non-finite reward")
        means.append(_mean(rollouts))
    return means


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default 'linear' method)."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def mean_reward_ci(
    rewards_by_example: Mapping[str, Sequence[float]],
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Interval:
    """Mean reward over examples with a cluster-bootstrap percentile interval.

    Each bootstrap replicate resamples examples with replacement, keeping each example's
    rollouts together (its mean), and takes the mean. Deterministic for a given seed, and
    invariant to the order of examples and of rollouts.

    Cost is O(n_boot * n_examples) in pure Python: about 0.25 s for 1000 examples.

    Raises ValueError for no examples, an example without rollouts, a non-finite reward,
    a confidence outside (0, 1) or n_boot < 1. One example gives `degenerate=True`.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    if not rewards_by_example:
        raise ValueError("no examples: a mean reward needs at least one")
    means = _example_means(rewards_by_example)
    n = len(means)
    n_rollouts = sum(len(v) for v in rewards_by_example.values())
    mean = _mean(means)
    if n == 1:
        return Interval(mean, mean, mean, 1, n_rollouts, degenerate=True)
    if all(m == means[0] for m in means):
        # Every resample is identical; skip the work and avoid last-bit rounding noise.
        return Interval(means[0], means[0], means[0], n, n_rollouts)
    rng = random.Random(seed)  # noqa: S311 - statistics, seeded to be reproducible
    boots = sorted(math.fsum(rng.choices(means, k=n)) / n for _ in range(n_boot))
    alpha = 1.0 - confidence
    low = _quantile(boots, alpha / 2)
    high = _quantile(boots, 1.0 - alpha / 2)
    # The percentile interval can miss the point estimate for tiny, very skewed samples
    # (or by float rounding); a leaderboard must never show a mean outside its own bar,
    # nor a bound outside the data (a mean of resampled means cannot leave their range).
    low = max(min(low, mean), min(means))
    high = min(max(high, mean), max(means))
    return Interval(mean, low, high, n, n_rollouts)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): the probability that at least one of k rollouts
    drawn without replacement from n, of which c passed, passes: 1 - C(n-c, k) / C(n, k).

    Exact integer arithmetic with one final division, so pass_at_k(n, c, 1) == c / n
    exactly. Raises ValueError unless 0 <= c <= n and 1 <= k <= n.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    total = math.comb(n, k)
    return (total - math.comb(n - c, k)) / total


def mean_pass_at_k(
    rewards_by_example: Mapping[str, Sequence[float]], k: int, threshold: float = 1.0
) -> float:
    """Mean over examples of pass@k, where a rollout passes if its reward >= threshold.

    Raises ValueError for no examples or an example with fewer than k rollouts (pass@k is
    undefined there; silently lowering k would mix different metrics in one column).
    """
    if not rewards_by_example:
        raise ValueError("no examples")
    values: list[float] = []
    for key in sorted(rewards_by_example):
        rollouts = rewards_by_example[key]
        if len(rollouts) < k:
            raise ValueError(f"example {key!r} has {len(rollouts)} rollouts, fewer than k={k}")
        values.append(pass_at_k(len(rollouts), sum(r >= threshold for r in rollouts), k))
    return math.fsum(values) / len(values)


class RankedRow(NamedTuple, Generic[K]):
    key: K
    rank_low: int
    rank_high: int


def rank_with_ties(rows: Sequence[tuple[K, Interval]]) -> list[RankedRow[K]]:
    """Rows sorted by mean (descending, stable), each with the range of ranks it could hold.

    Only a row whose interval lies entirely above another's is known to be better. So
    rank_low = 1 + the rows entirely above this one, rank_high = the row count minus the
    rows entirely below. Consequences (tested): two rows whose intervals overlap get
    intersecting ranges, i.e. they show as tied, never in a strict order; a row entirely
    above another has both a better rank_low and a better rank_high; a row's position in
    the sorted list lies within its range (its mean is inside its interval).
    """
    ordered = sorted(rows, key=lambda row: -row[1].mean)
    ranked: list[RankedRow[K]] = []
    for key, iv in ordered:
        above = sum(1 for _, other in ordered if other.low > iv.high)
        below = sum(1 for _, other in ordered if other.high < iv.low)
        ranked.append(RankedRow(key, 1 + above, len(ordered) - below))
    return ranked
