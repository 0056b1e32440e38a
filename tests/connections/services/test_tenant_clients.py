"""Company-owned OAuth clients end to end against the sandbox (live_server): connections minted
by the company's client authorize, refresh and re-authorize with it; replacing or removing it
flags exactly the connections it minted, with a reason; the platform's stay untouched."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from catalog.models import App
from catalog.schema import PROVIDERS_DIR
from catalog.services import catalog_sync
from connections.errors import ConnectionFailure
from connections.models import Connection, ConnectionStatus, ErrorCode, Event, EventKind
from connections.services.health import connection_refresh
from connections.services.tenant_clients import tenant_client_remove, tenant_client_set
from sandbox import services as sandbox_services
from sandbox.models import AccessToken, RefreshToken
from vault.services import secret_open

pytestmark = pytest.mark.django_db(transaction=True)

OWN_ID, OWN_SECRET = "acme-own-client", "acme-own-secret-123"


@pytest.fixture
def app(sandbox):
    catalog_sync(paths=[PROVIDERS_DIR / "sandbox.yaml"])
    sandbox.register_catalog_clients()
    App.objects.filter(slug="sandbox-oauth2").update(tenant_clients_allowed=True)
    # The company's own OAuth app at the provider, with the same redirect URI to register.
    sandbox_services.ensure_client(
        OWN_ID, OWN_SECRET, [sandbox.redirect_uri], name="Acme's own app"
    )
    return App.objects.get(slug="sandbox-oauth2")


def link(sandbox, browser):
    response = browser.post(
        "/api/connections",
        data=json.dumps({"app": "sandbox-oauth2"}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    url = response.json()["authorize_url"]
    client_id = parse_qs(urlsplit(url).query)["client_id"][0]
    back = urlsplit(sandbox.approve(url))
    browser.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})
    return client_id


def own_client(member, app):
    return tenant_client_set(
        tenant=member.tenant, app=app, client_id=OWN_ID, client_secret=OWN_SECRET, actor=member.user
    )


def test_company_client_mints_refreshes_and_other_tenants_keep_the_platform_client(
    app, sandbox, client_for, admin_member, operator_member, outsider_member
):
    own = own_client(admin_member, app)
    assert link(sandbox, client_for(operator_member)) == OWN_ID
    connection = Connection.objects.for_tenant(operator_member.tenant).get()
    assert connection.status == ConnectionStatus.ACTIVE and connection.oauth_client == own
    assert AccessToken.objects.get().client.client_id == OWN_ID

    # The sandbox only accepts a refresh token from the client it was issued to.
    old = secret_open(secret=connection.credentials, purpose="connection")["access_token"]
    fresh = connection_refresh(connection=connection, force=True)
    assert RefreshToken.objects.filter(client__client_id=OWN_ID, used_at__isnull=False).count() == 1
    assert fresh["access_token"] != old
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE and connection.last_refreshed_at is not None

    assert link(sandbox, client_for(outsider_member)) == sandbox.client_id  # no client of its own
    theirs = Connection.objects.for_tenant(outsider_member.tenant).get()
    assert theirs.oauth_client is None and theirs.status == ConnectionStatus.ACTIVE


def test_removing_the_company_client_flags_what_it_minted_with_a_reason(
    app, sandbox, client_for, admin_member, operator_member, outsider_member
):
    own = own_client(admin_member, app)
    link(sandbox, client_for(operator_member))
    link(sandbox, client_for(outsider_member))
    mine = Connection.objects.for_tenant(operator_member.tenant).get()
    theirs = Connection.objects.for_tenant(outsider_member.tenant).get()
    requests_before = sandbox.token_requests()

    assert tenant_client_remove(client=own, actor=admin_member.user) == 1
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (
        mine.status == ConnectionStatus.EXPIRED
        and mine.last_error_code == ErrorCode.CONNECTION_EXPIRED
    )
    assert "OAuth client (client id acme-own-client)" in mine.last_error_message
    assert "was removed: re-authorize" in mine.last_error_message
    assert theirs.status == ConnectionStatus.ACTIVE
    page = client_for(operator_member).get(mine.get_absolute_url()).content.decode()
    assert "(removed: re-authorize)" in page and OWN_SECRET not in page
    changed = Event.objects.for_tenant(mine.tenant).get(
        connection=mine, kind=EventKind.STATUS_CHANGED
    )
    assert (
        changed.detail["to"] == "expired"
        and changed.detail["via"] == EventKind.OAUTH_CLIENT_REMOVED
    )

    with pytest.raises(ConnectionFailure) as failure:
        connection_refresh(connection=mine, force=True)
    assert failure.value.code == ErrorCode.CONNECTION_EXPIRED
    assert sandbox.token_requests() == requests_before  # never sent with another client

    # Re-authorize: no company client any more, so the platform's client mints the new grant.
    browser = client_for(operator_member)
    page = browser.post(f"/connections/{mine.id}/reauthorize/", {})
    url = page["Location"]
    assert parse_qs(urlsplit(url).query)["client_id"] == [sandbox.client_id]
    back = urlsplit(sandbox.approve(url))
    browser.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})
    mine.refresh_from_db()
    assert mine.status == ConnectionStatus.ACTIVE and mine.oauth_client is None


def test_replacing_flags_but_a_new_secret_for_the_same_client_does_not(
    app, sandbox, client_for, admin_member, operator_member
):
    own = own_client(admin_member, app)
    link(sandbox, client_for(operator_member))
    connection = Connection.objects.for_tenant(operator_member.tenant).get()

    sandbox_services.ensure_client(
        OWN_ID, "rotated-secret-456", [sandbox.redirect_uri], name="Acme's own app"
    )
    same = tenant_client_set(
        tenant=admin_member.tenant, app=app, client_id=OWN_ID, client_secret="rotated-secret-456",
        actor=admin_member.user,
    )  # fmt: skip
    assert same.pk == own.pk
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    connection_refresh(connection=connection, force=True)  # the rotated secret is used

    sandbox_services.ensure_client("acme-new-client", "new-secret-789", [sandbox.redirect_uri])
    new = tenant_client_set(
        tenant=admin_member.tenant, app=app, client_id="acme-new-client", client_secret="new-secret-789",
        actor=admin_member.user,
    )  # fmt: skip
    own.refresh_from_db()
    connection.refresh_from_db()
    assert new.pk != own.pk and own.retired_reason == "replaced" and own.client_secret_id is None
    assert (
        connection.status == ConnectionStatus.EXPIRED
        and "was replaced" in connection.last_error_message
    )

    browser = client_for(operator_member)
    url = browser.post(f"/connections/{connection.id}/reauthorize/", {})["Location"]
    assert parse_qs(urlsplit(url).query)["client_id"] == ["acme-new-client"]
    back = urlsplit(sandbox.approve(url))
    browser.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE and connection.oauth_client == new
    connection_refresh(connection=connection, force=True)
    assert RefreshToken.objects.filter(
        client__client_id="acme-new-client", used_at__isnull=False
    ).exists()


def test_revoke_withdraws_the_grant_with_the_company_client(
    app, sandbox, client_for, admin_member, operator_member
):
    own_client(admin_member, app)
    link(sandbox, client_for(operator_member))
    connection = Connection.objects.for_tenant(operator_member.tenant).get()
    response = client_for(operator_member).post(f"/connections/{connection.id}/revoke/", {})
    assert response.status_code == 302
    # The sandbox revokes only tokens issued to the client that authenticates the call.
    assert RefreshToken.objects.get(client__client_id=OWN_ID).revoked_at is not None
    assert sandbox.count("revoke") >= 1


def test_oauth1_company_client_signs_the_link_and_every_check(
    sandbox, client_for, admin_member, operator_member
):
    catalog_sync(paths=[PROVIDERS_DIR / "sandbox.yaml"])
    sandbox.register_catalog_clients()
    App.objects.filter(slug="sandbox-oauth1").update(tenant_clients_allowed=True)
    oauth1 = App.objects.get(slug="sandbox-oauth1")
    callback = f"{sandbox.url}/connections/callback/sandbox-oauth1/"
    sandbox_services.ensure_oauth1_client("acme-own-oauth1", "acme-own-oauth1-secret", [callback])
    own = tenant_client_set(
        tenant=admin_member.tenant, app=oauth1, client_id="acme-own-oauth1",
        client_secret="acme-own-oauth1-secret", actor=admin_member.user,
    )  # fmt: skip
    browser = client_for(operator_member)
    response = browser.post(
        "/api/connections",
        data=json.dumps({"app": "sandbox-oauth1"}),
        content_type="application/json",
    )
    back = urlsplit(sandbox.approve(response.json()["authorize_url"]))
    browser.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})
    connection = Connection.objects.for_tenant(operator_member.tenant).get()
    assert connection.oauth_client == own and connection.status == ConnectionStatus.ACTIVE
    check = browser.get(f"/api/connections/{connection.id}/check")
    assert check.status_code == 200 and check.json()["ok"] is True  # signed with the own client

    tenant_client_remove(client=own, actor=admin_member.user)
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.EXPIRED
