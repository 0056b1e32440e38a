"""The settings page's webhook in a real browser: secret once, Send test event, the log."""

import pytest
from standardwebhooks import Webhook

from connections.models import WebhookDelivery

from ..connections.webhook_support import Receiver
from .conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_save_a_webhook_see_its_secret_once_send_a_test_event(
    browser_page, live_server, admin_member, settings
):
    receiver = Receiver()
    settings.OUTBOUND_ALLOW = f"127.0.0.1:{receiver.port}"
    page = browser_page
    csp_errors = []
    page.on(
        "console",
        lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    try:
        login(page, live_server, admin_member.user.username)
        page.goto(f"{live_server.url}/tenants/settings/")
        assert page.get_by_text("No deliveries yet").is_visible()
        page.fill("input[name=webhook_url]", receiver.url)
        with page.expect_navigation():
            page.click("button[type=submit]:has-text('Save webhook')")
        secret = page.locator("[data-testid=webhook-secret]").inner_text().strip()
        assert secret.startswith("whsec_") and secret not in page.url
        page.reload()
        assert page.locator("[data-testid=webhook-secret]").count() == 0
        with page.expect_navigation():
            page.click("[data-testid=send-test-event]")
        assert page.get_by_text("Test event delivered").is_visible()
        log = page.locator("[data-testid=delivery-log]").inner_text()
        assert "webhook.test" in log and "200" in log and "hook-path-secret" not in log
        screenshot(page, "webhook-settings")
    finally:
        receiver.close()
    [(headers, body)] = receiver.received
    assert Webhook(secret).verify(body, headers)["type"] == "webhook.test"
    assert WebhookDelivery.objects.for_tenant(admin_member.tenant).count() == 1
    assert csp_errors == []
