"""The whole publication flow in a real browser: request in the dashboard, approve in /admin/, use elsewhere."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from playwright.sync_api import expect

from connections.models import (
    Connection,
    ConnectionStatus,
    GlobalConnection,
    HealthCheck,
    PublicationRequest,
    Role,
)
from tests.e2e.conftest import PASSWORD, login, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def catalog(sandbox):
    call_command("sync_catalog", verbosity=0)
    sandbox.register_catalog_clients()
    return sandbox


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser(username="sysadmin", password=PASSWORD, email="sysadmin@ops.test")


def _new_page(browser_page):
    """Return a page in a fresh browser context (its own cookies), as a second person."""
    context = browser_page.context.browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    return context.new_page()


def _post_as(page, live_server, path, form):
    """POST a form from the signed-in page with its CSRF cookie; return the HTTP status."""
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        live_server.url + path,
        form={"csrfmiddlewaretoken": csrf, **form},
        headers={"X-CSRFToken": csrf, "Referer": live_server.url + "/connections/"},
        max_redirects=0,
    )
    return response.status


def test_request_approve_and_use_a_global_connection(
    browser_page, live_server, catalog, admin_member, make_member, other_tenant, staff
):
    page = browser_page

    # 1. A tenant admin of Acme links a sandbox OAuth2 account and requests publication.
    login(page, live_server, admin_member.user.username)
    page.goto(f"{live_server.url}/connections/new/sandbox-oauth2/")
    page.locator('input[name="name"]').fill("Shared sandbox")
    page.get_by_role("button", name="Link an account").click()
    page.wait_for_url(re.compile(r"/sandbox/oauth2/authorize"))
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(re.compile(r"/connections/[0-9a-f-]{36}/$"))
    connection = Connection.objects.for_tenant(admin_member.tenant).get()
    assert connection.status == ConnectionStatus.ACTIVE

    panel = page.get_by_test_id("publication-panel")
    expect(panel).to_be_visible()
    panel.locator('textarea[name="reason"]').fill("The shared sandbox account every team tests against.")
    panel.get_by_role("button", name="Request publication").click()
    expect(page.locator(".messages")).to_contain_text("Publication requested")
    expect(page.get_by_test_id("publication-pending")).to_be_visible()
    expect(page.get_by_test_id("publication-status")).to_contain_text("Pending")
    screenshot(page, "publication-panel-pending")
    publication_request = PublicationRequest.objects.get(connection=connection)
    assert publication_request.status == "pending"

    # A tenant admin is not staff: /admin/ sends them to the admin login.
    page.goto(f"{live_server.url}/admin/connections/publicationrequest/")
    page.wait_for_url(re.compile(r"/admin/login/"))

    # 2. A system administrator approves it in the Django admin.
    admin_page = _new_page(page)
    admin_page.goto(f"{live_server.url}/admin/login/?next=/admin/connections/publicationrequest/")
    admin_page.fill("input[name=username]", staff.username)
    admin_page.fill("input[name=password]", PASSWORD)
    admin_page.locator("input[type=submit]").click()
    admin_page.wait_for_url(re.compile(r"/admin/connections/publicationrequest/$"))
    expect(admin_page.locator("#result_list")).to_contain_text("Shared sandbox")
    screenshot(admin_page, "admin-publication-changelist")
    admin_page.locator("#result_list a", has_text="Shared sandbox").first.click()
    admin_page.wait_for_url(re.compile(rf"/publicationrequest/{publication_request.pk}/change/$"))
    review = admin_page.locator("#publication-review")
    expect(review).to_contain_text("Sandbox OAuth2")
    expect(review).to_contain_text(connection.account_label)
    expect(review.get_by_test_id("connection-status")).to_have_text("Active")
    screenshot(admin_page, "admin-publication-change")
    review.locator('textarea[name="note"]').fill("Approved for every team.")
    review.get_by_role("button", name="Approve").click()
    expect(admin_page.locator(".messagelist")).to_contain_text("approved and published to every tenant")
    expect(admin_page.get_by_test_id("request-status")).to_have_text("Approved")
    global_connection = GlobalConnection.objects.get()
    assert global_connection.credentials_id == connection.credentials_id
    assert global_connection.source_tenant == admin_member.tenant

    admin_page.goto(f"{live_server.url}/admin/connections/globalconnection/{global_connection.pk}/change/")
    expect(admin_page.get_by_role("button", name="Check now")).to_be_visible()
    expect(admin_page.get_by_role("link", name="Unpublish")).to_be_visible()
    expect(admin_page.get_by_role("link", name="Revoke at the provider")).to_be_visible()
    screenshot(admin_page, "admin-global-change")
    admin_page.context.close()

    # The requester sees the outcome on the connection page.
    page.goto(live_server.url + connection.get_absolute_url())
    expect(page.get_by_test_id("published-notice")).to_be_visible()
    expect(page.get_by_test_id("publication-status")).to_contain_text("Published")
    screenshot(page, "publication-panel-published")

    # 3. An operator of another company sees the global connection, checks it, finds no edit button.
    globex = make_member(other_tenant, Role.OPERATOR, username="globex-operator")
    other = _new_page(page)
    login(other, live_server, globex.user.username)
    other.goto(f"{live_server.url}/connections/")
    other.locator(f'a[href="/connections/global/{global_connection.pk}/"]').first.click()
    other.wait_for_url(re.compile(rf"/connections/global/{global_connection.pk}/$"))
    expect(other.locator("h1")).to_contain_text("Shared sandbox")
    expect(other.get_by_test_id("global-readonly")).to_be_visible()
    for name in ("Rename", "Re-authorize", "Revoke", "Request publication"):
        assert other.get_by_role("button", name=name).count() == 0, name
        assert other.get_by_role("link", name=name).count() == 0, name
    other.get_by_role("button", name="Check", exact=True).click()
    expect(other.locator(".messages")).to_contain_text("Check passed")
    expect(other.get_by_test_id("global-health")).to_contain_text("OK")
    screenshot(other, "global-detail")
    assert HealthCheck.objects.filter(global_connection=global_connection, kind="check", ok=True).exists()

    # Their direct POSTs to edit it are refused.
    pk = global_connection.pk
    for path, form in (
        (f"/connections/{pk}/rename/", {"name": "Hijacked"}),
        (f"/connections/{pk}/revoke/", {"confirm": "on"}),
        (f"/connections/{pk}/reauthorize/", {}),
        (f"/connections/{pk}/publication/", {"reason": "mine"}),
    ):
        assert _post_as(other, live_server, path, form) in (403, 404), path
    assert _post_as(other, live_server, f"/admin/connections/globalconnection/{pk}/unpublish/", {"confirm": "yes"}) == 302
    other.context.close()

    global_connection.refresh_from_db()
    connection.refresh_from_db()
    assert global_connection.name == "Shared sandbox"
    assert global_connection.status == ConnectionStatus.ACTIVE and global_connection.unpublished_at is None
    assert connection.status == ConnectionStatus.ACTIVE


def test_reject_selected_with_a_note_then_the_requester_reads_it(
    browser_page, live_server, catalog, admin_member, staff
):
    from catalog.models import App
    from vault.services import secret_seal

    connection = Connection.all_objects.create(
        tenant=admin_member.tenant, app=App.objects.get(slug="sandbox-api-key"), name="Team key",
        credentials=secret_seal(payload={"api_key": catalog.api_key}, purpose="connection"),
        account_label=catalog.email, created_by=admin_member.user,
    )
    page = browser_page
    login(page, live_server, admin_member.user.username)
    page.goto(live_server.url + connection.get_absolute_url())
    page.locator('textarea[name="reason"]').fill("Everyone needs it.")
    page.get_by_role("button", name="Request publication").click()
    expect(page.get_by_test_id("publication-pending")).to_be_visible()

    admin_page = _new_page(page)
    admin_page.goto(f"{live_server.url}/admin/login/?next=/admin/connections/publicationrequest/")
    admin_page.fill("input[name=username]", staff.username)
    admin_page.fill("input[name=password]", PASSWORD)
    admin_page.locator("input[type=submit]").click()
    admin_page.wait_for_url(re.compile(r"/admin/connections/publicationrequest/$"))
    admin_page.locator("#result_list input.action-select").first.check()
    admin_page.select_option("select[name=action]", "reject_selected")
    admin_page.locator("button[name=index]").click()
    expect(admin_page.locator("textarea[name=note]")).to_be_visible()
    admin_page.locator("textarea[name=note]").fill("This key belongs to one team only.")
    screenshot(admin_page, "admin-reject-selected")
    admin_page.get_by_role("button", name="Reject selected requests").click()
    expect(admin_page.locator(".messagelist")).to_contain_text("request rejected")
    admin_page.context.close()
    assert PublicationRequest.objects.get(connection=connection).status == "rejected"
    assert not GlobalConnection.objects.exists()

    page.goto(live_server.url + connection.get_absolute_url())
    expect(page.get_by_test_id("rejection-note")).to_contain_text("This key belongs to one team only.")
    expect(page.get_by_role("button", name="Request publication")).to_be_visible()
    screenshot(page, "publication-panel-rejected")
