"""A job's model budget and the usage recorded against it.

Budget semantics: a request is admitted while fewer than `max_requests` were admitted and
fewer than `max_tokens` tokens were used; an admitted request's completion is capped at
the tokens remaining at admission. Requests already in flight may end past the budget.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    max_requests: int | None = None
    max_tokens: int | None = None  # prompt + completion, summed over the job


@dataclass(frozen=True)
class UsageRecord:
    request_index: int  # 0-based, over every chat-completion request the gateway saw
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    status: int  # HTTP status given to the sandbox; 499 = it went away mid-stream
    error: str | None = None
    estimated: bool = False  # the upstream reported no usage; counts are ~4 chars/token
    stream: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class BudgetExceeded(Exception):
    """The request would go past the job's budget; the message says which limit."""


class UsageLedger:
    """Counts requests and tokens against a `Budget` and keeps one `UsageRecord` per
    chat-completion request. Thread-safe: the gateway's event loop writes, callers read."""

    def __init__(
        self, budget: Budget, usage_sink: Callable[[UsageRecord], None] | None = None
    ) -> None:
        self.budget = budget
        self._sink = usage_sink
        self._lock = threading.Lock()
        self._seen = self._admitted = self._tokens = 0
        self._records: list[UsageRecord] = []

    @property
    def records(self) -> list[UsageRecord]:
        with self._lock:
            return list(self._records)

    @property
    def tokens_used(self) -> int:
        with self._lock:
            return self._tokens

    def next_index(self) -> int:
        """The `request_index` of a newly arrived request."""
        with self._lock:
            index, self._seen = self._seen, self._seen + 1
        return index

    def admit(self) -> int | None:
        """Count the request against the budget; return the completion-token cap."""
        with self._lock:
            if self.budget.max_requests is not None and self._admitted >= self.budget.max_requests:
                raise BudgetExceeded(f"request budget of {self.budget.max_requests} exhausted")
            if self.budget.max_tokens is not None and self._tokens >= self.budget.max_tokens:
                raise BudgetExceeded(
                    f"token budget of {self.budget.max_tokens} exhausted ({self._tokens} used)"
                )
            self._admitted += 1
            return None if self.budget.max_tokens is None else self.budget.max_tokens - self._tokens

    def note(
        self,
        index: int,
        started: float,
        status: int,
        error: str | None = None,
        tokens: tuple[int, int] = (0, 0),
        *,
        estimated: bool = False,
        stream: bool = False,
    ) -> None:
        """Record a finished (or refused) request that arrived at `started` (monotonic)."""
        latency = time.monotonic() - started
        self.record(UsageRecord(index, *tokens, latency, status, error, estimated, stream))

    def record(self, record: UsageRecord) -> None:
        with self._lock:
            self._records.append(record)
            self._tokens += record.total_tokens
        if self._sink is not None:
            try:
                self._sink(record)
            except Exception:  # a broken sink must not break the evaluation
                logger.exception("usage sink failed for request %d", record.request_index)


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def prompt_text(body: dict[str, Any]) -> str:
    return json.dumps(body.get("messages", []))


def usage_of(payload: dict[str, Any]) -> tuple[int, int] | None:
    """(prompt, completion) tokens from an OpenAI `usage` object, if it has them."""
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    try:
        return int(usage["prompt_tokens"]), int(usage["completion_tokens"])
    except (KeyError, TypeError, ValueError):
        return None
