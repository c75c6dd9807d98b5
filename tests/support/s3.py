"""Pytest plugin: a real S3 HTTP server (moto) on 127.0.0.1 for the whole session.

moto runs as a subprocess rather than in-process (ThreadedMotoServer) so its global,
in-memory backends can never be reset or intercepted by a `mock_aws` used elsewhere in
the test process; each test still gets a fresh bucket, so tests stay independent.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.kit.storage import S3Storage

_START_TIMEOUT = 30.0
_ATTEMPTS = 3  # a freshly picked free port can be taken before moto binds it


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(proc: subprocess.Popen[bytes], url: str) -> bool:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            # A bare GET is S3 ListBuckets: 200 proves the S3 API answers, not just a socket.
            if httpx.get(url + "/", timeout=2.0, trust_env=False).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Endpoint URL (http://127.0.0.1:PORT) of a moto S3 server; any credentials work."""
    log_path: Path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    for _ in range(_ATTEMPTS):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if _wait_until_serving(proc, url):
            break
        _stop(proc)
    else:
        pytest.fail(
            f"moto S3 server did not start after {_ATTEMPTS} attempts "
            f"(is moto[s3,server] installed?); log:\n{log_path.read_text(errors='replace')}",
            pytrace=False,
        )
    try:
        yield url
    finally:
        _stop(proc)


@pytest.fixture
def s3_storage(s3_server: str) -> S3Storage:
    """An S3Storage on a new, empty bucket (created now, so setup errors surface here)."""
    storage = S3Storage(
        f"test-{uuid.uuid4().hex[:20]}",
        endpoint_url=s3_server,
        region="us-east-1",
        access_key="testing",
        secret_key="testing",
    )
    storage.ensure_bucket()
    return storage
