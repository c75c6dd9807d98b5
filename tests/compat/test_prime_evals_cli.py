"""`prime eval push/list/get/samples`, `eval run --hosted`, `eval logs`, `eval stop` with the
unmodified prime CLI against a live hub (PostgreSQL + S3)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hub.evals.models import Evaluation
from tests.compat.conftest import World
from tests.support.packages import build, file_entry

pytestmark = pytest.mark.slow
NAME = "envhub-cmp-evals"


def _json(out: str) -> Any:
    return json.loads(out[out.index("{"):])


@pytest.fixture(scope="module")
def published(world: World) -> str:
    """A public and a private environment, published through the native API."""
    for name, visibility in ((NAME, "public"), (f"{NAME}-private", "private")):
        built = build(world.tmp, name, "0.1.0", requires=["verifiers>=0.1.9,<0.2"])
        r = world.api("POST", f"/api/v1/environments/alice/{name}/uploads", world.alice,
                      json={"version": "0.1.0", "content_hash": built.content_hash,
                            "visibility": visibility,
                            "files": [file_entry("wheel", built.wheel),
                                      file_entry("source", built.source)]})
        assert r.status_code == 201, r.text
        paths = {"wheel": built.wheel, "source": built.source}
        for f in r.json()["files"]:
            assert httpx.put(f["upload_url"], content=paths[f["kind"]].read_bytes()).is_success
        done = world.api("POST", f"/api/v1/uploads/{r.json()['id']}/finalize", world.alice)
        assert done.status_code == 201, done.text
    return NAME


def _vf_eval_output(root: Path, env: str) -> Path:
    """What verifiers 0.1 `vf-eval` writes: metadata.json + results.jsonl."""
    root.mkdir(parents=True)
    (root / "metadata.json").write_text(json.dumps({
        "env_id": env, "model": "openai/gpt-4.1-mini", "num_examples": 2,
        "rollouts_per_example": 2, "avg_reward": 0.75}))
    rows = [{"example_id": e, "prompt": [{"role": "user", "content": f"{e} + 1?"}],
             "completion": [{"role": "assistant", "content": str(e + 1)}],
             "answer": str(e + 1), "reward": r, "metrics": {"correct": r}}
            for e, r in ((0, 1.0), (0, 1.0), (1, 1.0), (1, 0.0))]
    (root / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_eval_push_list_get_samples(world: World, published: str) -> None:
    out_dir = _vf_eval_output(world.tmp / "vf-out", f"alice/{published}")
    pushed = world.prime("eval", "push", str(out_dir), "--output", "json",
                         token=world.alice).stdout
    eval_id = _json(pushed[pushed.rindex('{\n  "evaluation_id"'):])["evaluation_id"]
    with world.sessions() as db:
        ev = db.scalar(select(Evaluation))
        assert ev is not None and str(ev.id) == eval_id
        assert (ev.n_samples, ev.n_examples, ev.rollouts_per_example) == (4, 2, 2)
        assert ev.mean_reward == 0.75 and ev.source == "upload-v0" and not ev.verified

    listed = _json(world.prime("eval", "list", "--output", "json", token=world.bob).stdout)
    assert [e["evaluation_id"] for e in listed["evaluations"]] == [eval_id]
    assert listed["evaluations"][0]["environment_names"] == [f"alice/{published}"]
    got = _json(world.prime("eval", "get", eval_id, token=world.alice).stdout)
    assert got["status"] == "COMPLETED" and got["model_name"] == "openai/gpt-4.1-mini"
    samples = _json(world.prime("eval", "samples", eval_id, "-n", "3",
                                token=world.alice).stdout)
    assert samples["total"] == 4 and len(samples["samples"]) == 3


def test_eval_push_to_a_private_environment_stays_private(world: World, published: str
                                                          ) -> None:
    out_dir = _vf_eval_output(world.tmp / "vf-private", f"alice/{published}-private")
    pushed = world.prime("eval", "push", str(out_dir), token=world.alice).stdout
    eval_id = re.search(r"Evaluation ID:\s*([0-9a-f-]{36})", pushed)
    assert eval_id is not None, pushed
    assert "404" in world.prime("eval", "get", eval_id.group(1), token=world.bob,
                                ok=False).stdout
    bobs = _json(world.prime("eval", "list", "--output", "json", token=world.bob).stdout)
    assert eval_id.group(1) not in {e["evaluation_id"] for e in bobs["evaluations"]}
    # bob may not record results for alice's environment at all.
    denied = world.prime("eval", "push", str(out_dir), "--env", f"alice/{published}",
                         token=world.bob, ok=False)
    assert "403" in denied.stdout


def test_hosted_run_logs_and_stop(world: World, published: str) -> None:
    out = world.prime("eval", "run", f"alice/{published}", "--hosted", "-m",
                      "local/smollm2-135m-instruct", "-n", "2", "-r", "1",
                      token=world.alice).stdout
    assert "Hosted evaluation started" in out
    found = re.search(r"Evaluation ID:\s*([0-9a-f-]{36})", out)
    assert found is not None, out
    eval_id = found.group(1)
    logs = world.prime("eval", "logs", eval_id, token=world.alice).stdout
    assert "Status: PENDING" in logs  # no worker runs in this test hub: it stays queued
    stopped = world.prime("eval", "stop", eval_id, token=world.alice).stdout
    assert "Evaluation cancelled." in stopped
    got = _json(world.prime("eval", "get", eval_id, token=world.alice).stdout)
    assert got["status"] == "CANCELLED" and got["is_hosted"] is True
