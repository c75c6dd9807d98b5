"""Where the CLI keeps the hub URL and token between runs.

The file is `$XDG_CONFIG_HOME/envhub/config.toml` (default `~/.config/envhub/`), written
with mode 0600 because it holds a secret. `HUB_URL` and `HUB_TOKEN` override it, so CI
and one-off commands need no file at all.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hub.cli.client import CLIError

DEFAULT_HUB_URL = "http://127.0.0.1:8000"

Source = Literal["env", "file", "default", "none"]


@dataclass(frozen=True)
class CLIConfig:
    url: str
    token: str | None
    username: str | None = None
    url_source: Source = "default"
    auth_source: Source = "none"


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "envhub" / "config.toml"


def _read_file(path: Path) -> dict[str, str]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CLIError(
            f"Cannot read {path}: {exc}",
            hint="Fix or delete the file, then run `envhub login` again.",
        ) from exc
    return {key: value for key, value in data.items() if isinstance(value, str)}


def load_config(path: Path | None = None) -> CLIConfig:
    """The effective config: environment variables win over the file."""
    stored = _read_file(path or config_path())
    env_url = os.environ.get("HUB_URL")
    env_token = os.environ.get("HUB_TOKEN")
    url_source: Source
    if env_url:
        url, url_source = env_url, "env"
    elif stored.get("url"):
        url, url_source = stored["url"], "file"
    else:
        url, url_source = DEFAULT_HUB_URL, "default"
    token: str | None
    auth_source: Source
    if env_token:
        token, auth_source = env_token, "env"
    elif stored.get("token"):
        token, auth_source = stored["token"], "file"
    else:
        token, auth_source = None, "none"
    # The stored username only describes the stored token.
    username = stored.get("username") if auth_source == "file" else None
    return CLIConfig(
        url=url.rstrip("/"),
        token=token,
        username=username,
        url_source=url_source,
        auth_source=auth_source,
    )


def _toml_string(value: str) -> str:
    # JSON string escapes (\", \\, \n, \uXXXX) are all valid TOML basic-string escapes.
    return json.dumps(value)


def save_config(url: str, token: str, username: str | None, path: Path | None = None) -> Path:
    """Write the login atomically with mode 0600 (never world-readable, even briefly)."""
    target = path or config_path()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = [f"url = {_toml_string(url.rstrip('/'))}", f"token = {_toml_string(token)}"]
    if username:
        lines.append(f"username = {_toml_string(username)}")
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o600)  # O_CREAT's mode is masked by umask and ignored if tmp existed
    os.replace(tmp, target)
    return target


def delete_config(path: Path | None = None) -> bool:
    target = path or config_path()
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    return True
