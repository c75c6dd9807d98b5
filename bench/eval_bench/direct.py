"""The direct side: `vf-eval` in a plain virtualenv pinned to the hub's prepared venv."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import VENV_BIN, loadavg, log

from . import API_KEY_VAR, ENV_NAME, MODEL_ID, OWNER, PYPI, QUIET_ENV
from .hosted import sampling
from .serve import WorkerHub


@dataclass
class DirectVenv:
    root: Path
    python: str  # the interpreter the hub's venv builder used
    verifiers: str | None
    commands: list[str]
    setup_s: float
    display: list[str] = field(default_factory=list)


def hub_venv(hub: WorkerHub) -> tuple[Path, dict[str, Any]]:
    """The hub's prepared venv for the environment (the only cache entry)."""
    entries = sorted((hub.data_dir / "venvs" / "entries").glob("*/manifest.json"))
    if len(entries) != 1:
        raise RuntimeError(f"expected one prepared venv, found {len(entries)}")
    return entries[0].parent / "venv", json.loads(entries[0].read_text())


def direct_venv(hub: WorkerHub, work: Path) -> DirectVenv:
    """The environment installed from the hub's index into a plain virtualenv, with every
    package pinned to what the hub's venv resolved (so both sides run the same code) and
    bytecode compiled (as the hub's venv is)."""
    venv_dir, manifest = hub_venv(hub)
    uv = str(VENV_BIN / "uv")
    freeze = subprocess.run([uv, "pip", "freeze", "--python", str(venv_dir / "bin" / "python")],
                            capture_output=True, text=True, check=True).stdout
    pins = work / "direct-constraints.txt"
    pins.write_text(freeze)
    root = work / "direct-venv"
    index = f"{hub.url}/index/{OWNER}/{ENV_NAME}/simple/"
    steps = [
        [uv, "venv", "--no-config", "--quiet", "--python", manifest["python"], str(root)],
        [uv, "pip", "install", "--no-config", "--quiet", "--compile-bytecode", "--python",
         str(root / "bin" / "python"), "--index-url", PYPI, "--extra-index-url", index,
         "--constraint", str(pins), f"{ENV_NAME}==0.1.0"],
    ]
    started = time.monotonic()
    for argv in steps:
        subprocess.run(argv, check=True, capture_output=True, text=True, timeout=1800)
    setup_s = round(time.monotonic() - started, 1)
    venv = DirectVenv(root=root, python=manifest["python"],
                      verifiers=manifest.get("verifiers_version"),
                      commands=[" ".join(a) for a in steps], setup_s=setup_s)
    venv.display = display_flags(venv)
    return venv


def display_flags(venv: DirectVenv) -> list[str]:
    """Plain logging instead of the live Rich display, spelled as this vf-eval spells it
    (0.1.14: --disable-tui; 0.1.10: --debug): no terminal here, and the hosted harness
    draws no display either. The plain log also carries vf-eval's own timing line."""
    help_text = subprocess.run([str(venv.root / "bin" / "vf-eval"), "--help"],
                               capture_output=True, text=True, env=os.environ | QUIET_ENV).stdout
    for flag in ("--disable-tui", "--debug"):
        if flag in help_text:
            return [flag]
    return []


def vf_eval_argv(venv: DirectVenv, hub: WorkerHub, args: argparse.Namespace) -> list[str]:
    """Results go to ./outputs under the working directory (a fresh one per run)."""
    return [str(venv.root / "bin" / "vf-eval"), ENV_NAME, "-m", MODEL_ID, "-b", hub.model_url,
            "-k", API_KEY_VAR, "-n", str(args.examples), "-r", str(args.rollouts),
            "-c", str(args.concurrency), "-S", json.dumps(sampling(args)), "-s",
            *venv.display, *args.vf_eval_flags]


_EVAL_DONE = re.compile(r"Evaluation completed in ([\d.]+) seconds")


def direct_run(venv: DirectVenv, hub: WorkerHub, args: argparse.Namespace, work: Path,
               label: str) -> dict[str, Any]:
    """One `vf-eval` process, timed from spawn to exit."""
    out_dir = work / "direct-out" / label.replace(" ", "-")
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    argv = vf_eval_argv(venv, hub, args)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env |= QUIET_ENV | {API_KEY_VAR: "local"}
    load_before = loadavg()
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=out_dir, env=env, capture_output=True, text=True,
                          timeout=args.timeout)
    seconds = time.monotonic() - t0
    (out_dir / "vf-eval.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{label}: vf-eval exited {proc.returncode}:\n"
                           f"{(proc.stdout + proc.stderr)[-3000:]}")
    rows = read_results(out_dir)
    done = _EVAL_DONE.search(proc.stdout + proc.stderr)
    res = {"label": label, "seconds": round(seconds, 2),
           "vf_eval_reported_s": float(done.group(1)) if done else None,
           "tokens_out": sum(_tokens(r, "output_tokens") for r in rows),
           "tokens_in": sum(_tokens(r, "input_tokens") for r in rows),
           "n_samples": len(rows), "n_errors": sum(1 for r in rows if r.get("error")),
           "env_server": "EnvServer" in proc.stdout + proc.stderr,
           "loadavg_before": load_before, "loadavg_after": loadavg()}
    log(f"  {label}: {res['seconds']} s, {res['tokens_out']} completion tokens")
    return res


def read_results(out_dir: Path) -> list[dict[str, Any]]:
    files = sorted(out_dir.rglob("results.jsonl"))
    if not files:
        raise RuntimeError(f"vf-eval wrote no results.jsonl under {out_dir}")
    return [json.loads(line) for line in files[-1].read_text().splitlines() if line.strip()]


def _tokens(row: dict[str, Any], key: str) -> int:
    usage = row.get("token_usage") or {}
    return int(usage.get(key) or 0)
