"""`envhub info`, `search`, `versions`, `yank` and `unyank`: reading and curating."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich import box
from rich.console import JustifyMethod
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hub.cli.common import (
    JsonOption,
    console,
    env_web_url,
    human_size,
    make_client,
    parse_ref,
    print_json,
    report_errors,
    require_token,
)

SORT_KEYS = ("name", "updated", "created", "downloads", "stars")


def _short_date(value: Any) -> str:
    # ISO 8601 timestamps: the date part is what a table needs.
    return str(value)[:10] if value else ""


@report_errors
def info(
    ref: Annotated[str, typer.Argument(help="OWNER/NAME[@VERSION] (default: latest).")],
    json_out: JsonOption = False,
) -> None:
    """Show an environment version: metadata, files, install commands and index URL."""
    env = parse_ref(ref)
    client, config = make_client()
    with client:
        environment = client.get_environment(env.owner, env.name)
        version = client.get_version(env.owner, env.name, env.version or "latest")
    if json_out:
        print_json({"environment": environment, "version": version})
        return
    yanked = (
        f" [red](yanked: {escape(str(version.get('yanked_reason') or ''))})[/]"
        if version.get("yanked")
        else ""
    )
    console.print(
        f"[bold]{escape(env.full_name)}[/] {escape(str(version.get('version')))}{yanked}"
        f"  [dim]{environment.get('visibility', '')}[/]"
    )
    description = version.get("description") or environment.get("description")
    if description:
        console.print(escape(str(description)), highlight=False)
    facts = [
        ("URL", env_web_url(config.url, env.owner, env.name)),
        ("Runtime", version.get("runtime")),
        ("Tags", ", ".join(version.get("tags") or environment.get("tags") or [])),
        ("License", version.get("license")),
        ("Python", version.get("requires_python")),
        ("Dependencies", ", ".join(version.get("dependencies") or [])),
        ("Content hash", version.get("content_hash")),
        ("Published", f"{version.get('created_at', '')} by {version.get('published_by', '')}"),
        ("Downloads", environment.get("downloads")),
        ("Stars", environment.get("stars")),
    ]
    for label, value in facts:
        if value not in (None, ""):
            console.print(f"  [dim]{label:<13}[/]{escape(str(value))}", highlight=False)
    files = Table(title="Files", title_justify="left", show_edge=False)
    for column in ("kind", "filename", "size", "sha256"):
        files.add_column(column)
    for item in version.get("files", []):
        files.add_row(
            str(item.get("kind")),
            str(item.get("filename")),
            human_size(int(item.get("size") or 0)),
            str(item.get("sha256", ""))[:16] + "...",
        )
    console.print(files)
    install = version.get("install") or {}
    console.print("[bold]Install[/]")
    console.print(f"  envhub install {escape(env.full_name)}@{escape(str(version.get('version')))}")
    for key in ("pip", "uv", "prime"):
        if install.get(key):
            console.print(f"  {escape(str(install[key]))}", highlight=False)
    for key, label in (("index_url", "Index URL"), ("owner_index_url", "Owner index")):
        if install.get(key):
            console.print(f"  [dim]{label:<13}[/]{escape(str(install[key]))}", highlight=False)


@report_errors
def search(
    query: Annotated[str | None, typer.Argument(help="Words to look for.")] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Only environments with this tag (repeatable)."),
    ] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's.")] = None,
    sort: Annotated[
        str | None, typer.Option("--sort", help=f"One of: {', '.join(SORT_KEYS)}.")
    ] = None,
    page: Annotated[int, typer.Option("--page", min=1, help="Page number (1-based).")] = 1,
    per_page: Annotated[int, typer.Option("--per-page", min=1, max=100)] = 20,
    json_out: JsonOption = False,
) -> None:
    """Search the hub's environments."""
    if sort is not None and sort not in SORT_KEYS:
        raise typer.BadParameter(f"must be one of {', '.join(SORT_KEYS)}", param_hint="--sort")
    client, _ = make_client()
    with client:
        result = client.list_environments(
            q=query, owner=owner, tags=tag, sort=sort, page=page, per_page=per_page
        )
    if json_out:
        print_json(result)
        return
    items = result.get("items", [])
    total = int(result.get("total", len(items)))
    # Every column but the description keeps its natural width; the description (ratio
    # column of an expanded table) gets what is left, cut to one line with "…".
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, expand=True)
    for column in ("environment", "latest", "runtime", "downloads", "stars", "updated"):
        justify: JustifyMethod = "right" if column in ("downloads", "stars") else "left"
        table.add_column(column, no_wrap=True, justify=justify)
    table.add_column("description", ratio=1)
    for item in items:
        full_name = str(item.get("full_name") or f"{item.get('owner')}/{item.get('name')}")
        private = item.get("visibility") == "private"
        table.add_row(
            escape(full_name) + (" [dim]private[/]" if private else ""),
            escape(str(item.get("latest_version") or "")),
            escape(str(item.get("runtime") or "")),
            str(item.get("downloads", 0)),
            str(item.get("stars", 0)),
            _short_date(item.get("updated_at")),
            Text(str(item.get("description") or ""), no_wrap=True, overflow="ellipsis"),
        )
    console.print(table)
    pages = max(1, -(-total // per_page))
    console.print(f"[dim]{total} environment(s); page {page} of {pages}[/]")


@report_errors
def versions(
    ref: Annotated[str, typer.Argument(help="OWNER/NAME.")],
    json_out: JsonOption = False,
) -> None:
    """List an environment's versions, newest first."""
    env = parse_ref(ref, allow_version=False)
    client, _ = make_client()
    with client:
        items = client.list_versions(env.owner, env.name)
    if json_out:
        print_json(items)
        return
    table = Table(title=env.full_name, title_justify="left", show_edge=False)
    for column in ("version", "published", "runtime", "content hash", "status"):
        table.add_column(column)
    for item in items:
        status = "[red]yanked[/]" if item.get("yanked") else ""
        if item.get("yanked") and item.get("yanked_reason"):
            status += f" {escape(str(item['yanked_reason']))}"
        table.add_row(
            escape(str(item.get("version"))),
            _short_date(item.get("created_at")),
            escape(str(item.get("runtime") or "")),
            str(item.get("content_hash") or "")[:12],
            status,
        )
    console.print(table)


@report_errors
def yank(
    ref: Annotated[str, typer.Argument(help="OWNER/NAME.")],
    version: Annotated[str, typer.Argument(help="The version to yank.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown to installers).")],
    json_out: JsonOption = False,
) -> None:
    """Yank a version: pip skips it unless it is pinned exactly (PEP 592)."""
    env = parse_ref(ref, allow_version=False)
    client, config = make_client()
    require_token(config)
    with client:
        result = client.yank(env.owner, env.name, version, reason)
    if json_out:
        print_json(
            result or {"owner": env.owner, "name": env.name, "version": version, "yanked": True}
        )
        return
    console.print(f"Yanked {escape(env.full_name)} {escape(version)}: {escape(reason)}")


@report_errors
def unyank(
    ref: Annotated[str, typer.Argument(help="OWNER/NAME.")],
    version: Annotated[str, typer.Argument(help="The version to restore.")],
    json_out: JsonOption = False,
) -> None:
    """Undo a yank."""
    env = parse_ref(ref, allow_version=False)
    client, config = make_client()
    require_token(config)
    with client:
        result = client.unyank(env.owner, env.name, version)
    if json_out:
        print_json(
            result or {"owner": env.owner, "name": env.name, "version": version, "yanked": False}
        )
        return
    console.print(f"Unyanked {escape(env.full_name)} {escape(version)}.")


def register(app: typer.Typer) -> None:
    app.command("info")(info)
    app.command("search")(search)
    app.command("versions")(versions)
    app.command("yank")(yank)
    app.command("unyank")(unyank)
