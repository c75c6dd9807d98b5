"""Serving an ASGI app with uvicorn from a background thread, on TCP or a Unix socket."""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn


class BackgroundServer:
    """uvicorn serving an ASGI app from a daemon thread, on a socket bound here so that
    bind errors surface in `start()` and port 0 yields a free port without a race."""

    def __init__(self, app: Any, sock: socket.socket, name: str = "asgi-server") -> None:
        self._sock = sock
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            ws="none",
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=name, daemon=True
        )

    @classmethod
    def tcp(cls, app: Any, host: str = "127.0.0.1", port: int = 0) -> BackgroundServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        return cls(app, sock, name=f"asgi-{host}:{sock.getsockname()[1]}")

    @classmethod
    def unix(cls, app: Any, path: Path) -> BackgroundServer:
        if path.exists() or path.is_symlink():
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise FileExistsError(f"{path} exists and is not a socket; refusing to replace")
            path.unlink()  # stale socket from a crashed run
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
        except OSError as exc:
            sock.close()
            raise OSError(
                f"cannot bind Unix socket {path} ({len(str(path))} chars): {exc}"
            ) from exc
        # The sandbox runs as another uid (65534); connecting needs write permission.
        os.chmod(path, 0o666)  # noqa: S103 - the socket only, by design
        return cls(app, sock, name=f"asgi-unix:{path.name}")

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def start(self, timeout: float = 15.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self._thread.name} did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()
