"""The hub-owned model gateway that sandboxed evaluations talk to over a Unix socket.

`proxy` is the HTTP side (`ModelGateway`), `accounting` the budget and usage records,
`server` the uvicorn-in-a-thread socket server (`BackgroundServer`).
"""

from __future__ import annotations

from workers.gateway.accounting import Budget, UsageRecord
from workers.gateway.proxy import ModelGateway
from workers.gateway.server import BackgroundServer

__all__ = ["BackgroundServer", "Budget", "ModelGateway", "UsageRecord"]
