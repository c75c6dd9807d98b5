"""Markdown for the upload RSS benchmark (section 2 of docs/benchmarks.md).

Rendering only, from the result dict `upload_rss.run` returns (and saves as
bench/results/upload_rss.json).
"""

from __future__ import annotations

from typing import Any

from benchlib.markdown import fmt as _fmt
from benchlib.markdown import rel as _rel
from benchlib.markdown import verdict as _verdict

GOAL_GROWTH_MIB = 64


def summary(result: dict[str, Any]) -> str:
    lines = [f"wheel {result['wheel']['size_mib']} MiB"]
    for name in ("upload", "finalize"):
        r = result[name]
        lines.append(f"{name:<9} baseline {r['baseline_mib']} MiB, peak {r['peak_mib']} MiB,"
                     f" growth {r['growth_mib']} MiB ({'meets' if r['meets_goal'] else 'MISSES'}"
                     f" < {GOAL_GROWTH_MIB} MiB), {r['seconds']} s")
    return "\n".join(lines)


def verdict_rows(upload: dict[str, Any]) -> list[str]:
    lines = []
    for phase in ("upload", "finalize"):
        r = upload[phase]
        what = "PUT" if phase == "upload" else "finalize"
        lines.append(
            f"| 200 MiB upload ({what}): RSS growth < {GOAL_GROWTH_MIB} MiB"
            f" | {r['baseline_mib']} -> {r['peak_mib']} MiB = +{r['growth_mib']} MiB"
            f" | | {_verdict(r['meets_goal'])} |")
    return lines


def section(res: dict[str, Any]) -> list[str]:
    w = res["wheel"]
    out = [
        "## 2. Upload of a 200 MiB archive through the local backend",
        "",
        f"A real wheel, `{w['filename']}`, {w['size_bytes']} bytes ({w['size_mib']} MiB): valid"
        " METADATA and RECORD plus one member of random (incompressible) bytes, stored. It is"
        " registered through the API with its real sha256 and size, PUT to the hub's signed"
        " upload URL (`/api/v1/uploads/blob/{token}`) from a generator that reads 1 MiB at a"
        " time (so the client never holds it; `Content-Length` is sent), and then finalized"
        " (which re-reads and hashes it as a stream, checks the archive and stores the blob)."
        f" The hub process's VmRSS is read from /proc every {res['sample_interval_ms']} ms; the"
        " kernel's peak (VmHWM, reset through /proc/PID/clear_refs before each phase) is read"
        " after it, and the larger of the two is the peak. The baseline is the median VmRSS over"
        " the quiet second before each phase, after one small publish warmed the code paths.",
        "",
        f"Hub: `{_rel(res['server_command'])}` (SQLite, local-disk storage: the embedded"
        f" defaults). RSS right after start: {res['rss_at_start_mib']} MiB.",
        "",
        "| phase | HTTP status | baseline MiB | peak MiB (sampled / VmHWM) | growth MiB | seconds"
        " | goal: growth < 64 MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for phase in ("upload", "finalize"):
        r = res[phase]
        speed = f" ({r['mib_per_s']} MiB/s)" if "mib_per_s" in r else ""
        out.append(
            f"| {'PUT' if phase == 'upload' else 'finalize'} | {r['status']}"
            f" | {r['baseline_mib']} | {r['peak_mib']} ({r['peak_sampled_mib']} /"
            f" {_fmt(r['peak_vmhwm_mib'], 1)}) | {r['growth_mib']} | {r['seconds']}{speed}"
            f" | {_verdict(r['meets_goal'])} |")
    out += ["", f"The version was published and listed on its index page: {res['published']}.",
            ""]
    return out
