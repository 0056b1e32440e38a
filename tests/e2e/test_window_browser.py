"""Issue 13's small bugs, in a real browser: custom header rows, the redirect URI box, revoked pages."""

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def catalog(sandbox):
    call_command("sync_catalog", verbosity=0)
    sandbox.register_catalog_clients()
    return sandbox


def test_custom_header_rows_are_added_and_removed(browser_page, live_server, catalog, operator_member):
    page = browser_page
    login(page, live_server, operator_member.user.username)
    page.goto(f"{live_server.url}/connections/new/custom-rest-api/")
    rows = page.locator("fieldset:has([data-add-row=header]) .conn-row")
    start = rows.count()
    page.get_by_role("button", name="+ Add header").click()
    page.get_by_role("button", name="+ Add header").click()
    expect(rows).to_have_count(start + 2)
    rows.nth(1).locator("input[name=header_name]").fill("X-Second")
    rows.nth(1).get_by_role("button", name="Remove this header").click()
    expect(rows).to_have_count(start + 1)
    assert "X-Second" not in rows.locator("input[name=header_name]").evaluate_all("els => els.map(e => e.value)")
    # The last row is emptied, never removed, so the fieldset keeps its shape.
    while rows.count() > 1:
        rows.first.get_by_role("button", name="Remove this header").click()
    rows.first.locator("input[name=header_name]").fill("X-Only")
    rows.first.get_by_role("button", name="Remove this header").click()
    expect(rows).to_have_count(1)
    assert rows.first.locator("input[name=header_name]").input_value() == ""


def test_the_redirect_uri_stays_in_its_box_on_a_phone(_browser, live_server, catalog, admin_member, settings):
    settings.BASE_URL = live_server.url + "/a-long-base-path-that-would-overflow-a-narrow-box"
    page = _browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    login(page, live_server, admin_member.user.username)
    for path, box in (("/catalog/slack/", "[data-testid=redirect-uri]"), ("/connections/new/sandbox-oauth2/", ".conn-redirect")):
        page.goto(live_server.url + path)
        code = page.locator(box)
        expect(code).to_be_visible()
        assert code.evaluate("el => el.scrollWidth <= el.clientWidth"), path
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
    screenshot(page, "redirect-uri-phone")
    page.context.close()


@pytest.mark.parametrize(
    "viewport,scheme",
    [({"width": 1280, "height": 860}, "light"), ({"width": 390, "height": 844}, "dark")],
    ids=["desktop-light", "phone-dark"],
)
def test_a_telegram_token_that_would_change_the_path_is_a_field_error(
    _browser, live_server, catalog, operator_member, tenant, viewport, scheme
):
    from connections.models import Attempt, Connection

    context = _browser.new_context(viewport=viewport, color_scheme=scheme)
    context.set_default_timeout(15_000)
    page = context.new_page()
    login(page, live_server, operator_member.user.username)
    page.goto(f"{live_server.url}/connections/new/telegram/")
    token = page.get_by_label("Bot token")
    expect(token).to_be_visible()
    token.fill("987654321:ZZsecretpartOfTheTokenXYZ0123/../../x")
    with page.expect_navigation():
        page.locator("form button[type=submit]").last.click()
    field = page.locator("form").filter(has=page.get_by_label("Bot token"))
    expect(field).to_contain_text("Bot token")
    assert "ZZsecretpart" not in page.content()  # a secret field is never echoed back
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert not Connection.objects.for_tenant(tenant).exists() and not Attempt.all_objects.filter(tenant=tenant).exists()
    screenshot(page, f"telegram-window-{scheme}-{viewport['width']}")
    context.close()
