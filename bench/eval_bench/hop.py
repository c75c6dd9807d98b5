"""The model gateway hop, alone: the same call straight to the model and through it."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from . import MODEL_ID
from .serve import WorkerHub


def gateway_hop(hub: WorkerHub, requests: int) -> dict[str, Any]:
    """What the model gateway adds per call: the same request straight to the model server
    and through a `ModelGateway` on a Unix socket (as the worker starts one per job),
    alternated, medians. Two requests: `GET /v1/models` (no model work, so the hop is
    not lost in noise) and a chat completion with max_tokens 1 (the real path, streaming
    off)."""
    from workers.gateway import ModelGateway

    chat = {"model": MODEL_ID, "max_tokens": 1, "temperature": 0,
            "messages": [{"role": "user", "content": "Say hi."}]}
    calls = {"models": ("GET", "/models", None, requests * 6),
             "chat": ("POST", "/chat/completions", chat, requests)}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="envhub-gw-") as tmp:
        sock = Path(tmp) / "model.sock"
        with ModelGateway(sock, hub.model_url, None, MODEL_ID), \
                httpx.Client(base_url=hub.model_url, timeout=120) as direct, \
                httpx.Client(base_url="http://gateway/v1", timeout=120,
                             transport=httpx.HTTPTransport(uds=str(sock))) as via:
            for name, (method, path, body, n) in calls.items():
                out[name] = _hop(direct, via, method, path, body, n)
    return out


def _hop(direct: httpx.Client, via: httpx.Client, method: str, path: str,
         body: dict[str, Any] | None, n: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {"direct": [], "gateway": []}
    for _ in range(n + 1):  # the first pair only warms both paths up
        for name, client in (("direct", direct), ("gateway", via)):
            t0 = time.monotonic()
            client.request(method, path, json=body).raise_for_status()
            times[name].append(time.monotonic() - t0)
    direct_ms = statistics.median(times["direct"][1:]) * 1000
    gateway_ms = statistics.median(times["gateway"][1:]) * 1000
    return {"requests": n, "direct_ms": round(direct_ms, 1), "gateway_ms": round(gateway_ms, 1),
            "hop_ms": round(gateway_ms - direct_ms, 1),
            "direct_range_ms": [round(min(times["direct"][1:]) * 1000, 1),
                                round(max(times["direct"][1:]) * 1000, 1)]}
