"""The goal judged on the runs `eval_overhead.run` collected (stored as res["verdict"])."""

from __future__ import annotations

import statistics
from typing import Any

from . import GOAL_RATIO, GOAL_SLACK_S


def verdict(res: dict[str, Any]) -> dict[str, Any]:
    """The goal judged on the medians, as the issue states it; spread and pairs beside it."""
    hosted_all = [r["seconds"] for r in res["warm"]]
    direct_all = [r["seconds"] for r in res["direct"]]
    hosted, direct = statistics.median(hosted_all), statistics.median(direct_all)
    limit = GOAL_RATIO * direct + GOAL_SLACK_S
    return {"hosted_warm_median_s": round(hosted, 2), "direct_median_s": round(direct, 2),
            "hosted_warm_range_s": [min(hosted_all), max(hosted_all)],
            "direct_range_s": [min(direct_all), max(direct_all)],
            "ratio": round(hosted / direct, 2), "overhead_s": round(hosted - direct, 2),
            "limit_s": round(limit, 2), "meets_goal": hosted <= limit,
            "pairs": pairs(res), "cold_s": res["cold"]["seconds"],
            "cold_extra_over_warm_s": round(res["cold"]["seconds"] - hosted, 1),
            "equal_work": equal_work(res)}


def pairs(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Each direct run with the hosted run next to it: on a machine whose load swings from
    minute to minute, neighbours saw about the same load, so their difference is steadier
    than the difference of medians."""
    out = []
    for d, h in zip(res["direct"], res["warm"], strict=True):
        limit = GOAL_RATIO * d["seconds"] + GOAL_SLACK_S
        out.append({"direct_s": d["seconds"], "hosted_s": h["seconds"],
                    "diff_s": round(h["seconds"] - d["seconds"], 2),
                    "meets_goal": h["seconds"] <= limit})
    return out


def equal_work(res: dict[str, Any]) -> bool:
    """Greedy decoding of the same prompts: every run should produce the same tokens."""
    runs = [res["cold"], *res["warm"], *res["direct"]]
    return len({r["tokens_out"] for r in runs}) == 1 and len({r["n_samples"] for r in runs}) == 1
