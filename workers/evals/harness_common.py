"""Shared plumbing of the in-sandbox harnesses (`harness_v0.py`, `harness_v1.py`).

These files run INSIDE the sandbox with the environment's own interpreter, so they use
only the standard library here (the harnesses themselves import verifiers/openai/httpx
from the environment's venv) and never import `workers` or `hub`. The runner copies them
into a fresh read-only directory per run.

The harness speaks to the runner through one append-only JSONL file in the output dir,
flushed line by line so the runner can follow it while the run goes on:

    {"type": "start", "total": N, "pending": M, "verifiers": "0.1.14"}
    {"type": "sample", "example_id": "3", "rollout_index": 0, "native": {...}}
    {"type": "fatal", "code": "env_load_failed", "message": "..."}
    {"type": "end"}

`native` is the row `vf-eval` itself would have written (a v0 `results.jsonl` row or a
v1 `traces.jsonl` episode); the runner normalizes it on the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

EVENTS_FILE = "events.jsonl"
FORWARD_HOST = "127.0.0.1"


class HarnessError(Exception):
    """A failure of the whole run with a stable code (the runner maps it to a job error)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def load_inputs(input_dir: Path) -> tuple[dict[str, Any], set[tuple[str, int]]]:
    """The run's config and the (example_id, rollout_index) pairs already done."""
    config = json.loads((input_dir / "config.json").read_text(encoding="utf-8"))
    done: set[tuple[str, int]] = set()
    done_path = input_dir / "done.jsonl"
    if done_path.exists():
        for line in done_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                example_id, rollout_index = json.loads(line)
                done.add((str(example_id), int(rollout_index)))
    return config, done


class EventWriter:
    """Appends one JSON object per line and flushes it at once (the runner tails it)."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, default=str, ensure_ascii=False)
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def sample(self, example_id: str, rollout_index: int, native: Any) -> None:
        self.write({"type": "sample", "example_id": example_id,
                    "rollout_index": rollout_index, "native": native})

    def close(self) -> None:
        with self._lock:
            self._fh.close()


class UnixForwarder:
    """A TCP listener on 127.0.0.1 that splices each connection to the gateway's Unix
    socket, for code that insists on a TCP base URL (verifiers 0.4's eval client, or an
    environment's own judge client reading OPENAI_BASE_URL). Bytes are relayed as they
    come, so streaming and keep-alive work unchanged. The sandbox has its own network
    namespace: this port is visible to nothing outside it."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="gateway-forwarder", daemon=True)

    def start(self) -> int:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None or not self.port:
            raise HarnessError("gateway_unreachable", f"forwarder failed: {self._error!r}")
        return self.port

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, FORWARD_HOST, 0))
            self.port = int(server.sockets[0].getsockname()[1])
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(OSError, RuntimeError):
                    if dst.can_write_eof():
                        dst.write_eof()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()


def pending_pairs(example_ids: list[str], rollouts: int,
                  done: set[tuple[str, int]]) -> list[tuple[str, list[int]]]:
    """Per example (in order), the rollout indices still owed."""
    plan = []
    for example_id in example_ids:
        owed = [i for i in range(rollouts) if (example_id, i) not in done]
        plan.append((example_id, owed))
    return plan


def failure_row(exc: BaseException) -> dict[str, str]:
    """How a harness records an exception that ended a rollout (a failed rollout is data)."""
    return {"type": type(exc).__name__, "message": str(exc)[:2000] or repr(exc)[:2000]}


def run_main(body: Callable[[dict[str, Any], set[tuple[str, int]], EventWriter], None]) -> None:
    """argv: INPUT_DIR OUTPUT_DIR. Exit 0 after `end`; 2 after a `fatal` event."""
    input_dir, output_dir = Path(sys.argv[1]), Path(sys.argv[2])
    # Our own directory first on sys.path would shadow modules the environment imports.
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if p != here]
    events = EventWriter(output_dir / EVENTS_FILE)
    try:
        config, done = load_inputs(input_dir)
        body(config, done, events)
        events.write({"type": "end"})
    except HarnessError as exc:
        events.write({"type": "fatal", "code": exc.code, "message": exc.message})
        print(f"envhub harness: {exc.code}: {exc.message}", file=sys.stderr)
        sys.exit(2)
    except BaseException as exc:  # anything else ends the run with its traceback logged
        traceback.print_exc()
        events.write({"type": "fatal", "code": "harness_error",
                      "message": f"{type(exc).__name__}: {exc}"[:2000]})
        sys.exit(2)
    finally:
        events.close()
        sys.stdout.flush()
        sys.stderr.flush()
    # Environments may leave non-daemon threads behind; the run is over.
    os._exit(0)
