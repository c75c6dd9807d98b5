"""Sandbox for untrusted environment code: the interface, the bubblewrap backend, the probe."""

from __future__ import annotations

from workers.sandbox.base import (
    SandboxBackend,
    SandboxCeilings,
    SandboxError,
    SandboxHandle,
    SandboxResult,
    SandboxSpec,
    SandboxSpecError,
    SandboxUnavailableError,
)
from workers.sandbox.bubblewrap import BubblewrapBackend, argv_for, env_for, sanitize_output
from workers.sandbox.probe import HostCapabilities, probe_host

__all__ = [
    "BubblewrapBackend",
    "HostCapabilities",
    "SandboxBackend",
    "SandboxCeilings",
    "SandboxError",
    "SandboxHandle",
    "SandboxResult",
    "SandboxSpec",
    "SandboxSpecError",
    "SandboxUnavailableError",
    "argv_for",
    "env_for",
    "probe_host",
    "sanitize_output",
]
