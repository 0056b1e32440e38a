"""/api/docs in a real browser with every non-local request blocked: the endpoints are listed."""

from urllib.parse import urlsplit

import pytest

from connections.models import Connection

from .conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OPERATIONS = [
    ("GET", "/api/connections"),
    ("POST", "/api/connections"),
    ("GET", "/api/connections/{pk}"),
    ("PATCH", "/api/connections/{pk}"),
    ("POST", "/api/connections/{pk}/revoke"),
    ("GET", "/api/connections/{pk}/test"),
    ("GET", "/api/connections/{pk}/check"),
    ("POST", "/api/connections/{pk}/check"),
    ("GET", "/api/connections/{pk}/credentials"),
]
# The credential proxy: one operation per method.
OPERATIONS += [
    (method, "/api/proxy/{pk}/{path}")
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
]


def test_docs_render_offline_and_try_it_out_uses_the_session(
    browser_page, live_server, admin_member
):
    from catalog.models import App

    app = App.objects.create(
        slug="docs-key", name="Docs Key", category="crm", auth_mode="api_key", spec={}
    )
    Connection.all_objects.create(tenant=admin_member.tenant, app=app, name="Listed in the docs")
    page = browser_page
    local = urlsplit(live_server.url).netloc
    blocked = []

    def only_local(route):
        if urlsplit(route.request.url).netloc == local:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_local)
    login(page, live_server, admin_member.user.username)
    page.goto(f"{live_server.url}/api/docs")
    page.wait_for_selector(".opblock")
    listed = {
        (
            block.locator(".opblock-summary-method").inner_text().strip(),
            block.locator(".opblock-summary-path").get_attribute("data-path"),
        )
        for block in page.locator(".opblock").all()
    }
    assert listed == set(OPERATIONS)
    assert "App Connections API" in page.locator(".info .title").inner_text()
    screenshot(page, "api-docs")

    # "Try it out" on the list: the browser's session answers, no token needed.
    block = page.locator("#operations-connections-connection_list")
    block.locator(".opblock-summary").click()
    block.locator("button.try-out__btn").click()
    block.locator("button.execute").click()
    body = block.locator(
        ".responses-wrapper .live-responses-table .response-col_description pre"
    ).first
    body.wait_for()
    assert "Listed in the docs" in body.inner_text()
    assert blocked == []
