"""Percentiles over repeated loads (nearest rank: no interpolation between samples)."""

from __future__ import annotations

import math
import statistics
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest): no interpolation."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def stats(samples: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out = {}
    for key in samples[0]:
        values = [s[key] for s in samples if isinstance(s.get(key), int | float)]
        if not values or isinstance(samples[0][key], bool):
            continue
        out[key] = {"p50": round(statistics.median(values), 1),
                    "p90": round(percentile(values, 0.9), 1),
                    "max": round(max(values), 1), "min": round(min(values), 1)}
    return out
