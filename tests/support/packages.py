"""Small, valid environment packages built in-process (fast), for API tests.

End-to-end tests build real packages with `envhub push`; these helpers write the same
artefacts directly so hundreds of tests do not each run a PEP 517 build.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hub.kit.contenthash import build_source_tar, content_hash_of_dir
from hub.kit.names import normalize_project


@dataclass
class Built:
    name: str
    version: str
    wheel: Path
    source: Path
    content_hash: str

    def register_body(self, visibility: str = "public") -> dict[str, object]:
        return {
            "version": self.version,
            "content_hash": self.content_hash,
            "visibility": visibility,
            "files": [file_entry("wheel", self.wheel), file_entry("source", self.source)],
        }


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_entry(kind: str, path: Path) -> dict[str, object]:
    return {"kind": kind, "filename": path.name, "sha256": sha256_of(path),
            "size": path.stat().st_size}


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def write_project(root: Path, name: str, version: str, *, requires: list[str] | None = None,
                  description: str = "A test environment", readme: str | None = None,
                  keywords: list[str] | None = None) -> Path:
    module = normalize_project(name).replace("-", "_")
    root.mkdir(parents=True, exist_ok=True)
    deps = ", ".join(f'"{r}"' for r in (requires or []))
    kw = ", ".join(f'"{k}"' for k in (keywords or []))
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "{version}"\ndescription = "{description}"\n'
        f"dependencies = [{deps}]\nkeywords = [{kw}]\nrequires-python = \">=3.10\"\n"
    )
    (root / "README.md").write_text(readme or f"# {name}\n\n{description}\n")
    (root / f"{module}.py").write_text(
        f'"""{description}"""\n\nVERSION = "{version}"\n\n\ndef load_environment(**kwargs):\n'
        "    return {'name': " + repr(name) + "}\n"
    )
    return root


def make_wheel(out_dir: Path, src: Path, name: str, version: str, *,
               requires: list[str] | None = None, description: str = "A test environment",
               keywords: list[str] | None = None, metadata_name: str | None = None,
               metadata_version: str | None = None) -> Path:
    dist = normalize_project(name).replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {metadata_name or name}",
        f"Version: {metadata_version or version}",
        f"Summary: {description}",
        "Requires-Python: >=3.10",
        "License: MIT",
    ]
    if keywords:
        lines.append(f"Keywords: {','.join(keywords)}")
    lines += [f"Requires-Dist: {r}" for r in (requires or [])]
    readme = (src / "README.md").read_text() if (src / "README.md").exists() else ""
    header = "\n".join(lines) + "\nDescription-Content-Type: text/markdown\n\n"
    metadata = (header + readme).encode()
    files = {f"{dist}.py": (src / f"{dist}.py").read_bytes(),
             f"{info}/METADATA": metadata,
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: envhub-tests\nRoot-Is-Purelib: true"
                              b"\nTag: py3-none-any\n"}
    record = [_record_line(p, d) for p, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


def build(tmp: Path, name: str, version: str = "0.1.0", *, requires: list[str] | None = None,
          description: str = "A test environment", keywords: list[str] | None = None,
          readme: str | None = None) -> Built:
    src = write_project(tmp / f"src-{name}-{version}", name, version, requires=requires,
                        description=description, readme=readme, keywords=keywords)
    out = tmp / f"dist-{name}-{version}"
    wheel = make_wheel(out, src, name, version, requires=requires, description=description,
                       keywords=keywords)
    digest = content_hash_of_dir(src)
    source = out / f"{normalize_project(name)}-{version}-{digest[:8]}.tar.gz"
    build_source_tar(src, source)
    return Built(name=name, version=version, wheel=wheel, source=source, content_hash=digest)
