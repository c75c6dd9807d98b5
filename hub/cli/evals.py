"""`envhub eval ...`, `envhub leaderboard`, `envhub worker` and `envhub admin add-provider`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hub.cli.client import JSON, CLIError, HubClient
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

eval_app = typer.Typer(no_args_is_help=True, help="Run, follow and publish evaluations.")
TERMINAL = {"succeeded", "failed", "cancelled", "timed_out"}


class EvalClient(HubClient):
    def __enter__(self) -> EvalClient:
        return self

    def create_eval(self, body: JSON) -> JSON:
        result: JSON = self._call("POST", "evals", json=body)
        return result

    def get_eval(self, eval_id: str) -> JSON:
        result: JSON = self._call("GET", f"evals/{eval_id}")
        return result

    def list_evals(self, params: dict[str, Any]) -> JSON:
        result: JSON = self._call("GET", "evals", params=params)
        return result

    def logs(self, eval_id: str, offset: int) -> JSON:
        result: JSON = self._call("GET", f"evals/{eval_id}/logs", params={"offset": offset})
        return result

    def cancel(self, eval_id: str) -> JSON:
        result: JSON = self._call("POST", f"evals/{eval_id}/cancel")
        return result

    def upload(self, data: dict[str, str], files: dict[str, tuple[str, bytes]]) -> JSON:
        result: JSON = self._call("POST", "evals/upload", data=data, files=files)
        return result

    def leaderboard(self, owner: str, name: str, params: dict[str, str]) -> JSON:
        path = f"{self._env_path(owner, name)}/leaderboard"
        result: JSON = self._call("GET", path, params=params)
        return result


def _client() -> EvalClient:
    _, config = make_client()
    return EvalClient(config.url, config.token)


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


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _summary(ev: JSON) -> None:
    agg = ev.get("aggregates") or {}
    badge = "verified" if ev.get("verified") else "self-reported"
    console.print(
        f"[bold]{escape(ev['environment'])}@{escape(ev['version'])}[/] x"
        f" {escape(ev['model'])}  [dim]{ev['id']}[/]  ({badge})"
    )
    console.print(
        f"  status: [bold]{ev['status']}[/]"
        + (
            f"  ({escape(str(ev.get('error_code')))}: {escape(str(ev.get('error_message')))})"
            if ev.get("error_code")
            else ""
        )
    )
    if agg.get("mean_reward") is not None:
        console.print(
            f"  mean reward {_fmt(agg['mean_reward'])}  95% CI [{_fmt(agg['ci_low'])},"
            f" {_fmt(agg['ci_high'])}]  n={agg['n_examples']}x"
            f"{agg['rollouts_per_example']}  errors {agg['n_errors']}"
            f"  pass@k {_fmt(agg.get('pass_at_k'))}"
        )


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
                    bar.console.print(escape(piece["text"].rstrip("\n")), highlight=False)
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
    client = _client()
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
        _summary(ev)
        if not follow_:
            console.print(
                f"  follow it: envhub eval show {ev['id']} | envhub eval logs {ev['id']} --follow",
                highlight=False,
            )
    if follow_ and ev["status"] != "succeeded":
        raise typer.Exit(1)


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
    with _client() as client:
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
            _fmt(agg.get("mean_reward")),
            f"{agg['n_examples']}x{agg['rollouts_per_example']}",
            "yes" if ev["verified"] else "no",
        )
    console.print(table)


@report_errors
def show(eval_id: str, json_out: JsonOption = False) -> None:
    """Show one evaluation."""
    with _client() as client:
        ev = client.get_eval(eval_id)
    if json_out:
        print_json(ev)
    else:
        _summary(ev)


@report_errors
def logs(eval_id: str, follow_: Annotated[bool, typer.Option("--follow", "-f")] = False) -> None:
    """Print an evaluation's log (with --follow, until it ends)."""
    offset = 0
    with _client() as client:
        while True:
            piece = client.logs(eval_id, offset)
            sys.stdout.write(piece["text"])
            sys.stdout.flush()
            offset = piece["next_offset"]
            if piece["complete"] or (not follow_ and not piece["text"]):
                return
            if not piece["text"]:
                time.sleep(1.0)


@report_errors
def cancel(eval_id: str, json_out: JsonOption = False) -> None:
    """Cancel a queued or running evaluation."""
    with _client() as client:
        ev = client.cancel(eval_id)
    if json_out:
        print_json(ev)
    else:
        console.print(f"Evaluation {eval_id}: {ev['status']}")


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
    with _client() as client:
        ev = client.upload(data, files)
    if json_out:
        print_json(ev)
    else:
        _summary(ev)


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
    with _client() as client:
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
            _fmt(row["mean_reward"]),
            f"[{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]",
            f"{row['n_examples']}x{row['rollouts_per_example']}",
            _fmt(row["pass_at_k"]),
            _fmt(row["error_rate"], 2),
            _fmt(row["mean_tokens"], 0),
            _fmt(row["cost"], 4),
            row["version"],
            "yes" if row["verified"] else "self",
        )
    console.print(table)


def worker(
    queues: Annotated[str, typer.Option("--queues", "-Q")] = "evals,maintenance",
    concurrency: Annotated[int, typer.Option("--concurrency", "-c")] = 2,
    beat: Annotated[
        bool,
        typer.Option(
            "--beat/--no-beat",
            help="Also run the periodic reconciler + upload sweep (one per deployment).",
        ),
    ] = False,
    loglevel: Annotated[str, typer.Option("--loglevel")] = "INFO",
    pool: Annotated[str, typer.Option("--pool", help="prefork | threads | solo")] = "prefork",
) -> None:
    """Run a Celery worker against HUB_BROKER_URL (Redis) for real deployments."""
    import os

    from hub.kit.settings import get_settings
    from workers.embedded import worker_argv

    argv = worker_argv(
        get_settings(),
        queues=queues.split(","),
        concurrency=concurrency,
        beat=beat,
        loglevel=loglevel,
        pool=pool,
    )
    os.execv(argv[0], argv)  # noqa: S606 - replace this process: signals reach Celery


def add_provider(
    name: str,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="OpenAI-compatible /v1 URL")
    ] = None,
    models: Annotated[list[str], typer.Option("--model", help="A model name (repeatable).")] = [],  # noqa: B006 - typer needs a literal default for a repeatable option
    kind: Annotated[str, typer.Option("--kind", help="openai | vllm (GPU queue)")] = "openai",
    api_key_stdin: Annotated[bool, typer.Option("--api-key-stdin")] = False,
    price_in: Annotated[
        float | None, typer.Option("--price-in", help="$ per 1M input tokens")
    ] = None,
    price_out: Annotated[float | None, typer.Option("--price-out", help="$ per 1M output")] = None,
    replace: Annotated[bool, typer.Option("--replace")] = False,
) -> None:
    """Register an inference provider; the key is read from stdin and stored encrypted."""
    from pydantic import ValidationError

    from hub.cli.admin import _fail, _sessions
    from hub.kit.db import session_scope
    from hub.kit.errors import HubError
    from hub.kit.settings import get_settings
    from hub.providers import service as providers
    from hub.providers.schemas import ProviderIn

    settings = get_settings()
    key = sys.stdin.readline().strip() if api_key_stdin else None
    try:
        body = ProviderIn(
            name=name,
            kind=kind,
            base_url=base_url,
            models=models,
            api_key=key,
            price_input_per_mtok=price_in,
            price_output_per_mtok=price_out,
        )
    except ValidationError as exc:
        typer.secho(
            f"error: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1) from None
    try:
        with session_scope(_sessions(settings)) as db:
            providers.upsert_provider(db, settings.secret_key, body, replace=replace)
    except HubError as exc:
        _fail(exc)
    typer.echo(f"provider {name}: {', '.join(f'{name}/{m}' for m in body.models)}", err=True)


def register(app: typer.Typer) -> None:
    """Add the evaluation commands to the root app (and `add-provider` to `admin`)."""
    from hub.cli import admin

    eval_app.command("run")(run)
    eval_app.command("list")(list_)
    eval_app.command("show")(show)
    eval_app.command("logs")(logs)
    eval_app.command("cancel")(cancel)
    eval_app.command("push")(push)
    app.add_typer(eval_app, name="eval")
    app.command("leaderboard")(leaderboard)
    app.command("worker")(worker)
    admin.app.command("add-provider")(add_provider)
