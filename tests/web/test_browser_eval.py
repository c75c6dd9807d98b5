"""Hosted evaluation from the web, in real headless Chromium: sign in, open an environment,
fill the run-evaluation form (built-in local model), land on the evaluation page, watch it
finish live, read its log and samples, then find its row on the leaderboard and its
interval on the chart. Against the same worker-enabled live hub as the CLI end-to-end
tests (`live_hub_with_worker`: embedded worker + SmolLM2-135M on CPU)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from hub.web.spa import DEFAULT_DIST
from tests.support.browser import screenshot_path
from tests.support.live_worker import LOCAL_MODEL, HostedEnv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2700)]
RUN_TIMEOUT_MS = 20 * 60 * 1000  # CPU model on a shared 2-core box; usually well under 2 min


@pytest.fixture
def page(browser: Browser, hosted_env: HostedEnv) -> Iterator[Page]:
    if not (DEFAULT_DIST / "index.html").exists():
        pytest.fail("frontend/dist is missing: run `make frontend` (make test builds it)",
                    pytrace=False)
    context = browser.new_context(base_url=hosted_env.hub.url,
                                  viewport={"width": 1280, "height": 900})
    p = context.new_page()
    yield p
    context.close()


def _sign_in(page: Page, env: HostedEnv) -> None:
    page.goto("/login")
    page.get_by_test_id("login-username").fill(env.owner)
    page.get_by_test_id("login-password").fill(env.password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("current-user")).to_contain_text(env.owner)


def test_run_watch_and_find_on_the_leaderboard(page: Page, hosted_env: HostedEnv) -> None:
    _sign_in(page, hosted_env)
    page.goto(f"/{hosted_env.ref}?tab=evals")
    expect(page.get_by_test_id("env-title")).to_contain_text(hosted_env.name)
    form = page.get_by_test_id("run-eval-form")
    expect(form).to_be_visible()
    provider, model = LOCAL_MODEL.split("/")
    page.get_by_test_id("run-eval-provider").select_option(provider)
    page.get_by_test_id("run-eval-model").select_option(model)
    expect(page.get_by_test_id("run-eval-version")).to_have_value("0.1.0")
    page.get_by_test_id("run-eval-examples").fill("2")
    page.get_by_test_id("run-eval-rollouts").fill("1")
    page.get_by_test_id("run-eval-temperature").fill("0.7")
    page.get_by_test_id("run-eval-max-tokens").fill("48")
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if "/events" in r.url else None)
    page.get_by_test_id("run-eval-submit").click()

    expect(page).to_have_url(re.compile(r"/evals/[0-9a-f-]{36}$"))
    eval_id = page.url.rsplit("/", 1)[1]
    spec = page.get_by_test_id("eval-spec")
    expect(spec).to_contain_text(hosted_env.ref)
    expect(spec).to_contain_text(LOCAL_MODEL)
    expect(spec).to_contain_text("48")
    status = page.get_by_test_id("eval-status")
    expect(status).to_have_attribute("data-status", "succeeded", timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_test_id("eval-error")).to_have_count(0)
    # It was followed live (server-sent events), not found finished on a reload.
    assert any(f"/api/v1/evals/{eval_id}/events" in url for url in streams), streams
    expect(page.get_by_test_id("eval-log")).not_to_be_empty()
    expect(page.get_by_test_id("eval-metrics")).to_be_visible()
    # The gateway's record: one model request per rollout of this single-turn environment.
    usage = page.get_by_test_id("eval-usage")
    expect(usage).to_contain_text("Model requests2")
    expect(usage).to_contain_text("Latency p50 / p95")
    samples = page.get_by_test_id("sample-row")
    expect(samples).to_have_count(2)
    first = samples.first
    first.locator("summary").click()
    expect(first).to_contain_text("Prompt")
    expect(first).to_contain_text("What is")  # one of the environment's questions
    expect(first).to_contain_text("Completion")
    page.screenshot(path=screenshot_path("eval-page"), full_page=True)

    # The page agrees with the API.
    with httpx.Client(base_url=f"{hosted_env.hub.url}/api/v1", timeout=30,
                      headers={"Authorization": f"Bearer {hosted_env.token}"}) as api:
        ev = api.get(f"/evals/{eval_id}").json()
    assert ev["status"] == "succeeded" and ev["created_by"] == hosted_env.owner
    assert ev["spec"]["num_examples"] == 2 and ev["spec"]["rollouts_per_example"] == 1
    assert ev["spec"]["sampling_args"] == {"temperature": 0.7, "max_tokens": 48}
    assert ev["progress_done"] == ev["progress_total"] == 2

    # Back on the environment page: the newest verified run is the model's row.
    page.goto(f"/{hosted_env.ref}?tab=leaderboard")
    rows = page.get_by_test_id("leaderboard-row").filter(has_text=LOCAL_MODEL)
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text("verified")
    expect(row).to_contain_text("2 \u00d7 1")  # examples x rollouts
    expect(row.get_by_role("link", name=LOCAL_MODEL)).to_have_attribute(
        "href", f"/evals/{eval_id}")
    expect(page.get_by_test_id("ci-chart")).to_be_visible()
    expect(page.locator(f'[data-testid="ci-bar"][data-model="{LOCAL_MODEL}"]')).to_have_count(1)
    page.screenshot(path=screenshot_path("eval-leaderboard"), full_page=True)

    # And in the environment's recent evaluations, linking back to the run.
    page.goto(f"/{hosted_env.ref}?tab=evals")
    recent = page.get_by_test_id("eval-row").filter(has_text=eval_id[:8])
    expect(recent).to_have_count(1)
    recent.get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"/evals/{eval_id}$"))
    expect(page.get_by_test_id("eval-status")).to_have_attribute("data-status", "succeeded")


def test_outsider_cannot_open_a_private_environments_eval(browser: Browser,
                                                          hosted_env: HostedEnv) -> None:
    body = {"environment": f"{hosted_env.owner}/{hosted_env.private_name}",
            "model": LOCAL_MODEL, "num_examples": 1, "rollouts_per_example": 1}
    with httpx.Client(base_url=f"{hosted_env.hub.url}/api/v1", timeout=30,
                      headers={"Authorization": f"Bearer {hosted_env.token}"}) as api:
        created = api.post("/evals", json=body)
        assert created.status_code == 201, created.text
        eval_id = created.json()["id"]
        assert api.post(f"/evals/{eval_id}/cancel").status_code == 200
    context = browser.new_context(base_url=hosted_env.hub.url)
    try:
        p = context.new_page()
        p.goto(f"/evals/{eval_id}")
        expect(p.get_by_test_id("not-found")).to_be_visible()
        p.goto(f"/{hosted_env.owner}/{hosted_env.private_name}?tab=leaderboard")
        expect(p.get_by_test_id("not-found")).to_be_visible()
    finally:
        context.close()
