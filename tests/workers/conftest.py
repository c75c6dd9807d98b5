"""Fixtures shared by the worker tests."""

from __future__ import annotations

import shutil

import pytest

from workers.sandbox import BubblewrapBackend, probe_host


@pytest.fixture(scope="module")
def backend() -> BubblewrapBackend:
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap is not installed: run `apt-get install -y bubblewrap`")
    caps = probe_host()
    if not caps.can_sandbox:
        pytest.fail(f"bubblewrap cannot sandbox on this host: {caps.bwrap_error} "
                    "(apt-get install -y bubblewrap)")
    return BubblewrapBackend(caps)
