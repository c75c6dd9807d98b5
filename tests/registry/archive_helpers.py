"""Builders for the hand-made (often malicious) archives of the archive tests."""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import warnings
import zipfile
from pathlib import Path

from hub.registry.archive import ArchiveLimits

KiB = 1024
MiB = 1024 * KiB
LIMITS = ArchiveLimits(
    max_files=50,
    max_uncompressed_bytes=4 * MiB,
    max_ratio=20.0,
    max_member_bytes=2 * MiB,
    ratio_floor_bytes=256 * KiB,
)
WHEEL = "demo_env-0.1.0-py3-none-any.whl"
SOURCE = "demo-env-0.1.0-abcdef12.tar.gz"

ZipEntry = tuple[str | zipfile.ZipInfo, bytes]
TarEntry = tuple[tarfile.TarInfo, bytes | None]


def metadata(name: str = "demo-env", version: str = "0.1.0", extra: str = "") -> bytes:
    headers = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: A demo\n"
    return (headers + (f"{extra}\n" if extra else "") + "\nThe README body.\n").encode()


def wheel_entries(dist_info: str = "demo_env-0.1.0", meta: bytes | None = None) -> list[ZipEntry]:
    return [
        ("demo_env.py", b"def load_environment():\n    return 1\n"),
        (f"{dist_info}.dist-info/METADATA", meta if meta is not None else metadata()),
        (f"{dist_info}.dist-info/WHEEL", b"Wheel-Version: 1.0\nTag: py3-none-any\n"),
    ]


def write_zip(path: Path, entries: list[ZipEntry], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on the duplicate names we want
        with zipfile.ZipFile(path, "w", compression) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return path


def zip_info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: external_attr carries st_mode
    info.external_attr = mode << 16
    return info


def symlink_zip_info(name: str) -> zipfile.ZipInfo:
    return zip_info(name, stat.S_IFLNK | 0o777)


def reg(name: str, data: bytes = b"x = 1\n") -> TarEntry:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def entry(name: str, kind: bytes, linkname: str = "") -> TarEntry:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def tar_bytes(members: list[TarEntry], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def write_targz(path: Path, members: list[TarEntry], trailing: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(tar_bytes(members) + trailing, mtime=0))
    return path


def mark_encrypted(path: Path, name: str) -> Path:
    """Set the 'encrypted' flag of `name` (zipfile clears it when writing)."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for signature, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        at = data.find(signature)
        while at >= 0:
            if data[at + name_at : at + name_at + len(encoded)] == encoded:
                data[at + flag_at] |= 0x1
            at = data.find(signature, at + 1)
    path.write_bytes(bytes(data))
    return path
