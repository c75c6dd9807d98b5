"""`envhub eval push` (self-reported results) and `envhub leaderboard`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hub.cli.client import CLIError
from hub.cli.common import JsonOption, console, parse_ref, print_json, report_errors
from hub.cli.evals_common import eval_client, fmt, print_summary


@report_errors
def push(
    path: Annotated[
        Path,
        typer.Argument(help="vf-eval output dir (results.jsonl + metadata.json, or traces.jsonl)"),
    ],
    ref: Annotated[str, typer.Option("--env", help="OWNER/NAME[@VERSION]")],
    model: Annotated[str | None, typer.Option("--model", help="PROVIDER/MODEL")] = None,
    json_out: JsonOption = False,
) -> None:
    """Upload results of an evaluation you ran yourself (shown as self-reported)."""
    env = parse_ref(ref)
    files: dict[str, tuple[str, bytes]] = {}
    for field, name in (
        ("traces", "traces.jsonl"),
        ("results", "results.jsonl"),
        ("metadata", "metadata.json"),
    ):
        if (path / name).is_file():
            files[field] = (name, (path / name).read_bytes())
    if "traces" not in files and "results" not in files:
        raise CLIError(
            f"No traces.jsonl or results.jsonl in {path}.",
            hint="Point at the run directory vf-eval wrote (outputs/evals/...).",
        )
    data = {"environment": env.full_name, "version": env.version or "latest"}
    if model:
        data["model"] = model
    with eval_client() as client:
        ev = client.upload(data, files)
    if json_out:
        print_json(ev)
    else:
        print_summary(ev)


@report_errors
def leaderboard(
    ref: Annotated[str, typer.Argument(help="OWNER/NAME")],
    version: Annotated[str | None, typer.Option("--version")] = None,
    sort: Annotated[str, typer.Option("--sort")] = "mean_reward",
    json_out: JsonOption = False,
) -> None:
    """Show an environment's leaderboard (ranks are ranges where intervals overlap)."""
    env = parse_ref(ref, allow_version=False)
    params = {"sort": sort} | ({"version": version} if version else {})
    with eval_client() as client:
        board = client.leaderboard(env.owner, env.name, params)
    if json_out:
        print_json(board)
        return
    table = Table(
        "rank",
        "model",
        "mean reward",
        "95% CI",
        "nxr",
        "pass@k",
        "errors",
        "tokens",
        "cost",
        "version",
        "verified",
    )
    for row in board["rows"]:
        rank = (
            str(row["rank_low"])
            if row["rank_low"] == row["rank_high"]
            else f"{row['rank_low']}-{row['rank_high']}"
        )
        table.add_row(
            rank,
            row["model"],
            fmt(row["mean_reward"]),
            f"[{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]",
            f"{row['n_examples']}x{row['rollouts_per_example']}",
            fmt(row["pass_at_k"]),
            fmt(row["error_rate"], 2),
            fmt(row["mean_tokens"], 0),
            fmt(row["cost"], 4),
            row["version"],
            "yes" if row["verified"] else "self",
        )
    console.print(table)
