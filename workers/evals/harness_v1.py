"""In-sandbox harness for verifiers v1 (0.4.x) environments (a `vf.Taskset` package).

Run by the environment's own interpreter: `python harness_v1.py INPUT_DIR OUTPUT_DIR`.
It is `vf-eval --no-push --env.agent.runtime.type subprocess` through its own Python
API (`verifiers.v1.cli.eval.runner.run_eval`, step for step): the config is validated
by vf-eval's `EvalConfig`, the env comes up once (`env.serving()`), each planned slot
runs through `env.run_slot`. What differs: the plan skips (task key, rollout index)
pairs already done; every finished episode is written at once as the exact row vf-eval
appends to `traces.jsonl` (plus its key and index); a slot that raises is a failed
sample, not the end of the run; nothing is pushed anywhere.

The model: v1's eval client speaks HTTP to a TCP base URL, so a loopback forwarder
(inside the sandbox's own network namespace) relays to the gateway's Unix socket. Every
agent seat runs with the `subprocess` runtime, the only one that works without network.
The harness program that runtime prepares with `uv` resolves from the prepared wheelhouse
(UV_FIND_LINKS / UV_DEFAULT_INDEX set by the runner), so nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from harness_common import (  # type: ignore[import-not-found,unused-ignore]
    EventWriter,
    HarnessError,
    UnixForwarder,
    failure_row,
    pending_pairs,
    run_main,
)

OUTPUT_SUBDIR = "vf"
KEY_VAR = "ENVHUB_GATEWAY_KEY"  # a dummy: the gateway drops it and injects the real key


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _eval_config(config: dict[str, Any], port: int, output_dir: str) -> Any:
    from verifiers.v1.configs.agent import agent_config_fields
    from verifiers.v1.configs.cli.eval import EvalConfig
    from verifiers.v1.runtimes.subprocess import SubprocessConfig

    env_block = _merge(dict(config.get("env_args") or {}),
                       {"taskset": {"id": config["dist_name"]}})
    n = int(config["num_examples"])
    seed = config.get("seed")
    data = {
        "env": env_block,
        "model": config["model"],
        "client": {"type": "eval", "base_url": f"http://127.0.0.1:{port}/v1",
                   "api_key_var": KEY_VAR},
        "sampling": dict(config.get("sampling_args") or {}),
        "select": {"limit": n if n > 0 else None, "shuffle": seed is not None,
                   "seed": int(seed or 0)},
        "num_rollouts": int(config["rollouts_per_example"]),
        "max_concurrent": int(config["max_concurrency"]),
        "push": False,
        "rich": None,
        "output_dir": output_dir,
        "run": {"name": "envhub"},
    }
    try:
        eval_config = EvalConfig.model_validate(data)
    except Exception as exc:
        raise HarnessError("invalid_env_args", f"vf-eval config rejected: {exc}") from exc
    # The sandbox has no network and no container engine: every seat runs its program
    # as a local subprocess, whatever the environment's defaults say.
    for agent in agent_config_fields(eval_config.env).values():
        agent.runtime = SubprocessConfig()
    return eval_config


def _native(episode: Any) -> dict[str, Any]:
    """The exact bytes vf-eval's `write_episode` appends to traces.jsonl, parsed."""
    from pydantic import TypeAdapter

    row = json.loads(TypeAdapter(type(episode)).dump_json(episode, exclude_none=True))
    assert isinstance(row, dict)
    return row


def _failed_episode(task: Any, exc: BaseException) -> dict[str, Any]:
    data = task.data.model_dump(mode="json", exclude_none=True)
    return {"task": {"type": type(task).__name__, "data": data, "key": task.key,
                     "hash": task.hash},
            "ok": False, "errors": [failure_row(exc)], "traces": []}


async def _evaluate(config: Any, tasks: list[Any], owed: dict[str, list[int]],
                    env: Any, events: EventWriter) -> None:
    from verifiers.v1.clients import ModelContext
    from verifiers.v1.episode import EvalRunInfo

    ctx = ModelContext(client=config.client, model=config.model, sampling=config.sampling)
    semaphore = asyncio.Semaphore(config.max_concurrent) if config.max_concurrent else None
    run_info = EvalRunInfo(id=config.run.name, name=config.run.name)

    async def run(task: Any, slot: Any, index: int) -> None:
        try:
            episode = await env.run_slot(slot, ctx, semaphore)
            episode.record_run(run_info)
            row = _native(episode)
        except Exception as exc:  # a failed rollout is data
            row = _failed_episode(task, exc)
        events.sample(str(task.key), index, row)

    async with env.serving():
        jobs = []
        for task in tasks:
            indices = owed.get(str(task.key), [])
            if indices:
                slots = env.slots(task, len(indices))
                jobs += [run(task, slot, i) for slot, i in zip(slots, indices, strict=True)]
        await asyncio.gather(*jobs)


def body(config: dict[str, Any], done: set[tuple[str, int]], events: EventWriter) -> None:
    port = UnixForwarder(os.environ["ENVHUB_GATEWAY_SOCKET"]).start()
    os.environ.setdefault(KEY_VAR, "sandbox")
    os.environ["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    os.environ["OPENAI_API_KEY"] = "sandbox"
    import verifiers
    from verifiers.v1.utils.loaders import load_environment

    try:  # vf-eval's own console logging ("rollout start/done") into the job log
        from verifiers.v1.utils.logging import setup_logging

        setup_logging("INFO")
    except (ImportError, TypeError):
        pass

    output_dir = os.path.join(os.environ.get("ENVHUB_OUTPUT_DIR", "/out"), OUTPUT_SUBDIR)
    eval_config = _eval_config(config, port, output_dir)
    try:
        env = load_environment(eval_config.env)
        taskset = env.taskset.select(eval_config.select)
        if not taskset.bounded:
            raise ValueError(f"{type(taskset).__name__} is infinite: give num_examples")
        tasks = list(taskset)
    except Exception as exc:
        raise HarnessError("env_load_failed", f"loading the taskset failed: "
                           f"{type(exc).__name__}: {exc}") from exc
    rollouts = int(config["rollouts_per_example"])
    keys = [str(task.key) for task in tasks]
    owed = dict(pending_pairs(keys, rollouts, done))
    events.write({"type": "start", "total": len(keys) * rollouts,
                  "pending": sum(len(v) for v in owed.values()),
                  "verifiers": getattr(verifiers, "__version__", "unknown")})
    if not tasks:
        raise HarnessError("no_examples", "the taskset selected no tasks")
    asyncio.run(_evaluate(eval_config, tasks, owed, env, events))


if __name__ == "__main__":
    run_main(body)
