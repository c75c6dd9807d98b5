"""The author-facing `envhub` commands, added to the root app by `register(app)`.

Account and scaffolding commands live here; publishing (push/pull/install) is in
`author_publish`, catalog reads and yanking in `author_browse`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from hub.cli import author_browse, author_publish
from hub.cli.client import CLIError, HubClient
from hub.cli.common import JsonOption, console, err_console, make_client, print_json, report_errors
from hub.cli.config import load_config, save_config
from hub.cli.scaffold import Runtime, scaffold


@report_errors
def login(
    url: Annotated[
        str | None, typer.Option("--url", help="Hub URL (default: HUB_URL, then the saved one).")
    ] = None,
    token_stdin: Annotated[
        bool, typer.Option("--token-stdin", help="Read the API token from standard input.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Save a hub URL and API token after checking them with the hub."""
    config = load_config()
    hub_url = (url or config.url).rstrip("/")
    if token_stdin:
        token = sys.stdin.read().strip()
    else:
        token = typer.prompt(f"API token for {hub_url}", hide_input=True).strip()
    if not token:
        raise CLIError(
            "No token given.",
            hint="Create a token in the hub's web UI (or `POST /api/v1/tokens`) and paste it.",
        )
    with HubClient(hub_url, token) as client:
        me = client.me()
    username = me.get("username")
    path = save_config(hub_url, token, username if isinstance(username, str) else None)
    if json_out:
        print_json({"url": hub_url, "username": username, "config_path": str(path)})
        return
    console.print(f"Logged in to {escape(hub_url)} as [bold]{escape(str(username))}[/].")
    console.print(f"Saved to {path} (mode 0600).", highlight=False)
    if config.auth_source == "env":
        err_console.print("Note: HUB_TOKEN is set and overrides the saved token.")


@report_errors
def whoami(json_out: JsonOption = False) -> None:
    """Show who the current token belongs to."""
    client, config = make_client()
    if not config.token:
        raise CLIError(
            f"Not logged in to {config.url}.", hint="Run `envhub login` or set HUB_TOKEN."
        )
    with client:
        me = client.me()
    if json_out:
        print_json({**me, "hub_url": config.url, "auth_source": config.auth_source})
        return
    source = "HUB_TOKEN" if config.auth_source == "env" else "saved login"
    admin = " (admin)" if me.get("is_admin") else ""
    console.print(
        f"[bold]{escape(str(me.get('username')))}[/]{admin} on {escape(config.url)}"
        f" (token from {source})"
    )


@report_errors
def init(
    name: Annotated[str, typer.Argument(help="Environment (distribution) name, e.g. my-math-env.")],
    v0: Annotated[
        bool, typer.Option("--v0", help="Use the classic verifiers 0.1 `load_environment` API.")
    ] = False,
    path: Annotated[
        Path, typer.Option("--path", help="Parent directory to create NAME/ in.")
    ] = Path("."),
    json_out: JsonOption = False,
) -> None:
    """Create a new verifiers environment package (v1 Taskset by default)."""
    runtime: Runtime = "v0" if v0 else "v1"
    env_dir, written = scaffold(name, path, runtime)
    if json_out:
        print_json(
            {
                "path": str(env_dir),
                "runtime": runtime,
                "files": sorted(p.relative_to(env_dir).as_posix() for p in written),
            }
        )
        return
    api = "verifiers 0.4 Taskset (v1)" if runtime == "v1" else "verifiers 0.1 load_environment (v0)"
    console.print(f"Created [bold]{escape(name)}[/] ({api}) in {env_dir}", highlight=False)
    for item in sorted(written):
        console.print(f"  {item.relative_to(env_dir).as_posix()}", highlight=False)
    console.print("\nNext:", highlight=False)
    console.print(f"  cd {env_dir} && pip install -e .", highlight=False)
    console.print("  envhub push", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the author commands to the root `envhub` app."""
    app.command("login")(login)
    app.command("whoami")(whoami)
    app.command("init")(init)
    author_publish.register(app)
    author_browse.register(app)
