"""`envhub push`, `pull` and `install`: moving environments to and from the hub."""

from __future__ import annotations

import hmac
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit, urlunsplit

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from hub.cli.build import BuildResult, build_all, sha256_of
from hub.cli.client import CLIError, HubClient, NotFoundError
from hub.cli.common import (
    JsonOption,
    console,
    env_web_url,
    err_console,
    make_client,
    parse_ref,
    print_json,
    report_errors,
    require_token,
)
from hub.cli.config import load_config
from hub.cli.extract import safe_extract


def _progress(*, quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=quiet,
        disable=quiet and not err_console.is_terminal,
    )


def _install_lines(version_out: dict[str, Any], owner: str, name: str, version: str) -> list[str]:
    lines = [f"envhub install {owner}/{name}@{version}"]
    install = version_out.get("install") or {}
    for key in ("pip", "uv"):
        if isinstance(install.get(key), str):
            lines.append(install[key])
    return lines


def _print_published(
    hub_url: str, owner: str, built: BuildResult, version_out: dict[str, Any], *, fresh: bool
) -> None:
    name, version = built.project.name, built.project.version
    if fresh:
        console.print(f"[green]Published[/] [bold]{escape(owner)}/{escape(name)}[/] {version}")
    else:
        console.print(
            f"[bold]{escape(owner)}/{escape(name)}[/] {version} is already published with"
            " exactly this content; nothing was uploaded."
        )
    console.print(f"  {env_web_url(hub_url, owner, name)}", highlight=False)
    console.print("Install with:", highlight=False)
    for line in _install_lines(version_out, owner, name, version):
        console.print(f"  {escape(line)}", highlight=False)


@report_errors
def push(
    path: Annotated[Path, typer.Argument(help="Environment directory.")] = Path("."),
    private: Annotated[
        bool, typer.Option("--private", help="Create the environment as private.")
    ] = False,
    owner: Annotated[
        str | None, typer.Option("--owner", help="Publish under this organization.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Build the wheel and source archive and publish them as a new version."""
    config = load_config()
    token = require_token(config)
    with (
        HubClient(config.url, token) as client,
        tempfile.TemporaryDirectory(prefix="envhub-push-") as tmp,
    ):
        # Check the login before spending time on a build.
        me = client.me()
        owner = owner or str(me.get("username") or "")
        if not owner:
            raise CLIError("The hub did not say who you are.", hint="Pass --owner NAME.")
        with err_console.status("Building wheel and source archive..."):
            built = build_all(path, Path(tmp))
        name, version = built.project.name, built.project.version
        body: dict[str, Any] = {
            "version": version,
            "content_hash": built.content_hash,
            "files": [f.registration() for f in built.files],
        }
        if private:
            body["visibility"] = "private"
        try:
            upload = client.register_upload(owner, name, body)
        except NotFoundError as exc:
            # On push a 404 can only mean the owner: the environment is created on demand.
            exc.hint = (
                f"Check --owner: '{owner}' must be your username ({me.get('username')}) or an"
                " organization you can write to."
            )
            raise
        if upload.get("already_published"):
            version_out = upload.get("version") or {}
            if json_out:
                print_json(
                    _push_summary(config.url, owner, built, version_out, "already_published")
                )
            else:
                _print_published(config.url, owner, built, version_out, fresh=False)
            return
        by_name = {f.filename: f for f in built.files}
        pending = [entry for entry in upload.get("files", []) if not entry.get("uploaded")]
        with _progress(quiet=json_out) as progress:
            for entry in pending:
                local = by_name.get(entry.get("filename", ""))
                if local is None:
                    raise CLIError(
                        f"The hub asked for a file we did not register: {entry.get('filename')}.",
                        hint="Report this to the hub's operators.",
                    )
                task = progress.add_task(f"Uploading {local.filename}", total=local.size)

                def advance(n: int, task_id: Any = task) -> None:
                    progress.advance(task_id, n)

                client.upload_file(entry["upload_url"], local.path, on_progress=advance)
        with err_console.status("Verifying and publishing..."):
            version_out = client.finalize_upload(upload["id"])
    if json_out:
        print_json(_push_summary(config.url, owner, built, version_out, "published"))
    else:
        _print_published(config.url, owner, built, version_out, fresh=True)


def _push_summary(
    hub_url: str, owner: str, built: BuildResult, version_out: dict[str, Any], status: str
) -> dict[str, Any]:
    name, version = built.project.name, built.project.version
    return {
        "status": status,
        "owner": owner,
        "name": name,
        "version": version,
        "content_hash": built.content_hash,
        "url": env_web_url(hub_url, owner, name),
        "files": [f.registration() for f in built.files],
        "install": version_out.get("install"),
        "install_command": f"envhub install {owner}/{name}@{version}",
    }


@report_errors
def pull(
    ref: Annotated[str, typer.Argument(help="OWNER/NAME[@VERSION] (default: latest).")],
    dest: Annotated[
        Path | None, typer.Option("--dest", help="Directory to extract into (default: ./NAME).")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Download an environment's source archive and extract it."""
    env = parse_ref(ref)
    client, _ = make_client()
    target = dest or Path(env.name)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        # Checked again at extraction; checking now saves a pointless download.
        raise CLIError(f"{target} already exists and is not empty.", hint="Pass another --dest.")
    with client, tempfile.TemporaryDirectory(prefix="envhub-pull-") as tmp:
        version_out = client.get_version(env.owner, env.name, env.version or "latest")
        source = next((f for f in version_out.get("files", []) if f.get("kind") == "source"), None)
        if source is None:
            raise CLIError(
                f"{env.full_name} {version_out.get('version')} has no source archive.",
                hint="Use `envhub install` to get the wheel instead.",
            )
        archive = Path(tmp) / "source.tar.gz"
        with _progress(quiet=json_out) as progress:
            task = progress.add_task(f"Downloading {source['filename']}", total=source.get("size"))
            client.download(
                source["download_url"], archive, on_progress=lambda n: progress.advance(task, n)
            )
        if not hmac.compare_digest(sha256_of(archive), str(source.get("sha256", ""))):
            raise CLIError(
                f"The downloaded {source['filename']} does not match its published sha256.",
                hint="Try again; if it persists, report it to the hub's operators.",
            )
        files = safe_extract(archive, target)
    if json_out:
        print_json(
            {
                "owner": env.owner,
                "name": env.name,
                "version": version_out.get("version"),
                "path": str(target),
                "files": files,
            }
        )
        return
    console.print(
        f"Pulled {escape(env.full_name)} {version_out.get('version')} into {target}"
        f" ({len(files)} files).",
        highlight=False,
    )


def with_token(index_url: str, token: str) -> str:
    """The index URL with `__token__:<token>@` as basic auth (pip/uv send no headers)."""
    parts = urlsplit(index_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"__token__:{quote(token, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _mask(url: str, token: str) -> str:
    return url.replace(quote(token, safe=""), "***")


def install_command(tool: str, requirement: str, index_url: str) -> list[str]:
    if tool == "uv":
        return ["uv", "pip", "install", requirement, "--extra-index-url", index_url]
    # pip installs into the active virtualenv if there is one, else next to this CLI.
    venv = os.environ.get("VIRTUAL_ENV")
    python = str(Path(venv) / "bin" / "python") if venv else sys.executable
    return [python, "-m", "pip", "install", requirement, "--extra-index-url", index_url]


@report_errors
def install(
    ref: Annotated[str, typer.Argument(help="OWNER/NAME[@VERSION] (default: latest).")],
    with_tool: Annotated[
        str | None, typer.Option("--with", help="Installer: pip or uv (default: uv if found).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the command instead of running it.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Install an environment with pip or uv from the hub's package index."""
    env = parse_ref(ref)
    tool = with_tool or ("uv" if shutil.which("uv") else "pip")
    if tool not in ("pip", "uv"):
        raise CLIError(f"Unknown installer '{tool}'.", hint="Use --with pip or --with uv.")
    client, config = make_client()
    with client:
        version_out = client.get_version(env.owner, env.name, env.version or "latest")
        environment = client.get_environment(env.owner, env.name)
    index_url = client.absolute_url(str((version_out.get("install") or {}).get("index_url", "")))
    if not index_url.startswith(("http://", "https://")):
        raise CLIError("The hub returned no index URL for this version.", hint="Report this.")
    if environment.get("visibility") == "private":
        index_url = with_token(index_url, require_token(config))
    version = str(version_out["version"])
    if version_out.get("yanked"):
        reason = version_out.get("yanked_reason") or "no reason given"
        err_console.print(f"[yellow]Warning:[/] {version} is yanked ({escape(str(reason))}).")
    command = install_command(tool, f"{env.name}=={version}", index_url)
    shown = " ".join(_mask(part, config.token) if config.token else part for part in command)
    summary = {"owner": env.owner, "name": env.name, "version": version,
               "installer": tool, "command": shown, "installed": False}
    if dry_run:
        if json_out:
            print_json(summary)
        else:
            console.print(shown, highlight=False, markup=False)
        return
    err_console.print(f"Running: {escape(shown)}", highlight=False)
    try:
        # With --json, stdout carries only the JSON document: the installer talks on stderr.
        returncode = subprocess.run(command, check=False,
                                    stdout=sys.stderr if json_out else None).returncode
    except FileNotFoundError as exc:
        raise CLIError(
            f"{command[0]} was not found.", hint="Install it or use --with pip."
        ) from exc
    if returncode != 0:
        raise CLIError(
            f"{tool} exited with code {returncode}.",
            hint="Read the installer's output above; `envhub info` shows the index URL.",
        )
    if json_out:
        print_json(summary | {"installed": True})
        return
    console.print(f"Installed {escape(env.full_name)} {version}.", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("push")(push)
    app.command("pull")(pull)
    app.command("install")(install)
