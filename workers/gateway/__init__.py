"""The hub-owned model gateway that sandboxed evaluations talk to over a Unix socket."""

from __future__ import annotations

from workers.gateway.proxy import BackgroundServer, Budget, ModelGateway, UsageRecord

__all__ = ["BackgroundServer", "Budget", "ModelGateway", "UsageRecord"]
