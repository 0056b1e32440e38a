"""The layout in headless Chromium: sign in, styled navigation, switcher, phone menu, sign out, tokens."""

import pytest

from connections.models import Member, Role

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def new_page(browser, width=1280, height=860):
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(15_000)
    return context.new_page()


def test_sign_in_shows_a_styled_layout_with_the_tenant(_browser, live_server, admin_member):
    page = new_page(_browser)
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.title() == "Sign in · App Connections"
    assert page.eval_on_selector(".auth-card", "e => getComputedStyle(e).borderRadius") == "14px"
    login(page, live_server, admin_member.user.username)
    assert page.url.endswith("/connections/")
    assert page.inner_text("[data-testid=tenant-name]") == "Acme"
    assert page.eval_on_selector(".sidebar", "e => getComputedStyle(e).width") == "248px"
    nav = page.inner_text(".sidebar nav")
    for label in ("Connections", "Catalog", "Members", "API tokens", "Settings"):
        assert label in nav
    page.context.close()


def test_switcher_changes_the_tenant(_browser, live_server, tenant, other_tenant, make_member):
    member = make_member(tenant, Role.ADMIN, username="two-hats")
    Member.objects.create(user=member.user, tenant=other_tenant, role=Role.VIEWER)
    page = new_page(_browser)
    login(page, live_server, "two-hats")
    page.goto(f"{live_server.url}/tenants/members/")
    page.click(".switcher summary")
    with page.expect_navigation():
        page.click(".switcher button:has-text('Globex')")
    assert page.inner_text("[data-testid=tenant-name]") == "Globex"
    assert "Switched to Globex." in page.inner_text(".messages")
    assert page.locator(".sidebar nav a:has-text('Settings')").count() == 0  # a viewer in Globex
    page.context.close()


def test_phone_menu_and_sign_out(_browser, live_server, operator_member):
    page = new_page(_browser, width=390, height=800)
    login(page, live_server, operator_member.user.username)
    page.goto(f"{live_server.url}/tenants/members/")
    assert not page.is_visible(".sidebar nav a:has-text('Members')")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click(".topbar label[for=nav-toggle]")
    page.wait_for_timeout(300)
    assert page.is_visible(".sidebar nav a:has-text('Members')")
    page.click(".usermenu summary")
    with page.expect_navigation():
        page.click(".usermenu button:has-text('Sign out')")
    assert "/accounts/login/" in page.url
    page.goto(f"{live_server.url}/tenants/members/")
    assert "/accounts/login/" in page.url
    page.context.close()


def test_token_is_shown_once_in_the_browser(_browser, live_server, admin_member):
    page = new_page(_browser)
    login(page, live_server, admin_member.user.username)
    page.goto(f"{live_server.url}/tenants/tokens/")
    page.fill("input[name=name]", "Nightly sync")
    with page.expect_navigation():
        page.click("button:has-text('Create token')")
    raw = page.inner_text("[data-testid=new-token]")
    assert raw.startswith("act_")
    page.goto(f"{live_server.url}/tenants/tokens/")
    assert raw not in page.content()
    assert "Nightly sync" in page.inner_text("table")
    assert page.locator("[data-testid=new-token]").count() == 0
    page.context.close()
