"""Accessibility of the web catalog in real headless Chromium against a live hub:
keyboard-only use of the main flow (with a visible focus indicator), WCAG 2.x contrast of
the text actually rendered, and phone-width layouts without horizontal scrolling."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from hub.web.spa import DEFAULT_DIST
from tests.support.browser import screenshot_path
from tests.support.live import LiveHub
from tests.support.packages import build
from tests.support.publishing import publish
from tests.web.a11y import (
    body_contrast,
    focus_ring_contrast,
    horizontal_overflow,
    low_contrast,
    scan_contrast,
)

pytestmark = pytest.mark.slow
OWNER = "kbd-user"
ENV = "quokka-web"
TERM = "quokka"  # appears in no other test's environments


@pytest.fixture(scope="module")
def site(live_hub: LiveHub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if not (DEFAULT_DIST / "index.html").exists():
        pytest.fail("frontend/dist is missing: run `make frontend` (make test builds it)",
                    pytrace=False)
    tmp = tmp_path_factory.mktemp("a11y")
    token = live_hub.admin_token(OWNER)
    headers = {"Authorization": f"Bearer {token}"}
    readme = (f"# {ENV}\n\nCount the quokkas in a picture description. See the"
              " [verifiers docs](https://example.org/verifiers).\n\n```python\nprint(1)\n```\n")
    with httpx.Client(base_url=live_hub.url, timeout=60) as client:
        for name, desc, tags in [
            (ENV, "Quokka counting puzzles with a partial-credit rubric", ["counting", "vision"]),
            ("quokka-tools", "Quokka habitat lookups through tool calls", ["tools"]),
        ]:
            built = build(tmp / name, name, description=desc, keywords=tags,
                          requires=["verifiers>=0.2"], readme=readme)
            r = publish(client, headers, OWNER, built)  # type: ignore[arg-type]
            assert r.status_code == 201, r.text
        # A finished evaluation without a worker: vf-eval output uploaded as results.
        rows = [{"example_id": i, "prompt": [{"role": "user", "content": f"How many quokkas? {i}"}],
                 "completion": [{"role": "assistant", "content": str(i)}], "answer": str(i),
                 "reward": float(i % 2), "metrics": {"correct": float(i % 2)}}
                for i in range(4)]
        r = client.post("/api/v1/evals/upload", headers=headers,
                        data={"environment": f"{OWNER}/{ENV}", "model": "openai/gpt-4o-mini"},
                        files={"results": ("results.jsonl",
                                           "".join(json.dumps(x) + "\n" for x in rows).encode())})
        assert r.status_code == 201, r.text
        eval_id = r.json()["id"]
    return {"url": live_hub.url, "eval": eval_id}


@pytest.fixture
def page(browser: Browser, site: dict[str, str]) -> Iterator[Page]:
    context = browser.new_context(base_url=site["url"], viewport={"width": 1280, "height": 900},
                                  permissions=["clipboard-read", "clipboard-write"])
    p = context.new_page()
    yield p
    context.close()


# --- keyboard --------------------------------------------------------------------------

FOCUS_STATE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  return {
    testid: el.getAttribute('data-testid'), tag: el.tagName, id: el.id,
    inRowTitle: !!el.closest('.env-row-title'), focusVisible: el.matches(':focus-visible'),
    outlineStyle: s.outlineStyle, outlineWidth: parseFloat(s.outlineWidth) || 0,
    outlineColor: s.outlineColor, boxShadow: s.boxShadow,
    text: (el.textContent || '').trim().slice(0, 60),
  };
}"""


def _tab_until(page: Page, wanted: Any, *, limit: int = 80, key: str = "Tab") -> dict[str, Any]:
    """Press Tab until the focused element satisfies `wanted`; return its focus state."""
    seen = []
    for _ in range(limit):
        page.keyboard.press(key)
        state = page.evaluate(FOCUS_STATE)
        if state and wanted(state):
            return dict(state)
        seen.append(state and (state["testid"] or state["tag"], state["text"][:20]))
    raise AssertionError(f"not reached with {limit}x {key}; focus went through {seen}")


def _assert_focus_ring(page: Page, state: dict[str, Any]) -> None:
    """A visible indicator: a real outline (>= 2px) or a box-shadow, contrasting >= 3:1
    with the page behind it (WCAG 2.2 non-text contrast, 1.4.11)."""
    assert state["focusVisible"], state
    has_outline = state["outlineStyle"] not in ("none", "hidden") and state["outlineWidth"] >= 2
    assert has_outline or state["boxShadow"] not in ("", "none"), state
    if has_outline:
        ratio = focus_ring_contrast(page)
        assert ratio >= 3, f"focus ring contrast {ratio:.2f} < 3 for {state}"


def test_skip_link_is_first_and_moves_focus_to_main(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_test_id("search-input")).to_be_visible()
    page.keyboard.press("Tab")
    state = page.evaluate(FOCUS_STATE)
    assert state and state["text"] == "Skip to content", state
    _assert_focus_ring(page, state)
    box = page.locator(".skip-link").bounding_box()
    assert box and box["y"] >= 0, "the skip link must be on screen while focused"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_main_flow_by_keyboard_only(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_test_id("search-input")).to_be_visible()
    state = _tab_until(page, lambda s: s["testid"] == "search-input", limit=10)
    _assert_focus_ring(page, state)
    page.keyboard.type(TERM)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/environments\?q={TERM}$"))
    expect(page.get_by_test_id("env-row")).to_have_count(2)

    state = _tab_until(page, lambda s: s["inRowTitle"], limit=30)
    _assert_focus_ring(page, state)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("env-title")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/{OWNER}/quokka-(web|tools)$"))

    # The install commands' copy buttons: reachable, visibly focused, Enter and Space work.
    state = _tab_until(page, lambda s: s["testid"] == "copy-install-pip")
    _assert_focus_ring(page, state)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("copy-install-pip")).to_have_attribute("data-state", "copied")
    assert "pip install" in page.evaluate("navigator.clipboard.readText()")
    state = _tab_until(page, lambda s: s["testid"] == "copy-install-uv", limit=5)
    page.keyboard.press(" ")
    expect(page.get_by_test_id("copy-install-uv")).to_have_attribute("data-state", "copied")
    assert page.evaluate("navigator.clipboard.readText()").startswith("uv ")


def test_environment_tabs_by_keyboard(page: Page) -> None:
    page.goto(f"/{OWNER}/{ENV}")
    expect(page.get_by_test_id("readme")).to_be_visible()
    state = _tab_until(page, lambda s: s["testid"] == "tab-readme", limit=30)
    _assert_focus_ring(page, state)
    page.keyboard.press("ArrowRight")  # roving focus: the arrow keys select the next tab
    assert page.evaluate("document.activeElement.dataset.testid") == "tab-files"
    expect(page).to_have_url(re.compile(r"tab=files"))
    expect(page.get_by_test_id("tree-file").first).to_be_visible()


# --- contrast --------------------------------------------------------------------------

PAGES = [
    ("home", "/", "search-input", {"p.lead", "a", "button.btn.btn-primary", "dd"}),
    ("catalog", f"/environments?q={TERM}", "env-row",
     {"p.env-row-desc", "a.tag", "label", "button.btn.btn-primary.filters-submit"}),
    ("environment", f"/{OWNER}/{ENV}", "readme",
     {"button.tab", "code.snippet-code", "span.snippet-label", "button.btn.btn-small.btn-copy"}),
    ("evaluation", "/evals/{eval}", "sample-row", {"span.badge.status.status-succeeded", "dd"}),
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_meets_wcag_aa(browser: Browser, site: dict[str, str],
                                     scheme: str) -> None:
    context = browser.new_context(base_url=site["url"], color_scheme=scheme,  # type: ignore[arg-type]
                                  viewport={"width": 1280, "height": 900})
    try:
        p = context.new_page()
        for name, path, ready, must_check in PAGES:
            p.goto(path.format(eval=site["eval"]))
            expect(p.get_by_test_id(ready).first).to_be_visible()
            p.wait_for_load_state("networkidle")
            kinds = {c["el"] for c in scan_contrast(p)}
            assert len(kinds) >= 10 and must_check <= kinds, (name, must_check - kinds)
            failing = low_contrast(p)
            assert not failing, f"{scheme} {name}: low contrast\n  " + "\n  ".join(failing)
            # The body text itself, explicitly: >= 4.5:1 against the page background.
            assert body_contrast(p) >= 4.5, (scheme, name, body_contrast(p))
        if scheme == "dark":
            p.goto("/")
            expect(p.get_by_test_id("search-input")).to_be_visible()
            p.screenshot(path=screenshot_path("home-dark"))
    finally:
        context.close()


# --- phone width -----------------------------------------------------------------------

def test_phone_width_without_horizontal_scroll(browser: Browser, site: dict[str, str]) -> None:
    context = browser.new_context(base_url=site["url"], viewport={"width": 390, "height": 844},
                                  is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        p = context.new_page()
        for name, path, ready in [
            ("home-phone", "/", "search-input"),
            ("catalog-phone", "/environments", "env-row"),
            ("catalog-search-phone", f"/environments?q={TERM}", "env-row"),
            ("eval-phone", f"/evals/{site['eval']}", "sample-row"),
            ("environment-phone-390", f"/{OWNER}/{ENV}", "readme"),
        ]:
            p.goto(path)
            expect(p.get_by_test_id(ready).first).to_be_visible()
            p.wait_for_load_state("networkidle")
            overflow = horizontal_overflow(p)
            assert overflow is None, f"{path}: the page is {overflow[0]}px wide in {overflow[1]}px"
            p.screenshot(path=screenshot_path(name), full_page=True)
    finally:
        context.close()


def test_home_page_screenshot(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_test_id("env-row").first).to_be_visible()
    expect(page.get_by_test_id("tag-chips")).to_be_visible()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=screenshot_path("home"), full_page=True)
