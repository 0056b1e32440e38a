"""The operator's journeys in a real browser, against the sandbox provider over loopback."""

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from connections.models import Connection, ConnectionStatus, HealthCheck
from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def catalog(sandbox):
    call_command("sync_catalog", verbosity=0)
    sandbox.register_catalog_clients()
    return sandbox


def _connections(member):
    return Connection.objects.for_tenant(member.tenant)


def _open_window(page, live_server, app_name, slug):
    page.goto(f"{live_server.url}/connections/")
    page.get_by_role("link", name="+ New Connection").first.click()
    page.wait_for_url(re.compile(r"/connections/new/$"))
    page.locator(f'a[href$="/connections/new/{slug}/"]').first.click()
    page.wait_for_url(re.compile(rf"/connections/new/{slug}/"))
    expect(page.locator("h1")).to_contain_text(app_name)


def test_oauth2_journey_link_check_rename_revoke(browser_page, live_server, catalog, operator_member):
    page = browser_page
    login(page, live_server, operator_member.user.username)
    page.goto(f"{live_server.url}/connections/")
    expect(page.get_by_text("No connections yet")).to_be_visible()
    screenshot(page, "list-empty")

    _open_window(page, live_server, "Sandbox OAuth2", "sandbox-oauth2")
    expect(page.locator('input[name="name"]')).to_have_value("My first Sandbox OAuth2 account")
    expect(page.locator('input[name="scopes"][value="profile"]')).to_be_checked()
    expect(page.locator('input[name="scopes"][value="write"]')).not_to_be_checked()
    screenshot(page, "window-oauth2")

    page.get_by_role("button", name="Link an account").click()
    page.wait_for_url(re.compile(r"/sandbox/oauth2/authorize"))
    screenshot(page, "sandbox-consent")
    page.get_by_role("button", name="Allow").click()

    page.wait_for_url(re.compile(r"/connections/[0-9a-f-]{36}/$"))
    connection = _connections(operator_member).get()
    assert connection.status == ConnectionStatus.ACTIVE
    expect(page.locator(".conn-status")).to_contain_text("Active")
    expect(page.locator(".conn-subtitle")).to_contain_text(connection.account_label)

    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Check passed")
    assert HealthCheck.objects.filter(connection=connection, kind="check", ok=True).count() == 1
    screenshot(page, "detail-active")

    page.locator("#rename input[name=name]").fill("Sandbox main")
    page.locator("#rename").get_by_role("button", name="Rename").click()
    expect(page.locator("h1")).to_have_text("Sandbox main")
    connection.refresh_from_db()
    assert connection.name == "Sandbox main"

    page.get_by_role("link", name="Revoke").click()
    page.wait_for_url(re.compile(r"/revoke/$"))
    expect(page.get_by_text("What stops working")).to_be_visible()
    screenshot(page, "revoke")
    page.locator("form").get_by_role("button", name="Revoke").click()
    page.wait_for_url(re.compile(r"/connections/[0-9a-f-]{36}/$"))
    expect(page.locator(".conn-status")).to_contain_text("Revoked")
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.REVOKED and connection.credentials_id is None
    screenshot(page, "detail-revoked")

    page.goto(f"{live_server.url}/connections/?status=history")
    expect(page.locator("table")).to_contain_text("Sandbox main")
    screenshot(page, "list-history")


def test_api_key_journey_wrong_key_then_right_key(browser_page, live_server, catalog, operator_member):
    page = browser_page
    login(page, live_server, operator_member.user.username)
    _open_window(page, live_server, "Sandbox API key", "sandbox-api-key")
    key_input = page.locator('input[name="field_api_key"]')
    expect(key_input).to_have_attribute("type", "password")
    expect(key_input).to_have_attribute("autocomplete", "off")

    key_input.fill("sk-this-is-not-the-right-key")
    page.get_by_role("button", name="Link an account").click()
    expect(page.locator(".error-explain")).to_contain_text("Test failed")
    expect(page.locator('input[name="field_api_key"]')).to_have_value("")
    assert "sk-this-is-not-the-right-key" not in page.content()
    assert not _connections(operator_member).exists()
    screenshot(page, "window-api-key-error")

    page.locator('input[name="field_api_key"]').fill(catalog.api_key)
    page.get_by_role("button", name="Link an account").click()
    page.wait_for_url(re.compile(r"/connections/[0-9a-f-]{36}/$"))
    expect(page.locator(".conn-status")).to_contain_text("Active")
    connection = _connections(operator_member).get()
    assert connection.status == ConnectionStatus.ACTIVE and connection.app.slug == "sandbox-api-key"

    page.goto(f"{live_server.url}/connections/")
    expect(page.locator("table")).to_contain_text(connection.name)
    expect(page.locator("table")).to_contain_text("Active")
    screenshot(page, "list")
