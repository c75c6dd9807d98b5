"""The `envhub` command: operator commands here, author commands in `author.py`."""

from __future__ import annotations

import signal
import sys

import typer

from hub.cli import admin

app = typer.Typer(
    name="envhub",
    help="Environments Hub: publish, install and evaluate RL environments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(admin.app, name="admin", help="Operator commands (run on the hub's machine).")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="Port to bind."),
    migrate: bool = typer.Option(True, help="Apply database migrations first."),
    worker: bool = typer.Option(
        True, "--worker/--no-worker", help="Without HUB_BROKER_URL: also run an embedded worker."
    ),
    local_model: bool = typer.Option(
        True,
        "--local-model/--no-local-model",
        help="Without HUB_BROKER_URL: also serve the local model.",
    ),
    workers: int = typer.Option(
        1, envvar="HUB_WORKERS", min=1, help="API processes (uvicorn workers); about one per core."
    ),
    access_log: bool = typer.Option(
        True, "--access-log/--no-access-log", envvar="HUB_ACCESS_LOG",
        help="Log every request (costs CPU under load).",
    ),
) -> None:
    """Run the hub (API, package index and web catalog); on a single machine (no
    HUB_BROKER_URL) also an embedded evaluation worker and the built-in local model."""
    import uvicorn

    from hub.kit.migrate import upgrade
    from hub.kit.settings import get_settings

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if migrate:
        upgrade(settings.database_url)
    token = admin.bootstrap_admin(settings)
    typer.echo(
        f"Environments Hub listening on http://{host}:{port}  (public URL {settings.public_url})"
    )
    typer.echo(f"  database: {settings.database_url}\n  storage:  {settings.storage_url}")
    if token:
        token_file = settings.data_dir / "initial-admin-token"
        typer.echo(f"  first admin: user 'admin', token saved to {token_file}")
        typer.echo(
            f"  sign in the CLI with: envhub login --url {settings.public_url}"
            f" --token-stdin < {token_file}"
        )
    else:
        typer.echo("  admin token: `envhub admin create-token <user> --scope admin`")
    from hub.jobs.settings import get_job_settings
    from workers.embedded import EmbeddedServices

    embedded = not settings.broker_url  # with a real broker, workers run on their own
    services = EmbeddedServices(
        settings,
        get_job_settings(),
        worker=embedded and worker,
        local_model=embedded and local_model,
    )
    for line in services.start():
        typer.echo(f"  {line}")

    def _exit(signum: int, _frame: object) -> None:
        # uvicorn re-raises SIGTERM after its graceful shutdown; exiting through Python
        # (instead of the default handler) lets `finally` stop the children.
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    try:
        uvicorn.run(
            "hub.asgi:app", host=host, port=port, log_level="info", proxy_headers=True,
            workers=workers, access_log=access_log,
        )
    finally:
        services.stop()


def _register_author_commands() -> None:
    try:
        from hub.cli import author
    except ImportError as exc:  # pragma: no cover - only while a module is missing
        print(f"author commands unavailable: {exc}", file=sys.stderr)
        return
    author.register(app)
    from hub.cli import evals

    evals.register(app)


_register_author_commands()
