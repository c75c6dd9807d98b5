"""Account self-service in real headless Chromium against a live hub: e-mail and password
with inline validation errors, organizations (list with my role, create, show on my
profile), and a user's public profile listing public memberships only."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from hub.web.spa import DEFAULT_DIST
from tests.support.browser import screenshot_path
from tests.support.live import LiveHub
from tests.web.a11y import horizontal_overflow, low_contrast

pytestmark = pytest.mark.slow
PASSWORDS = {"frank": "frank-password-1", "hana": "hana-password-1"}


@pytest.fixture(scope="module")
def site(live_hub: LiveHub) -> dict[str, str]:
    if not (DEFAULT_DIST / "index.html").exists():
        pytest.fail("frontend/dist is missing: run `make frontend` (make test builds it)",
                    pytrace=False)
    for user, password in PASSWORDS.items():
        live_hub.envhub("admin", "create-user", user, "--password-stdin",
                        input_text=password + "\n")
    return {"url": live_hub.url}


def _context_page(browser: Browser, site: dict[str, str], **options: object) -> Page:
    options = {"viewport": {"width": 1280, "height": 900}} | options
    return browser.new_context(base_url=site["url"], **options).new_page()  # type: ignore[arg-type]


@pytest.fixture
def page(browser: Browser, site: dict[str, str]) -> Iterator[Page]:
    p = _context_page(browser, site)
    yield p
    p.context.close()


def _sign_in(page: Page, user: str, password: str | None = None) -> None:
    page.goto("/login")
    page.get_by_test_id("login-username").fill(user)
    page.get_by_test_id("login-password").fill(password or PASSWORDS[user])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("current-user")).to_contain_text(user)


def _focused_id(page: Page) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


def test_edit_email_and_change_password(page: Page) -> None:
    _sign_in(page, "frank")
    page.get_by_test_id("settings-link").click()
    expect(page).to_have_url(re.compile(r"/settings/account$"))
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()

    email = page.get_by_test_id("profile-email")
    email.fill("not an address")
    page.get_by_test_id("profile-save").click()
    error = page.get_by_test_id("profile-email-error")
    expect(error).to_contain_text("is not an e-mail address")
    expect(email).to_have_attribute("aria-invalid", "true")
    assert "profile-email-error" in (email.get_attribute("aria-describedby") or "")
    assert _focused_id(page) == "profile-email"  # focus lands on the field to fix
    email.fill("frank@example.org")
    email.press("Enter")  # forms submit from the keyboard
    expect(page.get_by_test_id("profile-saved")).to_have_text("Saved.")
    expect(error).to_have_count(0)
    page.reload()
    expect(page.get_by_test_id("profile-email")).to_have_value("frank@example.org")

    current = page.get_by_test_id("password-current")
    new, confirm = page.get_by_test_id("password-new"), page.get_by_test_id("password-confirm")
    # Checked here: the confirmation and the length.
    current.fill(PASSWORDS["frank"])
    new.fill("short")
    confirm.fill("different")
    page.get_by_test_id("password-submit").click()
    expect(page.get_by_test_id("password-new-error")).to_contain_text("at least 8 characters")
    expect(page.get_by_test_id("password-confirm-error")).to_contain_text("do not match")
    assert _focused_id(page) == "password-new"
    # Checked by the hub: the current password.
    current.fill("not-my-password")
    new.fill("frank-new-password")
    confirm.fill("frank-new-password")
    page.get_by_test_id("password-submit").click()
    expect(page.get_by_test_id("password-current-error")).to_contain_text(
        "current password is wrong")
    expect(current).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("password-new-error")).to_have_count(0)
    assert _focused_id(page) == "password-current"
    assert not low_contrast(page), low_contrast(page)  # error text and hints included
    page.screenshot(path=screenshot_path("account-errors"), full_page=True)

    current.fill(PASSWORDS["frank"])
    page.get_by_test_id("password-submit").click()
    expect(page.get_by_test_id("password-changed")).to_contain_text("Password changed")
    expect(page.get_by_test_id("password-current")).to_have_value("")
    # Still signed in here; the old password no longer works, the new one does.
    page.reload()
    expect(page.get_by_test_id("current-user")).to_contain_text("frank")
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("sign-in-link")).to_be_visible()
    page.goto("/login")
    page.get_by_test_id("login-username").fill("frank")
    page.get_by_test_id("login-password").fill(PASSWORDS["frank"])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("Wrong username or password")
    _sign_in(page, "frank", "frank-new-password")


def test_organizations_create_list_and_public_profile(browser: Browser, page: Page,
                                                      site: dict[str, str]) -> None:
    _sign_in(page, "hana")
    page.goto("/settings/account")
    expect(page.get_by_text("You are not a member of any organization yet.")).to_be_visible()

    name = page.get_by_test_id("org-name")
    name.fill("Bad Name!")
    name.press("Enter")
    expect(page.get_by_test_id("org-name-error")).to_contain_text("not a valid")
    expect(name).to_have_attribute("aria-invalid", "true")
    assert _focused_id(page) == "org-name"
    name.fill("hana")  # users and organizations share one namespace
    page.get_by_test_id("org-create").click()
    expect(page.get_by_test_id("org-name-error")).to_contain_text("already taken")

    name.fill("hana-lab")
    page.get_by_test_id("org-display-name").fill("Hana's Lab")
    page.get_by_test_id("org-create").click()
    expect(page.get_by_test_id("org-created")).to_contain_text("hana-lab")
    expect(page.get_by_test_id("org-name-error")).to_have_count(0)
    name.fill("hana-private")
    page.get_by_test_id("org-create").click()
    expect(page.get_by_test_id("org-created")).to_contain_text("hana-private")

    expect(page.get_by_test_id("my-org-row")).to_have_count(2)
    lab = page.locator('[data-testid="my-org-row"][data-org="hana-lab"]')
    expect(lab.get_by_test_id("my-org-role")).to_have_text("owner")
    expect(lab.get_by_role("link", name="Hana's Lab")).to_have_attribute("href",
                                                                          "/orgs/hana-lab")
    page.reload()  # the list comes from the hub, not only from the page's memory
    expect(page.get_by_test_id("my-org-row")).to_have_count(2)
    page.screenshot(path=screenshot_path("account-organizations"), full_page=True)

    # Memberships are private by default: nobody sees them on hana's profile.
    outsider = _context_page(browser, site)
    try:
        outsider.goto("/hana")
        expect(outsider.get_by_test_id("owner-title")).to_have_text("hana")
        expect(outsider.get_by_test_id("env-list").or_(outsider.locator(".empty"))).to_be_visible()
        expect(outsider.get_by_test_id("owner-orgs")).to_have_count(0)
        assert httpx.get(f"{site['url']}/api/v1/users/hana/orgs").json() == []

        # hana shows one of the two.
        toggle = lab.get_by_test_id("org-public-toggle")
        toggle.focus()
        page.keyboard.press(" ")  # a checkbox, operable by keyboard
        expect(toggle).to_be_checked()

        outsider.reload()
        links = outsider.get_by_test_id("owner-org")
        expect(links).to_have_count(1)
        expect(links).to_contain_text("Hana's Lab")
        expect(outsider.get_by_text("hana-private")).to_have_count(0)
        links.click()
        expect(outsider).to_have_url(re.compile(r"/hana-lab$"))
        expect(outsider.get_by_test_id("owner-title")).to_have_text("Hana's Lab")
        outsider.goto("/orgs/hana-lab")
        expect(outsider.get_by_test_id("members-table")).to_have_count(0)  # members stay private
    finally:
        outsider.context.close()

    # hana's own profile: the shown organization and a way to edit the profile.
    page.goto("/hana")
    expect(page.get_by_test_id("owner-org")).to_have_count(1)
    page.get_by_test_id("edit-profile").click()
    expect(page).to_have_url(re.compile(r"/settings/account$"))
    page.locator('[data-testid="my-org-row"][data-org="hana-lab"]').get_by_role(
        "link", name="Hana's Lab").click()
    expect(page.get_by_test_id("member-row")).to_have_count(1)
    expect(page.get_by_test_id("member-row")).to_contain_text("owner")


def test_account_pages_at_phone_width(browser: Browser, site: dict[str, str]) -> None:
    p = _context_page(browser, site, viewport={"width": 390, "height": 844}, is_mobile=True,
                      has_touch=True)
    try:
        _sign_in(p, "hana")
        for name, path, ready in [("account-phone", "/settings/account", "profile-form"),
                                  ("tokens-phone", "/settings/tokens", "token-form"),
                                  ("profile-phone", "/hana", "owner-title")]:
            p.goto(path)
            expect(p.get_by_test_id(ready)).to_be_visible()
            p.wait_for_load_state("networkidle")
            overflow = horizontal_overflow(p)
            assert overflow is None, f"{path}: the page is {overflow[0]}px wide in {overflow[1]}px"
            p.screenshot(path=screenshot_path(name), full_page=True)
    finally:
        p.context.close()
