"""The web catalog in real headless Chromium against a live hub (PostgreSQL, real storage)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from hub.web.spa import DEFAULT_DIST
from tests.support.browser import screenshot_path
from tests.support.live import LiveHub
from tests.support.packages import build
from tests.support.publishing import publish

pytestmark = pytest.mark.slow
EVIL_README = (
    "# Evil env\n\nHello <script>window.__pwned = 1</script>\n\n"
    '<img src="x" onerror="window.__pwned = 2">\n\n| a | b |\n|---|---|\n| 1 | 2 |\n'
)


@pytest.fixture(scope="module")
def site(live_hub: LiveHub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if not (DEFAULT_DIST / "index.html").exists():
        pytest.fail("frontend/dist is missing: run `make frontend` (make test builds it)",
                    pytrace=False)
    tmp = tmp_path_factory.mktemp("site")
    live_hub.envhub("admin", "create-user", "carol", "--password-stdin",
                    input_text="carol-password\n")
    carol = live_hub.envhub("admin", "create-token", "carol").stdout.strip()
    dave = live_hub.admin_token("dave")
    headers = {"Authorization": f"Bearer {carol}"}
    with httpx.Client(base_url=live_hub.url, timeout=60) as client:
        for name, desc, tags in [
            ("arith-web", "Zanzibar arithmetic word problems for tiny models", ["math"]),
            ("wordle-web", "Wordle against a rubric", ["games"]),
        ]:
            r = publish(client, headers, "carol",  # type: ignore[arg-type]
                        build(tmp / name, name, description=desc, keywords=tags,
                              requires=["verifiers>=0.4"]))
            assert r.status_code == 201, r.text
        r = publish(client, headers, "carol", build(tmp / "evil", "evil-readme",  # type: ignore[arg-type]
                                                     readme=EVIL_README))
        assert r.status_code == 201, r.text
        r = publish(client, {"Authorization": f"Bearer {dave}"}, "dave",  # type: ignore[arg-type]
                    build(tmp / "secret", "secret-web"), visibility="private")
        assert r.status_code == 201, r.text
    return {"url": live_hub.url}


@pytest.fixture
def page(browser: Browser, site: dict[str, str]) -> Iterator[Page]:
    context = browser.new_context(base_url=site["url"], viewport={"width": 1280, "height": 900},
                                  permissions=["clipboard-read", "clipboard-write"])
    p = context.new_page()
    yield p
    context.close()


def _sign_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_test_id("login-username").fill("carol")
    page.get_by_test_id("login-password").fill("carol-password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("current-user")).to_contain_text("carol")


def test_search_open_copy_and_star(page: Page) -> None:
    _sign_in(page)
    page.goto("/")
    page.get_by_test_id("search-input").first.fill("zanzibar")
    page.get_by_test_id("search-input").first.press("Enter")
    expect(page).to_have_url(re.compile(r"/environments\?.*q=zanzibar"))
    rows = page.get_by_test_id("env-row")
    expect(rows).to_have_count(1)
    page.screenshot(path=screenshot_path("catalog-search"))
    rows.first.get_by_role("link").first.click()
    expect(page.get_by_test_id("env-title")).to_contain_text("arith-web")
    page.get_by_test_id("copy-install-pip").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "pip install" in copied and "/index/carol/arith-web/simple/" in copied
    star = page.get_by_test_id("star-button")
    star.click()
    expect(star).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("star-count")).to_contain_text("1")
    page.screenshot(path=screenshot_path("environment-page"), full_page=True)
    page.reload()
    expect(page.get_by_test_id("star-button")).to_have_attribute("aria-pressed", "true")


def test_readme_script_renders_inert(page: Page) -> None:
    page.goto("/carol/evil-readme")
    readme = page.get_by_test_id("readme")
    expect(readme).to_contain_text("Hello")
    expect(readme.locator("table")).to_have_count(1)
    assert readme.locator("script").count() == 0
    assert page.evaluate("window.__pwned") is None
    handlers = page.evaluate(
        "Array.from(document.querySelectorAll('[data-testid=readme] *'))"
        ".filter(e => Array.from(e.attributes).some(a => a.name.startsWith('on'))).length")
    assert handlers == 0


def test_outsider_sees_404_for_private(page: Page) -> None:
    page.goto("/dave/secret-web")
    expect(page.get_by_test_id("not-found")).to_be_visible()
    page.screenshot(path=screenshot_path("private-404"))
    page.goto("/environments?q=secret")
    expect(page.get_by_test_id("env-row")).to_have_count(0)


def test_phone_width_has_no_horizontal_scroll(browser: Browser, site: dict[str, str]) -> None:
    context = browser.new_context(base_url=site["url"], viewport={"width": 375, "height": 812})
    p = context.new_page()
    p.goto("/carol/arith-web")
    expect(p.get_by_test_id("env-title")).to_be_visible()
    assert p.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    p.screenshot(path=screenshot_path("environment-phone"), full_page=True)
    context.close()


