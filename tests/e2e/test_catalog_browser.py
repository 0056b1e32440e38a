"""The catalog in a real browser: sign in, search, filter by category, open an app."""

import pytest
from django.core.management import call_command

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

    page.fill("input[name=q]", "git")
    with page.expect_navigation():
        page.press("input[name=q]", "Enter")
    names = sorted(cards.locator(".catalog-card-title strong").all_inner_texts())
    # Every app whose name or slug holds "git" (the catalog grows: DigitalOcean matches too).
    matching = sorted(a.name for a in catalog if "git" in a.name.lower() or "git" in a.slug)
    assert {"GitHub", "GitLab"} <= set(names) and names == matching
    assert "Stripe" not in names

    page.goto(f"{live_server.url}/catalog/")
    with page.expect_navigation():
        page.click('.catalog-chips a[data-category="payments"]')
    assert "category=payments" in page.url
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
