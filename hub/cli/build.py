"""Build what `envhub push` uploads: a wheel and a source archive, with their digests.

The source archive and the content hash come from `hub.kit.contenthash`, the same code
the server uses, so the client and the hub always agree on a version's identity. Both
are taken before the wheel is built, so whatever a build backend writes into the tree
(`build/`, `*.egg-info`) can never leak into them.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from hub.cli.client import CLIError
from hub.kit.contenthash import build_source_tar, content_hash_of_dir, select_source_files

FileKind = Literal["wheel", "source"]


class BuildError(CLIError):
    """The environment directory cannot be turned into uploadable files."""


@dataclass(frozen=True)
class BuiltFile:
    kind: FileKind
    path: Path
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return self.path.name

    def registration(self) -> dict[str, Any]:
        """This file as the register step's `files[]` entry."""
        return {
            "kind": self.kind,
            "filename": self.filename,
            "sha256": self.sha256,
            "size": self.size,
        }


@dataclass(frozen=True)
class ProjectInfo:
    name: str
    version: str
    description: str
    keywords: list[str]


@dataclass(frozen=True)
class BuildResult:
    project: ProjectInfo
    content_hash: str
    files: list[BuiltFile]
    source_members: list[str]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def read_project(root: Path) -> ProjectInfo:
    """Name and version from `[project]` in pyproject.toml (both must be static)."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        raise BuildError(
            f"No pyproject.toml in {root}.",
            hint="Run the command in an environment directory, or create one with"
            " `envhub init NAME`.",
        )
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BuildError(f"{pyproject} is not valid TOML: {exc}", hint="Fix the file.") from exc
    project = data.get("project")
    if not isinstance(project, dict):
        raise BuildError(f"{pyproject} has no [project] table.", hint="Add name and version.")
    name, version = project.get("name"), project.get("version")
    if not isinstance(name, str) or not name:
        raise BuildError(f"{pyproject} sets no [project] name.", hint='Add `name = "..."`.')
    if not isinstance(version, str):
        # The hub needs the version before building, so a dynamic version cannot work.
        raise BuildError(
            f"{pyproject} sets no static [project] version.",
            hint='Add `version = "0.1.0"` under [project] (dynamic versions are not supported).',
        )
    try:
        Version(version)
    except InvalidVersion as exc:
        raise BuildError(
            f"Version '{version}' is not a PEP 440 version.", hint='Use e.g. "0.1.0".'
        ) from exc
    keywords = [k for k in project.get("keywords", []) if isinstance(k, str)]
    description = project.get("description")
    return ProjectInfo(
        name=name,
        version=version,
        description=description if isinstance(description, str) else "",
        keywords=keywords,
    )


def build_wheel(root: Path, outdir: Path) -> Path:
    """Run `python -m build --wheel` (isolated, like pip would) and return the wheel."""
    outdir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir), str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    wheels = sorted(outdir.glob("*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BuildError(
            f"Building the wheel failed (exit {result.returncode}):\n{tail}",
            hint=f"Run `{Path(sys.executable).name} -m build --wheel {root}` to see the full"
            " output and fix pyproject.toml or the package.",
        )
    return wheels[0]


def _check_wheel_matches(wheel: Path, project: ProjectInfo) -> None:
    # Wheel names are `{dist}-{version}-...`; a mismatch means pyproject.toml changed
    # under us or a backend rewrote the name, and the hub would refuse it anyway.
    dist, version = wheel.name.split("-")[:2]
    if canonicalize_name(dist) != canonicalize_name(project.name) or Version(version) != Version(
        project.version
    ):
        raise BuildError(
            f"The built wheel {wheel.name} does not match {project.name} {project.version}.",
            hint="Check [project] name and version in pyproject.toml.",
        )


def build_all(root: Path, workdir: Path) -> BuildResult:
    """Build the source archive and wheel of the environment at `root` into `workdir`."""
    root = root.resolve()
    if not root.is_dir():
        raise BuildError(f"{root} is not a directory.", hint="Pass an environment directory.")
    project = read_project(root)
    if not select_source_files(root):
        raise BuildError(f"No source files found in {root}.", hint="Check .gitignore.")
    content_hash = content_hash_of_dir(root)
    workdir.mkdir(parents=True, exist_ok=True)
    # `<name>-<version>-<hash8>.tar.gz`, as the prime client names it: a new content
    # never reuses an old filename, which the hub refuses even after a delete.
    source_name = f"{canonicalize_name(project.name)}-{project.version}-{content_hash[:8]}.tar.gz"
    source_path = workdir / source_name
    members = build_source_tar(root, source_path)
    # The archive was written from the same selection; re-hashing the tree afterwards
    # catches files edited while we were reading them.
    if content_hash_of_dir(root) != content_hash:
        raise BuildError(
            "The environment's files changed while the archive was being built.",
            hint="Wait for editors or generators to finish, then push again.",
        )
    wheel = build_wheel(root, workdir / "wheel")
    _check_wheel_matches(wheel, project)
    files = [
        BuiltFile("wheel", wheel, sha256_of(wheel), wheel.stat().st_size),
        BuiltFile("source", source_path, sha256_of(source_path), source_path.stat().st_size),
    ]
    return BuildResult(
        project=project, content_hash=content_hash, files=files, source_members=members
    )
