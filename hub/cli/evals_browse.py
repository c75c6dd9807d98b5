"""`envhub eval list | show | logs | cancel`: look at and stop evaluations."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from hub.cli.common import JsonOption, console, print_json, report_errors
from hub.cli.evals_common import eval_client, fmt, print_summary, printable_log


@report_errors
def list_(
    environment: Annotated[str | None, typer.Option("--env", help="OWNER/NAME")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    mine: Annotated[bool, typer.Option("--mine")] = False,
    json_out: JsonOption = False,
) -> None:
    """List evaluations you can see."""
    params: dict[str, Any] = {"per_page": 50}
    if environment:
        params["environment"] = environment
    if status:
        params["status"] = status
    if mine:
        params["mine"] = "true"
    with eval_client() as client:
        page = client.list_evals(params)
    if json_out:
        print_json(page)
        return
    table = Table("id", "environment", "model", "status", "mean reward", "n", "verified")
    for ev in page["items"]:
        agg = ev["aggregates"]
        table.add_row(
            ev["id"][:8],
            f"{ev['environment']}@{ev['version']}",
            ev["model"],
            ev["status"],
            fmt(agg.get("mean_reward")),
            f"{agg['n_examples']}x{agg['rollouts_per_example']}",
            "yes" if ev["verified"] else "no",
        )
    console.print(table)


@report_errors
def show(eval_id: str, json_out: JsonOption = False) -> None:
    """Show one evaluation."""
    with eval_client() as client:
        ev = client.get_eval(eval_id)
    if json_out:
        print_json(ev)
    else:
        print_summary(ev)


@report_errors
def logs(eval_id: str, follow_: Annotated[bool, typer.Option("--follow", "-f")] = False) -> None:
    """Print an evaluation's log (with --follow, until it ends)."""
    offset = 0
    with eval_client() as client:
        while True:
            piece = client.logs(eval_id, offset)
            sys.stdout.write(printable_log(piece["text"]))
            sys.stdout.flush()
            offset = piece["next_offset"]
            if piece["complete"] or (not follow_ and not piece["text"]):
                return
            if not piece["text"]:
                time.sleep(1.0)


@report_errors
def cancel(eval_id: str, json_out: JsonOption = False) -> None:
    """Cancel a queued or running evaluation."""
    with eval_client() as client:
        ev = client.cancel(eval_id)
    if json_out:
        print_json(ev)
    else:
        console.print(f"Evaluation {eval_id}: {ev['status']}")
