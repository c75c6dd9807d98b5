"""Formatting helpers the report modules share (docs/benchmarks.md is markdown)."""

from __future__ import annotations

from .core import ROOT


def rel(text: str) -> str:
    """Paths in a command line, relative to the repository."""
    return text.replace(str(ROOT) + "/", "")


def verdict(ok: bool) -> str:
    return "**meets**" if ok else "**misses**"


def fmt(value: object, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
