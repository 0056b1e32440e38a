"""The connection window in a real browser: a hostile host or a private address is a field
error beside the field, the typed values stay, and nothing leaves for the address."""

import time

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from catalog.models import App
from catalog.services import oauth_client_set
from connections.models import Attempt
from connections.outbound import PRIVATE_ADDRESS_MESSAGE

from ..connections.outbound_support import Listener
from .conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def catalog(transactional_db, settings):
    settings.OUTBOUND_ALLOW = []
    call_command("sync_catalog", verbosity=0, stdout=open("/dev/null", "w"))
    oauth_client_set(app=App.objects.get(slug="zendesk"), client_id="cid", client_secret="s")


def test_the_window_shows_host_and_address_errors_beside_their_fields(
    browser_page, live_server, catalog, operator_member
):
    page = browser_page
    login(page, live_server, operator_member.user.username)
    with Listener() as listener:
        page.goto(f"{live_server.url}/connections/new/zendesk/")
        page.fill("input[name=field_subdomain]", f"127.0.0.1:{listener.port}/x?")
        page.locator("form button[type=submit]").last.click()

        field = page.locator("input[name=field_subdomain]")
        error = page.get_by_text("Type only the subdomain, e.g. acme for acme.zendesk.com.")
        expect(error).to_be_visible()
        assert page.url.endswith("/connections/new/zendesk/")
        assert field.input_value() == f"127.0.0.1:{listener.port}/x?"
        assert field.get_attribute("aria-invalid") == "true"
        screenshot(page, "window-unsafe-subdomain")

        page.goto(f"{live_server.url}/connections/new/custom-rest-api/")
        page.fill("input[name=field_base_url]", f"http://127.0.0.1:{listener.port}")
        page.fill("input[name=field_test_path]", "/admin/login/")
        page.locator("form button[type=submit]").last.click()
        expect(page.get_by_text(PRIVATE_ADDRESS_MESSAGE)).to_be_visible()
        screenshot(page, "window-private-base-url")
        time.sleep(0.1)

    assert listener.accepted == 0
    assert Attempt.all_objects.count() == 0
