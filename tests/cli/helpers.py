"""Shared pieces of the CLI tests: a problem-details response, the app, HUB."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import typer

from hub.cli import author

HUB = "http://hub.test"
Handler = Callable[[httpx.Request], httpx.Response]
FakeHub = Callable[[Handler], list[httpx.Request]]


def problem(status: int, code: str, detail: str = "nope") -> httpx.Response:
    body = {
        "type": f"https://envhub.dev/problems/{code}",
        "title": "t",
        "status": status,
        "detail": detail,
        "code": code,
    }
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def app() -> typer.Typer:
    """A root app with the author commands, as `hub/cli/main.py` builds it."""
    root = typer.Typer()
    author.register(root)
    return root
