"""The catalog in a real browser: sign in, search, filter by category, open an app."""

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from catalog.models import App
from catalog.services import oauth_client_set
from connections.models import Connection

from .conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def catalog(transactional_db):
    call_command("sync_catalog", verbosity=0, stdout=open("/dev/null", "w"))
    oauth_client_set(app=App.objects.get(slug="slack"), client_id="cid", client_secret="s")
    return App.objects.filter(enabled=True)


def test_search_filter_and_open_an_app(browser_page, live_server, catalog, admin_member, other_tenant):
    page = browser_page
    stripe = App.objects.get(slug="stripe")
    Connection.all_objects.create(tenant=admin_member.tenant, app=stripe, name="Billing")
    Connection.all_objects.create(tenant=other_tenant, app=stripe, name="Not ours")
    login(page, live_server, admin_member.user.username)

    page.goto(f"{live_server.url}/catalog/")
    cards = page.locator(".catalog-card")
    assert cards.count() == catalog.count()
    assert page.locator('[data-app="stripe"] [data-testid=connection-count]').inner_text().strip() == "1 connection"
    assert "Not configured" in page.locator('[data-app="hubspot"]').inner_text()
    assert "Not configured" not in page.locator('[data-app="slack"]').inner_text()
    screenshot(page, "catalog-list")
    page.screenshot(path=str(screenshot(page, "catalog-list")).replace(".png", "-top.png"))

    # Search filters as you type: no page load, the URL follows, the sections stay in order.
    page.evaluate("window.__same_page = true")
    page.locator("input[name=q]").press_sequentially("git", delay=30)
    # Every app whose name or slug holds "git" (the catalog grows: DigitalOcean matches too).
    matching = sorted(a.name for a in catalog if "git" in a.name.lower() or "git" in a.slug)
    expect(page.locator("[data-testid=catalog-count]")).to_have_text(f"{len(matching)} apps matching “git”")
    names = sorted(cards.locator(".catalog-card-title strong").all_inner_texts())
    assert {"GitHub", "GitLab"} <= set(names) and names == matching
    assert "Stripe" not in names
    assert page.evaluate("window.__same_page") is True
    assert page.url.endswith("/catalog/?q=git")

    # Arrow keys: from the search box into the results, and between them, in the page's order.
    order = cards.evaluate_all("els => els.map(e => e.dataset.app)")
    page.press("input[name=q]", "ArrowDown")
    assert page.evaluate("document.activeElement.dataset.app") == order[0]
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.app") == order[1]
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.name") == "q"

    # A chip filters the same way, keeping the search; its state is the form's.
    page.fill("input[name=q]", "")
    expect(page.locator("[data-testid=catalog-count]")).to_have_text(f"{catalog.count()} apps")
    page.click('.catalog-chips a[data-category="payments"]')
    expect(page.locator('.catalog-chips a[data-category="payments"]')).to_have_class(re.compile("active"))
    assert "category=payments" in page.url and page.evaluate("window.__same_page") is True
    assert page.locator("input[name=category]").input_value() == "payments"
    slugs = cards.evaluate_all("els => els.map(e => e.dataset.app)")
    assert "stripe" in slugs and all(App.objects.get(slug=s).category == "payments" for s in slugs)
    screenshot(page, "catalog-payments")

    with page.expect_navigation():
        page.click('[data-app="stripe"]')
    assert page.url.endswith("/catalog/stripe/")
    assert page.locator("h1").inner_text().strip().endswith("Stripe")
    assert page.locator("[data-testid=setup-steps] li").count() >= 2
    link = page.locator("a[data-testid=link-account]")
    assert link.get_attribute("href") == "/connections/new/stripe/"
    screenshot(page, "catalog-app-stripe")

    page.goto(f"{live_server.url}/catalog/hubspot/")
    assert page.locator("button[data-testid=link-account]").is_disabled()
    assert "/connections/callback/hubspot/" in page.locator("[data-testid=redirect-uri]").inner_text()
    screenshot(page, "catalog-app-hubspot")


def test_picker_puts_popular_then_ready_first_and_works_without_javascript(
    _browser, live_server, catalog, operator_member
):
    page = _browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    login(page, live_server, operator_member.user.username)
    page.goto(f"{live_server.url}/connections/new/")
    sections = page.locator("[data-section]").evaluate_all("els => els.map(e => e.dataset.section)")
    assert sections == ["popular", "ready", "setup"]
    popular = page.locator("[data-section=popular] .catalog-card").evaluate_all("els => els.map(e => e.dataset.app)")
    assert popular[:2] == ["gmail", "slack"]
    ready = page.locator("[data-section=ready] .catalog-card")
    assert ready.locator(".badge-warning").count() == 0
    assert page.locator("[data-section=setup] .catalog-card .badge-warning").count() == page.locator("[data-section=setup] .catalog-card").count()
    expect(page.get_by_role("button", name="Filter")).to_be_hidden()  # results follow the typing
    # Typing: no "Popular" while filtering, ready apps still first.
    page.locator("input[name=q]").press_sequentially("sandbox", delay=30)
    expect(page.locator("[data-section=popular]")).to_have_count(0)
    expect(page.locator("[data-section=ready] .catalog-card").first).to_have_attribute("href", re.compile(r"/connections/new/sandbox-"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.context.close()

    plain = _browser.new_context(java_script_enabled=False).new_page()
    login(plain, live_server, operator_member.user.username)
    plain.goto(f"{live_server.url}/connections/new/?category=payments")
    plain.fill("input[name=q]", "str")
    with plain.expect_navigation():
        plain.get_by_role("button", name="Filter").click()
    assert "q=str" in plain.url and "category=payments" in plain.url
    shown = plain.locator(".catalog-card").evaluate_all("els => els.map(e => e.dataset.app)")
    # Every payments app whose name or slug holds "str" (Stripe, Stripe Connect…), ready first.
    matching = {a.slug for a in App.objects.filter(category="payments", enabled=True)
                if "str" in a.name.lower() or "str" in a.slug}  # fmt: skip
    assert "stripe" in matching and sorted(shown) == sorted(matching) and shown[0] == "stripe"
    plain.context.close()
