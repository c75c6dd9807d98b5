"""`envhub init`: write a new verifiers environment package from a template.

Templates live in `hub/cli/templates/{v1,v0}` and ship as package data. Files ending in
`.tmpl` are rendered with `string.Template` (`$module`, `$dist_name`, ...); other files
are copied byte for byte. Two path conventions keep the templates installable as
package data: a directory named `package` becomes the module directory, and a file
named `gitignore.tmpl` becomes `.gitignore` (dotfiles are easy to lose in wheels).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template
from typing import Literal

from hub.cli.client import CLIError

Runtime = Literal["v1", "v0"]

# PEP 508 project names; the module name derived from it must also be an identifier.
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*[A-Za-z0-9]$|^[A-Za-z]$")


@dataclass(frozen=True)
class EnvNames:
    dist_name: str  # the distribution (and hub environment) name, as the author typed it
    module: str  # the importable module verifiers derives from the name
    class_prefix: str  # CamelCase prefix for the generated classes


def env_names(name: str) -> EnvNames:
    """Derive module and class names the way verifiers resolves an environment id.

    Both verifiers 0.1 and 0.4 import `name.replace("-", "_")` (0.4 also lowercases),
    so the module must be exactly that or `vf-eval NAME` would not find it.
    """
    if not _NAME_RE.match(name) or len(name) > 100:
        raise CLIError(
            f"'{name}' is not a valid environment name.",
            hint="Use letters, digits, '-', '_' and '.', starting with a letter and ending"
            " with a letter or digit, e.g. `envhub init my-math-env`.",
        )
    module = re.sub(r"[-.]+", "_", name).lower()
    if keyword.iskeyword(module) or not module.isidentifier():
        raise CLIError(
            f"'{name}' maps to the module name '{module}', which Python cannot import.",
            hint="Pick another name, e.g. add an '-env' suffix.",
        )
    prefix = "".join(part[:1].upper() + part[1:] for part in module.split("_") if part)
    return EnvNames(dist_name=name, module=module, class_prefix=prefix)


def _target_name(template_name: str, names: EnvNames) -> str:
    if template_name == "gitignore.tmpl":
        return ".gitignore"
    if template_name == "package":
        return names.module
    stem = template_name.removesuffix(".tmpl")
    if stem.startswith("module."):
        return names.module + stem.removeprefix("module")
    return stem


def _render_tree(
    source: Traversable, dest: Path, mapping: dict[str, str], names: EnvNames
) -> list[Path]:
    written: list[Path] = []
    for entry in sorted(source.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        target = dest / _target_name(entry.name, names)
        if entry.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            written += _render_tree(entry, target, mapping, names)
        elif entry.name.endswith(".tmpl"):
            text = Template(entry.read_text(encoding="utf-8")).substitute(mapping)
            target.write_text(text, encoding="utf-8")
            written.append(target)
        else:
            target.write_bytes(entry.read_bytes())
            written.append(target)
    return written


def scaffold(name: str, parent: Path, runtime: Runtime = "v1") -> tuple[Path, list[Path]]:
    """Create `parent/name/` from the `runtime` template; return the dir and its files.

    Refuses to write into an existing non-empty directory: init must never clobber work.
    """
    names = env_names(name)
    env_dir = parent / name
    if env_dir.exists() and (not env_dir.is_dir() or any(env_dir.iterdir())):
        raise CLIError(
            f"{env_dir} already exists and is not empty.",
            hint="Choose another NAME or --path, or remove the directory first.",
        )
    api = "v1 (verifiers 0.4.x)" if runtime == "v1" else "v0 (verifiers 0.1.x)"
    mapping = {
        "dist_name": names.dist_name,
        "module": names.module,
        "class_prefix": names.class_prefix,
        "description": f"{names.dist_name}: a small arithmetic environment for verifiers {api}.",
    }
    env_dir.mkdir(parents=True, exist_ok=True)
    source = files("hub.cli").joinpath("templates").joinpath(runtime)
    written = _render_tree(source, env_dir, mapping, names)
    return env_dir, written
