"""`envhub eval ...`, `envhub leaderboard`, `envhub worker` and `envhub admin add-provider`.

The eval commands live in siblings: `evals_run` (run, follow), `evals_browse` (list, show,
logs, cancel), `evals_publish` (push, leaderboard), `evals_common` (the API client and the
summary they share). `register` adds them all to the root app.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hub.cli import evals_browse, evals_publish, evals_run

eval_app = typer.Typer(no_args_is_help=True, help="Run, follow and publish evaluations.")


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

    eval_app.command("run")(evals_run.run)
    eval_app.command("list")(evals_browse.list_)
    eval_app.command("show")(evals_browse.show)
    eval_app.command("logs")(evals_browse.logs)
    eval_app.command("cancel")(evals_browse.cancel)
    eval_app.command("push")(evals_publish.push)
    app.add_typer(eval_app, name="eval")
    app.command("leaderboard")(evals_publish.leaderboard)
    app.command("worker")(worker)
    admin.app.command("add-provider")(add_provider)
