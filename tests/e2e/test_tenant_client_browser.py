"""The company OAuth client form in a real browser: from the app's page to a saved client whose
secret is never put back in the page, then the connection window offers "Link an account"."""

import pytest

from catalog.models import App
from catalog.schema import PROVIDERS_DIR
from catalog.services import catalog_sync
from connections.models import TenantOAuthClient

from .conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "browser-own-secret-77"


def test_admin_sets_up_the_company_client_from_the_app_page(
    browser_page, live_server, admin_member, settings
):
    settings.BASE_URL = live_server.url
    catalog_sync(paths=[PROVIDERS_DIR / "sandbox.yaml"])
    App.objects.filter(slug="sandbox-oauth2").update(tenant_clients_allowed=True)
    page = browser_page
    csp_errors = []
    page.on(
        "console",
        lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    login(page, live_server, admin_member.user.username)

    page.goto(f"{live_server.url}/catalog/sandbox-oauth2/")
    with page.expect_navigation():
        page.click("[data-testid=tenant-client-link]")
    redirect_uri = page.locator("[data-testid=tenant-client-redirect-uri]").inner_text().strip()
    assert redirect_uri == f"{live_server.url}/connections/callback/sandbox-oauth2/"

    page.fill("input[name=client_id]", "acme-browser-client")
    page.fill("input[name=client_secret]", SECRET)
    with page.expect_navigation():
        page.click("[data-testid=tenant-client-form] button[type=submit]")
    assert page.get_by_text("OAuth client was saved").is_visible()
    assert page.locator("[data-testid=tenant-client-id]").inner_text() == "acme-browser-client"
    assert page.locator("input[name=client_secret]").input_value() == ""
    assert SECRET not in page.content()
    screenshot(page, "tenant-oauth-client")

    page.goto(f"{live_server.url}/connections/new/sandbox-oauth2/")
    assert page.get_by_role("button", name="Link an account").is_visible()
    assert page.locator("[data-testid=window-tenant-client]").is_visible()
    client = TenantOAuthClient.objects.for_tenant(admin_member.tenant).get()
    assert client.client_id == "acme-browser-client" and client.is_live
    assert csp_errors == []
