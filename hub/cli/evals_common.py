"""What the `envhub eval` commands share: the evaluations API client and the summary."""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape

from hub.cli.client import JSON, HubClient
from hub.cli.common import console, make_client


class EvalClient(HubClient):
    def __enter__(self) -> EvalClient:
        return self

    def create_eval(self, body: JSON) -> JSON:
        result: JSON = self._call("POST", "evals", json=body)
        return result

    def get_eval(self, eval_id: str) -> JSON:
        result: JSON = self._call("GET", f"evals/{eval_id}")
        return result

    def list_evals(self, params: dict[str, Any]) -> JSON:
        result: JSON = self._call("GET", "evals", params=params)
        return result

    def logs(self, eval_id: str, offset: int) -> JSON:
        result: JSON = self._call("GET", f"evals/{eval_id}/logs", params={"offset": offset})
        return result

    def cancel(self, eval_id: str) -> JSON:
        result: JSON = self._call("POST", f"evals/{eval_id}/cancel")
        return result

    def upload(self, data: dict[str, str], files: dict[str, tuple[str, bytes]]) -> JSON:
        result: JSON = self._call("POST", "evals/upload", data=data, files=files)
        return result

    def leaderboard(self, owner: str, name: str, params: dict[str, str]) -> JSON:
        path = f"{self._env_path(owner, name)}/leaderboard"
        result: JSON = self._call("GET", path, params=params)
        return result


def eval_client() -> EvalClient:
    _, config = make_client()
    return EvalClient(config.url, config.token)


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_summary(ev: JSON) -> None:
    agg = ev.get("aggregates") or {}
    badge = "verified" if ev.get("verified") else "self-reported"
    console.print(
        f"[bold]{escape(ev['environment'])}@{escape(ev['version'])}[/] x"
        f" {escape(ev['model'])}  [dim]{ev['id']}[/]  ({badge})"
    )
    console.print(
        f"  status: [bold]{ev['status']}[/]"
        + (
            f"  ({escape(str(ev.get('error_code')))}: {escape(str(ev.get('error_message')))})"
            if ev.get("error_code")
            else ""
        )
    )
    if agg.get("mean_reward") is not None:
        console.print(
            f"  mean reward {fmt(agg['mean_reward'])}  95% CI [{fmt(agg['ci_low'])},"
            f" {fmt(agg['ci_high'])}]  n={agg['n_examples']}x"
            f"{agg['rollouts_per_example']}  errors {agg['n_errors']}"
            f"  pass@k {fmt(agg.get('pass_at_k'))}"
        )


# Log text includes what untrusted environment code printed in the sandbox: terminal
# control sequences in it could rewrite the viewer's screen or clipboard (OSC 52).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable_log(text: str) -> str:
    """`text` with every control character but newline and tab shown as a visible escape."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
