"""The host's processes, read from /proc, for tests that look for what a sandbox left
running. Processes come and go while /proc is read: one that vanishes between listing and
reading is skipped (or reported as None), never an error. Iteration is in /proc's order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

PROC = Path("/proc")


def _listed() -> Iterator[int]:
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def pids() -> set[int]:
    """Every process /proc lists right now."""
    return set(_listed())


def count() -> int:
    """How many processes /proc lists right now."""
    return sum(1 for _ in _listed())


def cmdline(pid: int) -> bytes | None:
    """`pid`'s raw command line (NUL-separated arguments), None once it is gone."""
    try:
        return (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None


def cmdlines() -> Iterator[tuple[int, bytes]]:
    """(pid, raw command line) of every live process, skipping those that vanish."""
    for pid in _listed():
        line = cmdline(pid)
        if line is not None:
            yield pid, line


def parent_of(pid: int) -> int | None:
    """`pid`'s parent pid (0 for the roots), None once it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces and parentheses: skip past it.
    return int(stat.rsplit(")", 1)[1].split()[1])


def parents() -> dict[int, int]:
    """pid -> parent pid of every live process, skipping those that vanish."""
    found: dict[int, int] = {}
    for pid in _listed():
        parent = parent_of(pid)
        if parent is not None:
            found[pid] = parent
    return found


def descendants(root: int) -> set[int]:
    """Every live process below `root` in the process tree."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents().items():
        children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found
