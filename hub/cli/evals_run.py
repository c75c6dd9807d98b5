"""`envhub eval run`: start a hosted evaluation and, with --follow, watch its progress."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hub.cli.client import JSON, CLIError
from hub.cli.common import (
    JsonOption,
    console,
    err_console,
    make_client,
    parse_ref,
    print_json,
    report_errors,
    require_token,
)
from hub.cli.evals_common import EvalClient, eval_client, print_summary, printable_log

TERMINAL = {"succeeded", "failed", "cancelled", "timed_out"}


def _json_option(text: str | None, what: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CLIError(
            f"--{what} is not JSON: {exc}", hint="e.g. '{\"temperature\": 0.7}'"
        ) from exc
    if not isinstance(value, dict):
        raise CLIError(f"--{what} must be a JSON object.")
    return value


def follow(
    client: EvalClient, eval_id: str, *, show_logs: bool = False, interval: float = 1.0
) -> JSON:
    """Poll until the evaluation ends, with a live progress bar on stderr."""
    offset = 0
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task("queued", total=None)
        while True:
            ev = client.get_eval(eval_id)
            bar.update(
                task,
                description=ev["status"],
                completed=ev.get("progress_done") or 0,
                total=ev.get("progress_total"),
            )
            if show_logs:
                piece = client.logs(eval_id, offset)
                if piece["text"]:
                    bar.console.print(escape(printable_log(piece["text"].rstrip("\n"))),
                                      highlight=False)
                offset = piece["next_offset"]
            if ev["status"] in TERMINAL:
                return ev
            time.sleep(interval)


@report_errors
def run(
    ref: Annotated[str, typer.Argument(help="OWNER/NAME[@VERSION]")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="PROVIDER/MODEL")
    ] = "local/smollm2-135m-instruct",
    num_examples: Annotated[int, typer.Option("-n", "--num-examples")] = 5,
    rollouts: Annotated[int, typer.Option("-r", "--rollouts-per-example")] = 1,
    sampling_args: Annotated[str | None, typer.Option("--sampling-args", help="JSON")] = None,
    env_args: Annotated[str | None, typer.Option("--env-args", help="JSON")] = None,
    max_concurrency: Annotated[int, typer.Option("--max-concurrency")] = 4,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds")] = 3600.0,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    follow_: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Wait and show progress; exit 1 unless it succeeds."),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Start a hosted evaluation of an environment version against a model."""
    env = parse_ref(ref)
    client = eval_client()
    require_token(make_client()[1])
    body = {
        "environment": env.full_name,
        "version": env.version or "latest",
        "model": model,
        "num_examples": num_examples,
        "rollouts_per_example": rollouts,
        "sampling_args": _json_option(sampling_args, "sampling-args"),
        "env_args": _json_option(env_args, "env-args"),
        "max_concurrency": max_concurrency,
        "timeout_s": timeout,
        "seed": seed,
    }
    with client:
        ev = client.create_eval(body)
        if not json_out:
            err_console.print(f"Started evaluation {ev['id']} ({ev['status']}).")
        if follow_:
            ev = follow(client, ev["id"])
    if json_out:
        print_json(ev)
    else:
        print_summary(ev)
        if not follow_:
            console.print(
                f"  follow it: envhub eval show {ev['id']} | envhub eval logs {ev['id']} --follow",
                highlight=False,
            )
    if follow_ and ev["status"] != "succeeded":
        raise typer.Exit(1)
