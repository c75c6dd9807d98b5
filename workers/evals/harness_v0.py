"""In-sandbox harness for verifiers v0 (0.1.x) environments.

Run by the environment's own interpreter: `python harness_v0.py INPUT_DIR OUTPUT_DIR`.
What `vf-eval` does, minus the parts the hub owns: `load_environment(env_id,
**env_args)`, take the first N eval examples (or N after a seeded shuffle), repeat each
R times, generate + score one example's rollouts as a group (so group-relative rubrics
see the whole group, as in `vf-eval`), and write each finished rollout at once, skipping
(example_id, rollout_index) pairs already done.

The model: an `AsyncOpenAI` whose HTTP transport is the gateway's Unix socket
(`ENVHUB_GATEWAY_SOCKET`); no TCP at all. Environment code that builds its own OpenAI
client (a judge) finds OPENAI_BASE_URL pointing at a loopback forwarder to the same
socket. Works across 0.1.x: 0.1.9 takes the raw `AsyncOpenAI` and returns columns,
0.1.10+ wraps it in `verifiers.clients.OpenAIChatCompletionsClient` and returns rows.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import os
from collections.abc import Mapping
from typing import Any

from harness_common import (  # type: ignore[import-not-found,unused-ignore]
    EventWriter,
    HarnessError,
    UnixForwarder,
    failure_row,
    pending_pairs,
    run_main,
)

GATEWAY_URL = "http://gateway/v1"  # the host name is ignored: the transport is the socket


def _model_client(socket_path: str) -> Any:
    import httpx
    from openai import AsyncOpenAI  # type: ignore[import-not-found,unused-ignore]

    http = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=socket_path),
                             timeout=httpx.Timeout(600.0, connect=10.0))
    raw = AsyncOpenAI(base_url=GATEWAY_URL, api_key="sandbox", http_client=http)
    try:  # 0.1.10+: rollouts take a verifiers Client wrapping the SDK client
        from verifiers.clients import OpenAIChatCompletionsClient
    except ImportError:
        return raw
    return OpenAIChatCompletionsClient(raw)


def _examples(env: Any, num_examples: int, seed: int | None) -> list[dict[str, Any]]:
    dataset = env.get_eval_dataset(n=num_examples, seed=seed)
    if dataset is None:
        raise HarnessError("no_examples", "the environment has no eval or train dataset")
    return [dict(row) for row in dataset.to_list()]


def _supported(func: Any, **kwargs: Any) -> dict[str, Any]:
    """Only the keyword arguments this verifiers version's function accepts."""
    params = inspect.signature(func).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


def _usage_of_state(state: dict[str, Any]) -> dict[str, float] | None:
    """0.1.9 rows carry no token counts; sum them from the trajectory's raw responses."""
    seen = False
    tokens_in = tokens_out = 0
    for step in state.get("trajectory") or []:
        response = step.get("response") if isinstance(step, dict) else None
        usage = getattr(response, "usage", None)
        if usage is not None:
            seen = True
            tokens_in += getattr(usage, "prompt_tokens", 0) or 0
            tokens_out += getattr(usage, "completion_tokens", 0) or 0
    return {"input_tokens": tokens_in, "output_tokens": tokens_out} if seen else None


def _serializable(value: Any) -> Any:
    """json.dumps `default=` as vf-eval's own writer does (pydantic messages -> dicts)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(exclude_none=True)
    if isinstance(value, BaseException):
        return repr(value)
    return dict(value) if isinstance(value, Mapping) else str(value)


def _plain(row: Any) -> dict[str, Any]:
    try:  # 0.1.10+: the exact function vf-eval writes results.jsonl with
        from verifiers.utils.save_utils import make_serializable as default
    except ImportError:
        default = _serializable
    plain = json.loads(json.dumps(dict(row), default=default))
    assert isinstance(plain, dict)
    return plain


def _native_rows(results: Any) -> list[dict[str, Any]]:
    """GenerateOutputs -> the rows vf-eval writes to results.jsonl, in input order."""
    if isinstance(results, dict) and "outputs" in results:  # 0.1.10+: rows already
        return [_plain(o) for o in results["outputs"]]
    from verifiers.utils.eval_utils import make_dataset  # 0.1.9: columns -> rows

    rows = [_plain(r) for r in make_dataset(results).to_list()]
    for row, state in zip(rows, results.get("state") or [], strict=False):
        usage = _usage_of_state(state) if isinstance(state, dict) else None
        if usage is not None and "token_usage" not in row:
            row["token_usage"] = usage
    return rows


async def _evaluate(env: Any, client: Any, config: dict[str, Any],
                    plan: list[tuple[dict[str, Any], list[int]]], events: EventWriter) -> None:
    rollouts = int(config["rollouts_per_example"])
    limit = int(config["max_concurrency"])
    # One group = one example's owed rollouts; bound the rollouts in flight, not groups.
    groups = asyncio.Semaphore(max(1, limit // max(1, rollouts)))
    sampling = dict(config.get("sampling_args") or {})

    async def run_group(example: dict[str, Any], owed: list[int]) -> None:
        example_id = str(example["example_id"])
        inputs = [copy.deepcopy(example) for _ in owed]
        async with groups:
            try:
                kwargs = _supported(env.generate, model=config["model"],
                                    sampling_args=sampling, max_concurrent=min(limit, len(owed)),
                                    use_tqdm=False, independent_scoring=False)
                results = await env.generate(inputs, client=client, **kwargs)
                rows = _native_rows(results)
                if len(rows) != len(owed):
                    raise RuntimeError(f"{len(rows)} results for {len(owed)} rollouts")
            except Exception as exc:  # the group failed: its rollouts are failed samples
                for index in owed:
                    events.sample(example_id, index, {
                        "example_id": example["example_id"], "prompt": example.get("prompt"),
                        "answer": example.get("answer"), "reward": None,
                        "error": {"error": failure_row(exc)["type"],
                                  "error_chain_repr": repr(exc)[:2000]}})
                return
        for index, row in zip(owed, rows, strict=True):
            events.sample(example_id, index, row)

    await asyncio.gather(*(run_group(example, owed) for example, owed in plan if owed))


def body(config: dict[str, Any], done: set[tuple[str, int]], events: EventWriter) -> None:
    socket_path = os.environ["ENVHUB_GATEWAY_SOCKET"]
    port = UnixForwarder(socket_path).start()
    # For environment code that makes its own OpenAI client (an LLM judge): the gateway
    # pins the job's model and holds the real key.
    os.environ["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    os.environ["OPENAI_API_KEY"] = "sandbox"
    import verifiers
    from verifiers.utils.env_utils import load_environment

    try:
        env = load_environment(config["dist_name"], **dict(config.get("env_args") or {}))
        examples = _examples(env, int(config["num_examples"]), config.get("seed"))
    except HarnessError:
        raise
    except Exception as exc:
        raise HarnessError("env_load_failed", f"load_environment failed: "
                           f"{type(exc).__name__}: {exc}") from exc
    rollouts = int(config["rollouts_per_example"])
    by_id = {str(e["example_id"]): e for e in examples}
    owed = pending_pairs(list(by_id), rollouts, done)
    pending = sum(len(o) for _, o in owed)
    events.write({"type": "start", "total": len(by_id) * rollouts, "pending": pending,
                  "verifiers": getattr(verifiers, "__version__", "unknown")})
    if not by_id:
        raise HarnessError("no_examples", "the environment's dataset is empty")
    plan = [(by_id[example_id], indices) for example_id, indices in owed]
    asyncio.run(_evaluate(env, _model_client(socket_path), config, plan, events))


if __name__ == "__main__":
    run_main(body)
