"""Shared plumbing for the benchmarks: live hubs, the pypiserver peer, wrk, /proc sampling.

Everything listens on 127.0.0.1 only. Scratch state (hub data, the peer's virtualenv,
raw results) lives under bench/results/, which git ignores. The benchmarks import from
this package only (`from benchlib import ...`); the submodules are its seams:

    core      paths, settings, log, free_port, save_json
    procfs    RSS, peak RSS, CPU time, process trees, load average
    host      the machine and package versions (the document's Machine and Versions)
    servers   `envhub serve`, pypiserver, scratch PostgreSQL databases, wrk/py-spy setup
    wrk       the load generator's command line and output
    markdown  small formatting helpers the report modules share
"""

from .core import (
    BENCH,
    PEER_GUNICORN_ARGS,
    PEER_PACKAGES,
    PEER_VENV,
    PG_ADMIN_DSN,
    RESULTS,
    ROOT,
    VENV_BIN,
    cmd_out,
    free_port,
    log,
    save_json,
)
from .host import (
    HUB_PACKAGES,
    head_commit,
    hub_versions,
    machine,
    peer_versions,
    pip_versions,
    wrk_version,
)
from .procfs import cpu_seconds, hwm_bytes, loadavg, process_tree, reset_hwm, rss_bytes
from .servers import (
    LiveHub,
    ensure_peer_venv,
    ensure_wrk,
    live_hub,
    live_pypiserver,
    pg_available,
    scratch_pg,
    serve_quiet_flags,
    stop,
    wait_http,
)
from .wrk import parse_wrk, run_wrk, wrk_command

__all__ = [
    "BENCH", "HUB_PACKAGES", "PEER_GUNICORN_ARGS", "PEER_PACKAGES", "PEER_VENV", "PG_ADMIN_DSN",
    "RESULTS", "ROOT", "VENV_BIN", "LiveHub", "cmd_out", "cpu_seconds", "ensure_peer_venv",
    "ensure_wrk", "free_port", "head_commit", "hub_versions", "hwm_bytes", "live_hub",
    "live_pypiserver", "loadavg", "log", "machine", "parse_wrk", "peer_versions", "pg_available",
    "pip_versions", "process_tree", "reset_hwm", "rss_bytes", "run_wrk", "save_json",
    "scratch_pg", "serve_quiet_flags", "stop", "wait_http", "wrk_command", "wrk_version",
]
