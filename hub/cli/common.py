"""Plumbing shared by the author commands: output, error reporting, references."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from hub.cli.client import CLIError, HubClient
from hub.cli.config import CLIConfig, load_config

# Data goes to stdout; progress, notes and errors to stderr, so `--json` output pipes.
# soft_wrap: commands and URLs must stay on one line to be copy-pasted (tables still fit).
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

P = ParamSpec("P")
R = TypeVar("R")

_REF_RE = re.compile(r"^(?P<owner>[^/@\s]+)/(?P<name>[^/@\s]+)(?:@(?P<version>[^/@\s]+))?$")


@dataclass(frozen=True)
class EnvRef:
    owner: str
    name: str
    version: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


def parse_ref(text: str, *, allow_version: bool = True) -> EnvRef:
    """Parse `OWNER/NAME[@VERSION]`."""
    match = _REF_RE.match(text.strip())
    if not match or (match["version"] and not allow_version):
        shape = "OWNER/NAME[@VERSION]" if allow_version else "OWNER/NAME"
        raise CLIError(f"'{text}' is not of the form {shape}.", hint="e.g. alice/gsm8k-lite@0.1.0")
    return EnvRef(match["owner"], match["name"], match["version"])


def report_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn CLIError (API, build, config) into `Error: ...` + next step and exit code 1."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except CLIError as exc:
            # escape(): server text may contain [brackets] that rich would eat as markup.
            err_console.print(f"[bold red]Error:[/] {escape(exc.message)}", highlight=False)
            if exc.hint:
                err_console.print(f"[yellow]Next:[/] {escape(exc.hint)}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper


def print_json(data: Any) -> None:
    # Plain print, not rich: JSON must not be re-wrapped or colourised.
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def make_client(config: CLIConfig | None = None) -> tuple[HubClient, CLIConfig]:
    config = config or load_config()
    return HubClient(config.url, config.token), config


def require_token(config: CLIConfig) -> str:
    if not config.token:
        raise CLIError(
            f"Not logged in to {config.url}.", hint="Run `envhub login` or set HUB_TOKEN."
        )
    return config.token


def env_web_url(hub_url: str, owner: str, name: str) -> str:
    return f"{hub_url.rstrip('/')}/{owner}/{name}"


def human_size(size: int | float) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
