"""The dashboard as people see it: every main page in light, dark and on a phone.

One tour per test through the main pages, on the session's shared browser: axe-core finds no
serious or critical violation (light and dark), a 390 px phone never scrolls sideways, the
Content-Security-Policy blocks nothing, and a full-page screenshot of each page lands in
var/screenshots/ for a reviewer. Then the behaviours of the front end: the theme switch,
busy buttons and the live connection page.
"""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from catalog.models import App
from connections.models import (
    CREDENTIALS_PURPOSE,
    Attempt,
    Connection,
    ConnectionStatus,
    GlobalConnection,
    HealthCheck,
    Role,
    UiPreference,
)
from connections.services.members import invitation_create
from connections.services.setup_requests import setup_request_send
from connections.services.tokens import api_token_create
from tests.e2e.conftest import PASSWORD, login, screenshot
from vault.services import secret_seal

pytestmark = pytest.mark.browser

AXE = Axe()
BLOCKING = ("serious", "critical")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


@pytest.fixture
def catalog(sandbox):
    call_command("sync_catalog", verbosity=0)
    sandbox.register_catalog_clients()
    return sandbox


@pytest.fixture
def world(catalog, admin_member, live_server, make_member):
    """Return the URLs of every main page, with a real sandbox connection and a global one."""
    tenant = admin_member.tenant
    sandbox_app = App.objects.get(slug="sandbox-api-key")
    connection = Connection.all_objects.create(
        tenant=tenant,
        app=sandbox_app,
        name="Billing account with a name long enough to wrap on phones",
        status=ConnectionStatus.ACTIVE,
        account_label="finance.team.with.a.long.address@example-company.test",
        created_by=admin_member.user,
        authorized_at=timezone.now(),
        last_checked_at=timezone.now(),
        credentials=secret_seal(payload={"api_key": catalog.api_key}, purpose=CREDENTIALS_PURPOSE),
    )
    HealthCheck.objects.create(connection=connection, kind="check", ok=True, duration_ms=41)
    stripe = App.objects.get(slug="stripe")
    Connection.all_objects.create(
        tenant=tenant,
        app=stripe,
        name="Payouts",
        status=ConnectionStatus.EXPIRED,
        last_error_code="connection_expired",
        created_by=admin_member.user,
    )
    revoked = Connection.all_objects.create(
        tenant=tenant,
        app=stripe,
        name="Old payouts",
        status=ConnectionStatus.REVOKED,
        revoked_at=timezone.now(),
        created_by=admin_member.user,
    )
    global_connection = GlobalConnection.objects.create(
        app=App.objects.get(slug="github"),
        name="Open-source org",
        status=ConnectionStatus.ACTIVE,
        account_label="octo-org",
        source_tenant=tenant,
        last_checked_at=timezone.now(),
    )
    token, _plaintext = api_token_create(tenant=tenant, name="Nightly billing sync flow", actor=admin_member.user)
    teammate = make_member(tenant, Role.OPERATOR, username="teammate.with.a.long.username")
    setup_request_send(member=teammate, app=App.objects.get(slug="hubspot"))  # on the dashboard
    _invitation, invitation_token = invitation_create(
        tenant=tenant, email="someone.invited.with.a.long.address@example-company.test",
        role=Role.VIEWER, actor=admin_member.user,
    )
    failed = Attempt.all_objects.create(
        tenant=tenant,
        app=App.objects.get(slug="sandbox-oauth2"),
        name="Support inbox",
        created_by=admin_member.user,
        status=Attempt.Status.FAILED,
        error_code="authorization_rejected",
        error_message="The account owner pressed Deny.",
        expires_at=timezone.now(),
    )
    return {
        "connection": connection,
        "global": global_connection,
        "pages": {
            "connections": "/connections/",
            "connection": connection.get_absolute_url(),
            "connection-revoked": revoked.get_absolute_url(),
            "connection-remove": f"/connections/{revoked.pk}/remove/",
            "window": "/connections/new/sandbox-api-key/",
            "window-custom": "/connections/new/custom-rest-api/",
            "window-unconfigured": "/connections/new/slack/",
            "catalog": "/catalog/",
            "picker": "/connections/new/",
            "app": "/catalog/stripe/",
            "app-unconfigured": "/catalog/slack/",
            "members": "/tenants/members/",
            "member-remove": f"/tenants/members/{teammate.pk}/remove/",
            "invitation": f"/tenants/invitations/accept/{invitation_token}/",
            "invitation-invalid": "/tenants/invitations/accept/no-such-link/",
            "tokens": "/tenants/tokens/",
            "token-revoke": f"/tenants/tokens/{token.pk}/revoke/",
            "settings": "/tenants/settings/",
            "global-connection": global_connection.get_absolute_url(),
        },
        # Looked at (screenshots, no sideways scroll), not audited: error and provider pages.
        "extra": {
            "attempt": failed.get_absolute_url(),
            "callback-error": "/connections/callback/sandbox-oauth2/?error=access_denied&state=unknown",
        },
    }


def _context(browser, *, viewport=DESKTOP, scheme="light"):
    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.csp_errors = []
    page.on(
        "console",
        lambda m: page.csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return page


def _blocking_violations(page):
    results = AXE.run(page)
    return [
        f"{v['id']} ({v['impact']}): {[node['target'] for node in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]


def _record_busy_state(page, button, note=""):
    """Keep in sessionStorage how the button looks once busy: the page is gone when we look."""
    page.evaluate(
        """([button, note]) => new MutationObserver(() => {
            const b = document.querySelector(button);
            if (b.getAttribute("aria-busy") !== "true") return;
            const n = note ? document.querySelector(note) : null;
            sessionStorage.setItem("busy", JSON.stringify(
                {disabled: b.disabled, text: b.textContent.trim(), note: n && !n.hidden ? n.textContent : ""}));
        }).observe(document.body, {attributes: true, subtree: true, childList: true, characterData: true})""",
        [button, note],
    )


def _busy_state(page):
    return page.evaluate("JSON.parse(sessionStorage.getItem('busy'))")


def _no_sideways_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_main_page_passes_axe_with_no_csp_error(
    _browser, live_server, world, admin_member, scheme
):
    page = _context(_browser, scheme=scheme)
    page.goto(f"{live_server.url}/accounts/login/")
    problems = {"login": _blocking_violations(page)}
    screenshot(page, f"login-{scheme}")
    login(page, live_server, admin_member.user.username)
    for name, path in world["pages"].items():
        page.goto(live_server.url + path)
        expect(page.locator("h1")).to_be_visible()
        problems[name] = _blocking_violations(page)
        screenshot(page, f"{name}-{scheme}")
    for name, path in world["extra"].items():
        page.goto(live_server.url + path)
        screenshot(page, f"{name}-{scheme}")
    assert {name: found for name, found in problems.items() if found} == {}
    assert page.csp_errors == []
    page.context.close()


def test_every_main_page_fits_a_phone(_browser, live_server, world, admin_member):
    page = _context(_browser, viewport=PHONE)
    page.goto(f"{live_server.url}/accounts/login/")
    wide = [] if _no_sideways_scroll(page) else ["login"]
    screenshot(page, "login-phone")
    login(page, live_server, admin_member.user.username)
    for name, path in {**world["pages"], **world["extra"]}.items():
        page.goto(live_server.url + path)
        if not _no_sideways_scroll(page):
            wide.append(f"{name}: {page.evaluate('document.documentElement.scrollWidth')} px")
        screenshot(page, f"{name}-phone")
    assert wide == []
    # Tables are stacked rows, each cell labelled with its column.
    page.goto(live_server.url + "/tenants/tokens/")
    row = page.locator("table.table tbody tr").first
    assert row.evaluate("r => getComputedStyle(r).display") == "block"
    assert row.locator("td[data-label=Status]").inner_text().strip() == "Active"
    page.context.close()


def test_sandbox_consent_page_and_the_link_button_shows_progress(
    _browser, live_server, world, admin_member
):
    page = _context(_browser)
    login(page, live_server, admin_member.user.username)
    page.goto(f"{live_server.url}/connections/new/sandbox-oauth2/")
    _record_busy_state(page, ".conn-form button[type=submit]")
    page.get_by_role("button", name="Link an account").click()
    page.wait_for_url(re.compile(r"/sandbox/oauth2/authorize"))
    expect(page.get_by_role("button", name="Allow")).to_be_visible()
    busy = _busy_state(page)  # as the button was while the POST ran
    assert busy["disabled"] and busy["text"] == "Opening Sandbox OAuth2…"
    assert page.locator('link[rel=icon][href$="sandbox/favicon.svg"]').count() == 1
    screenshot(page, "sandbox-consent")
    assert _no_sideways_scroll(page)
    assert page.csp_errors == []
    page.context.close()


def test_theme_switch_is_remembered_and_rendered_by_the_server(
    _browser, live_server, world, admin_member
):
    page = _context(_browser)  # the system says light
    login(page, live_server, admin_member.user.username)
    page.goto(f"{live_server.url}/connections/")
    assert page.evaluate("document.documentElement.dataset.theme") is None
    light_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.click(".usermenu summary")
    page.locator(".theme-switch button[value=dark]").click()
    # expect() polls from Python: wait_for_function would eval a string, which the CSP blocks.
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != light_bg
    assert UiPreference.objects.get(user=admin_member.user).theme == "dark"
    # The next page arrives dark from the server: no script runs before the first paint.
    html = page.request.get(f"{live_server.url}/catalog/").text()
    assert '<html lang="en" data-theme="dark">' in html
    page.context.close()

    # A new sign-in elsewhere gets it from the database.
    other = _context(_browser)
    login(other, live_server, admin_member.user.username)
    assert other.evaluate("document.documentElement.dataset.theme") == "dark"
    other.context.close()


def test_check_button_shows_progress_and_the_page_follows_the_worker(
    _browser, live_server, world, admin_member
):
    connection = world["connection"]
    page = _context(_browser)
    login(page, live_server, admin_member.user.username)
    page.goto(live_server.url + connection.get_absolute_url())
    expect(page.locator("[data-live=status]")).to_contain_text("Active")

    # What a worker's check does: a failed result and a new status, written outside the page.
    Connection.all_objects.filter(pk=connection.pk).update(
        status=ConnectionStatus.ERROR, consecutive_failures=3, last_error_code="app_unavailable"
    )
    HealthCheck.objects.create(
        connection=connection,
        kind="check",
        ok=False,
        error_code="app_unavailable",
        http_status=503,
        duration_ms=12,
    )
    expect(page.locator("[data-live=status]")).to_contain_text("App unavailable", timeout=15_000)
    expect(page.locator("[data-live=health]")).to_contain_text("HTTP 503")
    expect(page.locator("[data-live=status-text]")).to_contain_text("3 failed checks in a row")

    _record_busy_state(page, ".actions button[data-busy-label]", note="[data-busy-note-target]")
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator(".messages")).to_be_visible()
    busy = _busy_state(page)
    assert busy["disabled"] and busy["text"] == "Checking…"
    assert busy["note"] == "Checking the stored credentials at Sandbox API key…"
    page.context.close()


def test_django_admin_works_under_the_csp(_browser, live_server, world):
    staff = get_user_model().objects.create_superuser(
        username="sysadmin", password=PASSWORD, email="s@ops.test"
    )
    page = _context(_browser)
    login(page, live_server, staff.username)
    paths = [
        "/admin/",
        "/admin/catalog/app/",
        f"/admin/catalog/app/{App.objects.get(slug='stripe').pk}/change/",
        "/admin/catalog/oauthclient/",
        "/admin/connections/connection/",
        f"/admin/connections/globalconnection/{world['global'].pk}/change/",
    ]
    for path in paths:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        expect(page.locator("#content")).to_be_visible()
    # The admin's own theme toggle and our object tool are styled by static files.
    expect(page.locator("#global-check-now")).to_have_css("border-radius", "15px")
    assert page.csp_errors == []
    page.context.close()
