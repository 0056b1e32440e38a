"""The API tokens page in a real browser: choose scopes, see the token once, reload, see it gone."""

import pytest

from connections.models import ApiToken

from .conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_a_scoped_token_shown_once(browser_page, live_server, admin_member):
    page = browser_page
    login(page, live_server, admin_member.user.username)
    page.goto(f"{live_server.url}/tenants/tokens/")
    assert page.locator("input[name=scopes][value=read]").is_checked()
    assert not page.locator("input[name=scopes][value=credentials]").is_checked()
    page.fill("input[name=name]", "Nightly report")
    page.check("input[name=scopes][value=credentials]")
    page.select_option("select[name=expires_in]", "90")
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('Create token')")
    raw = page.locator("[data-testid=new-token]").inner_text().strip()
    assert raw.startswith("act_") and raw not in page.url
    screenshot(page, "tokens-created")
    page.reload()
    assert page.locator("[data-testid=new-token]").count() == 0
    assert ApiToken.objects.for_tenant(admin_member.tenant).count() == 1
    scopes = page.locator("[data-testid=token-scopes]").first.inner_text()
    assert "read" in scopes and "credentials" in scopes
    screenshot(page, "tokens-list")
