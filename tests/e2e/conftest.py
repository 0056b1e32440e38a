"""Browser fixtures shared by every end-to-end test: a headless Chromium page and a login helper.

Usage:

    @pytest.mark.browser
    def test_something(browser_page, live_server, operator_member):
        login(browser_page, live_server, operator_member.user.username, PASSWORD)
        browser_page.goto(live_server.url + "/connections/")
"""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a
# thread with a running loop unless told that it is safe (tests touch the database directly).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# The password tests/conftest.py gives every member made with make_member.
PASSWORD = "pw-for-tests-only"
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOTS", "var/screenshots"))


@pytest.fixture(scope="session")
def _playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def _browser(_playwright):
    browser = _playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def browser_page(_browser):
    """Return a fresh page in its own browser context (own cookies), closed after the test."""
    context = _browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def login(page, live_server, username, password=PASSWORD):
    """Sign in through Django's login form and wait for the page after it."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.locator("form button[type=submit], form input[type=submit]").first.click()
    assert "/accounts/login/" not in page.url, "login failed"


def screenshot(page, name):
    """Save a full-page screenshot under var/screenshots (or $E2E_SCREENSHOTS) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
