"""The company OAuth client form: tenant admins only, per app where system administrators allow
it, the secret written once and never shown, another tenant sees nothing of it."""

import pytest

from catalog.models import App
from catalog.schema import PROVIDERS_DIR
from catalog.services import catalog_sync
from connections.models import Event, EventKind, Role, TenantOAuthClient
from connections.services.tenant_clients import tenant_client_set
from vault.services import secret_open

pytestmark = pytest.mark.django_db

SECRET = "own-secret-never-shown-42"


@pytest.fixture
def app(db):
    catalog_sync(paths=[PROVIDERS_DIR / "sandbox.yaml"])
    App.objects.filter(slug="sandbox-oauth2").update(tenant_clients_allowed=True)
    return App.objects.get(slug="sandbox-oauth2")


def url(slug="sandbox-oauth2"):
    return f"/tenants/oauth-clients/{slug}/"


def test_admin_registers_the_company_client_secret_goes_to_the_vault(app, client_for, admin_member):
    browser = client_for(admin_member)
    page = browser.get(url())
    assert page.status_code == 200
    html = page.content.decode()
    assert app.redirect_uri in html and "Not set" in html

    response = browser.post(url(), {"client_id": "acme-own-client", "client_secret": SECRET})
    assert response.status_code == 302 and response["Location"] == url()
    client = TenantOAuthClient.objects.for_tenant(admin_member.tenant).get()
    assert client.client_id == "acme-own-client" and client.is_live
    assert secret_open(secret=client.client_secret, purpose="tenant_oauth_client") == {
        "client_secret": SECRET
    }
    event = Event.objects.for_tenant(admin_member.tenant).get(kind=EventKind.OAUTH_CLIENT_SAVED)
    assert SECRET not in str(event.detail)

    after = browser.get(url()).content.decode()
    assert "acme-own-client" in after and SECRET not in after
    assert 'name="client_secret"' in after and f'value="{SECRET}"' not in after


def test_missing_secret_is_a_field_error_and_nothing_is_saved(app, client_for, admin_member):
    response = client_for(admin_member).post(
        url(), {"client_id": "acme-own-client", "client_secret": ""}
    )
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not TenantOAuthClient.objects.for_tenant(admin_member.tenant).exists()


def test_a_secret_that_fails_validation_is_not_echoed(app, client_for, admin_member):
    response = client_for(admin_member).post(
        url(), {"client_id": "has spaces", "client_secret": SECRET}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "without spaces" in html and SECRET not in html


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_operators_and_viewers_get_403(app, client_for, make_member, tenant, role):
    browser = client_for(make_member(tenant, role))
    assert browser.get(url()).status_code == 403
    assert browser.post(url(), {"client_id": "x", "client_secret": SECRET}).status_code == 403
    assert not TenantOAuthClient.objects.for_tenant(tenant).exists()


def test_apps_that_do_not_allow_company_clients_are_404(app, client_for, admin_member):
    App.objects.filter(slug="sandbox-oauth2").update(tenant_clients_allowed=False)
    browser = client_for(admin_member)
    assert browser.get(url()).status_code == 404
    assert browser.get(url("sandbox-api-key")).status_code == 404  # not an OAuth app
    assert browser.get(url("no-such-app")).status_code == 404


def test_a_second_tenant_sees_nothing_and_cannot_remove_it(
    app, client_for, admin_member, outsider_member
):
    own = tenant_client_set(
        tenant=admin_member.tenant, app=app, client_id="acme-own-client", client_secret=SECRET,
        actor=admin_member.user,
    )  # fmt: skip
    other = client_for(outsider_member)
    page = other.get(url()).content.decode()
    assert "acme-own-client" not in page and "Not set" in page
    assert other.get(f"/tenants/oauth-clients/{own.pk}/remove/").status_code == 404
    assert other.post(f"/tenants/oauth-clients/{own.pk}/remove/").status_code == 404
    own.refresh_from_db()
    assert own.is_live


def test_remove_asks_for_a_confirmation_then_retires(app, client_for, admin_member):
    own = tenant_client_set(
        tenant=admin_member.tenant, app=app, client_id="acme-own-client", client_secret=SECRET,
        actor=admin_member.user,
    )  # fmt: skip
    browser = client_for(admin_member)
    confirm = browser.get(f"/tenants/oauth-clients/{own.pk}/remove/")
    assert confirm.status_code == 200 and "No live connection uses it" in confirm.content.decode()
    own.refresh_from_db()
    assert own.is_live  # a GET changes nothing
    assert browser.post(f"/tenants/oauth-clients/{own.pk}/remove/").status_code == 302
    own.refresh_from_db()
    assert not own.is_live and own.retired_reason == "removed" and own.client_secret_id is None


def test_operator_window_says_ask_your_admin_when_no_client_exists(
    app, client_for, operator_member
):
    page = client_for(operator_member).get("/connections/new/sandbox-oauth2/")
    assert page.status_code == 200
    assert "Ask your admin to set up Sandbox OAuth2" in page.content.decode()


def test_admin_window_links_to_the_form_and_a_company_client_makes_the_app_linkable(
    app, client_for, admin_member
):
    browser = client_for(admin_member)
    page = browser.get("/connections/new/sandbox-oauth2/").content.decode()
    assert url() in page and ">Link an account</button>" not in page
    tenant_client_set(
        tenant=admin_member.tenant, app=app, client_id="acme-own-client", client_secret=SECRET,
        actor=admin_member.user,
    )  # fmt: skip
    page = browser.get("/connections/new/sandbox-oauth2/").content.decode()
    assert (
        ">Link an account</button>" in page and "Through your company's own OAuth client." in page
    )
    detail = browser.get("/catalog/sandbox-oauth2/").content.decode()
    assert 'data-testid="tenant-client-link"' in detail and "Manage your OAuth client" in detail


def test_api_links_through_the_company_client_where_no_platform_client_exists(
    app, client_for, admin_member, operator_member, outsider_member
):
    tenant_client_set(
        tenant=admin_member.tenant, app=app, client_id="acme-own-client", client_secret=SECRET,
        actor=admin_member.user,
    )  # fmt: skip
    body = '{"app": "sandbox-oauth2"}'
    mine = client_for(operator_member).post(
        "/api/connections", data=body, content_type="application/json"
    )
    assert mine.status_code == 201, mine.content
    assert "client_id=acme-own-client" in mine.json()["authorize_url"]
    theirs = client_for(outsider_member).post(
        "/api/connections", data=body, content_type="application/json"
    )
    assert theirs.status_code == 409 and theirs.json()["error"]["code"] == "app_not_configured"
