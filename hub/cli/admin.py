"""Operator commands: they talk to the database directly, so run them on the hub's host."""

from __future__ import annotations

import os
import sys

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts import service as accounts
from hub.accounts.models import TokenScope, User
from hub.kit.db import engine_for, session_factory, session_scope
from hub.kit.errors import HubError
from hub.kit.settings import Settings, get_settings
from hub.kit.storage import storage_from_settings

app = typer.Typer(no_args_is_help=True)


def _fail(exc: HubError) -> None:
    typer.secho(f"error: {exc.detail}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _sessions(settings: Settings) -> sessionmaker[Session]:
    return session_factory(engine_for(settings.database_url))


@app.command("create-user")
def create_user(
    name: str,
    admin: bool = typer.Option(False, "--admin", help="Site administrator."),
    email: str | None = typer.Option(None),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read a web sign-in password from stdin."
    ),
) -> None:
    """Create a user account."""
    settings = get_settings()
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        with session_scope(_sessions(settings)) as db:
            user = accounts.create_user(db, name, email=email, is_admin=admin)
            if password is not None:
                accounts.set_password(db, user, password)
    except HubError as exc:
        _fail(exc)
    typer.echo(f"created user {name.lower()}" + (" (admin)" if admin else ""), err=True)


@app.command("create-token")
def create_token(
    name: str = typer.Argument(..., help="The user the token acts as."),
    scope: TokenScope = typer.Option(TokenScope.WRITE, help="read | write | admin"),
    expires_days: int | None = typer.Option(None, help="Expire after N days."),
    label: str = typer.Option("cli", help="A name to recognise the token by."),
) -> None:
    """Create an API token; prints only the token on stdout."""
    settings = get_settings()
    try:
        with session_scope(_sessions(settings)) as db:
            user = accounts.get_user(db, name)
            issued = accounts.create_token(
                db, user, label, scope, secret_key=settings.secret_key, expires_days=expires_days
            )
    except HubError as exc:
        _fail(exc)
    typer.echo(issued.secret)


@app.command("create-org")
def create_org(
    name: str, owner: str = typer.Option(..., help="Username of the first owner.")
) -> None:
    """Create an organization owned by a user."""
    settings = get_settings()
    try:
        with session_scope(_sessions(settings)) as db:
            accounts.create_org(db, name, accounts.get_user(db, owner))
    except HubError as exc:
        _fail(exc)
    typer.echo(f"created organization {name.lower()} (owner {owner})", err=True)


@app.command("gc-blobs")
def gc_blobs(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would go."),
    scan: bool = typer.Option(
        False, "--scan",
        help="First queue every stored blob no file references (a full storage listing):"
        " blobs of failed publishes and of deletes made before the collector existed.",
    ),
    limit: int = typer.Option(10_000, min=1, help="Queued blobs to examine in this run."),
) -> None:
    """Delete stored package blobs nothing references (deleted private versions and
    environments) and abandoned upload bytes. Prints each deleted key."""
    from hub.registry import blob_gc

    settings = get_settings()
    sessions, storage = _sessions(settings), storage_from_settings(settings)
    if scan:
        found = blob_gc.enqueue_unreferenced(sessions, storage, dry_run=dry_run)
        verb = "found" if dry_run else "queued"
        typer.echo(f"{verb} {found} unreferenced blob(s)", err=True)
    report = blob_gc.collect(sessions, storage, limit=limit, dry_run=dry_run)
    for key in report.deleted + report.staging_deleted:
        typer.echo(key)
    counts = report.counts()
    typer.echo(f"{'would delete' if dry_run else 'deleted'} {counts['deleted']} blob(s) and"
               f" {counts['staging_deleted']} staged upload object(s); {counts['kept']} queued"
               f" blob(s) still referenced, {counts['failed']} failed", err=True)
    if report.failed:
        raise typer.Exit(1)


def bootstrap_admin(settings: Settings) -> str | None:
    """On an empty hub, create user 'admin' and an admin token saved (0600) in the data dir."""
    with session_scope(_sessions(settings)) as db:
        if (db.scalar(select(func.count()).select_from(User)) or 0) > 0:
            return None
        user = accounts.create_user(db, "admin", is_admin=True)
        issued = accounts.create_token(
            db, user, "initial admin", TokenScope.ADMIN, secret_key=settings.secret_key
        )
    path = settings.data_dir / "initial-admin-token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(issued.secret + "\n")
    return issued.secret
