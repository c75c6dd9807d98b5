"""Upload RSS: a 200 MiB wheel through the local backend's signed upload URL.

The archive is a real wheel (valid METADATA and RECORD) padded with a 200 MiB member of
random, incompressible bytes, stored uncompressed. It is registered through the API with
its real sha256 and size, PUT to `/api/v1/uploads/blob/{token}` from a generator (the
client never holds it in memory, and sends Content-Length), then finalized, which
re-reads and hashes it as a stream. Meanwhile the hub process's VmRSS is read from
/proc every 50 ms, and the kernel's own peak (VmHWM, reset before each phase) is read
after each phase.

Usage: .venv/bin/python bench/upload_rss.py [--mib 200]
Results: bench/results/upload_rss.json (and a summary on stdout).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from benchlib import (
    RESULTS,
    hwm_bytes,
    live_hub,
    log,
    reset_hwm,
    rss_bytes,
    save_json,
)
from report_upload import GOAL_GROWTH_MIB, section, summary, verdict_rows

from tests.support.packages import Built, build

# The five functions run_all.py calls on every benchmark: parser and run are here; summary,
# verdict_rows and section render, in report_upload.py.
__all__ = ["GOAL_GROWTH_MIB", "parser", "run", "section", "summary", "verdict_rows"]

MIB = 1024 * 1024
PROJECT = "bench-big"
OWNER = "admin"
CHUNK = MIB


def _record_line(path: str, digest: bytes, size: int) -> str:
    b64 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return f"{path},sha256={b64},{size}"


def big_wheel(work: Path, pad_mib: int) -> Path:
    """A valid wheel for PROJECT 1.0.0 with a pad_mib MiB incompressible data member.

    Written member by member, the padding in 1 MiB chunks, so building it needs no memory.
    """
    small = build(work / "small", PROJECT, "1.0.0", description="Upload benchmark")
    out = work / small.wheel.name
    dist = "bench_big"
    pad_path = f"{dist}/padding.bin"
    record: list[str] = []
    with zipfile.ZipFile(small.wheel) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as dst:
        info_dir = next(n.split("/")[0] for n in src.namelist() if n.endswith(".dist-info/RECORD"))
        for name in src.namelist():
            if name.endswith(".dist-info/RECORD"):
                continue
            data = src.read(name)
            dst.writestr(name, data)
            record.append(_record_line(name, hashlib.sha256(data).digest(), len(data)))
        digest = hashlib.sha256()
        pad = zipfile.ZipInfo(pad_path, date_time=(2024, 1, 1, 0, 0, 0))
        pad.compress_type = zipfile.ZIP_STORED
        pad.external_attr = 0o644 << 16
        with dst.open(pad, "w", force_zip64=True) as fh:
            for _ in range(pad_mib):
                chunk = os.urandom(CHUNK)
                digest.update(chunk)
                fh.write(chunk)
        record.append(_record_line(pad_path, digest.digest(), pad_mib * CHUNK))
        record.append(f"{info_dir}/RECORD,,")
        dst.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
    return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Sampler:
    """VmRSS of one process every `interval` seconds, on a thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic() - t0, rss_bytes(self.pid)))
            except (OSError, KeyError):
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> int:
        return max(rss for _, rss in self.samples)


def baseline(pid: int, seconds: float = 1.0) -> int:
    """The median VmRSS over a quiet second."""
    with Sampler(pid) as s:
        time.sleep(seconds)
    values = sorted(rss for _, rss in s.samples)
    return values[len(values) // 2]


def register(api: httpx.Client, name: str, version: str, files: list[dict[str, Any]]
             ) -> dict[str, Any]:
    r = api.post(f"/api/v1/environments/{OWNER}/{name}/uploads",
                 json={"version": version, "visibility": "public", "files": files})
    r.raise_for_status()
    return dict(r.json())


def warm_up(api: httpx.Client, small: Built) -> None:
    """Publish one small wheel first, so first-use imports do not count as upload growth."""
    reg = register(api, small.name, small.version, [_entry(small.wheel)])
    httpx.put(reg["files"][0]["upload_url"], content=small.wheel.read_bytes(),
              timeout=60).raise_for_status()
    api.post(f"/api/v1/uploads/{reg['id']}/finalize").raise_for_status()


def _entry(path: Path) -> dict[str, Any]:
    return {"kind": "wheel", "filename": path.name, "sha256": file_sha256(path),
            "size": path.stat().st_size}


def stream(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def phase(pid: int, action: Any) -> dict[str, Any]:
    base = baseline(pid)
    hwm_reset = reset_hwm(pid)
    t0 = time.monotonic()
    with Sampler(pid) as s:
        answer = action()
    seconds = time.monotonic() - t0
    peak_sampled = s.peak
    peak = max(peak_sampled, hwm_bytes(pid)) if hwm_reset else peak_sampled
    return {
        "baseline_mib": round(base / MIB, 1),
        "peak_sampled_mib": round(peak_sampled / MIB, 1),
        "peak_vmhwm_mib": round(hwm_bytes(pid) / MIB, 1) if hwm_reset else None,
        "peak_mib": round(peak / MIB, 1),
        "growth_mib": round((peak - base) / MIB, 1),
        "after_mib": round(rss_bytes(pid) / MIB, 1),
        "seconds": round(seconds, 2),
        "samples": len(s.samples),
        "status": answer.status_code,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = RESULTS / "upload"
    work.mkdir(parents=True, exist_ok=True)
    log(f"building a {args.mib} MiB wheel ...")
    wheel = big_wheel(work, args.mib)
    entry = _entry(wheel)
    small = build(work / "warm", "bench-warm", "0.1.0", description="warm-up")
    result: dict[str, Any] = {"wheel": {"filename": wheel.name, "size_bytes": entry["size"],
                                        "size_mib": round(entry["size"] / MIB, 1),
                                        "sha256": entry["sha256"]},
                              "goal_growth_mib": GOAL_GROWTH_MIB, "sample_interval_ms": 50}
    with live_hub(work / "hub", None) as hub, \
            httpx.Client(base_url=hub.url, headers=hub.headers, timeout=600) as api:
        result["server_command"] = " ".join(hub.command)
        result["rss_at_start_mib"] = round(rss_bytes(hub.pid) / MIB, 1)
        warm_up(api, small)
        reg = register(api, PROJECT, "1.0.0", [entry])
        url = reg["files"][0]["upload_url"]
        log(f"PUT {entry['size'] / MIB:.0f} MiB to the signed upload URL ...")

        def put() -> httpx.Response:
            # A generator body: httpx streams it; Content-Length is the registered size.
            with httpx.Client(timeout=600) as blobs:
                r = blobs.put(url, content=stream(wheel),
                              headers={"Content-Type": "application/octet-stream",
                                       "Content-Length": str(entry["size"])})
            r.raise_for_status()
            return r

        result["upload"] = phase(hub.pid, put)
        result["upload"]["mib_per_s"] = round(entry["size"] / MIB / result["upload"]["seconds"],
                                              1)
        log(f"  {result['upload']}")
        log("finalize (streaming sha256, archive checks, blob store) ...")

        def finalize() -> httpx.Response:
            return api.post(f"/api/v1/uploads/{reg['id']}/finalize")

        result["finalize"] = phase(hub.pid, finalize)
        if result["finalize"]["status"] != 201:
            raise RuntimeError(f"finalize answered {result['finalize']['status']}")
        log(f"  {result['finalize']}")
        page = httpx.get(f"{hub.url}/index/{OWNER}/{PROJECT}/simple/{PROJECT}/", timeout=30)
        result["published"] = wheel.name in page.text
    shutil.rmtree(work / "hub", ignore_errors=True)  # the 200 MiB blob
    for name in ("upload", "finalize"):
        result[name]["meets_goal"] = result[name]["growth_mib"] < GOAL_GROWTH_MIB
    wheel.unlink()
    save_json("upload_rss.json", result)
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mib", type=int, default=200, help="size of the padding member")
    return p


def main() -> None:
    print(summary(run(parser().parse_args())))


if __name__ == "__main__":
    main()
