"""OAuth 2.0 client credentials end to end against the sandbox over loopback (live_server):
link, check, the beat's refresh before expiry, a refused client, and the real entries."""

import datetime as dt
import json
import time

import pytest
import responses
from django.test import Client

from catalog.models import App
from catalog.schema import PROVIDERS_DIR, validate_app
from catalog.services import catalog_sync
from connections.auth import expiring_modes, mode_for
from connections.errors import ConnectionFailure
from connections.models import Attempt, Connection, ConnectionStatus, ErrorCode
from connections.services.health import connection_refresh
from connections.services.sweeps import due_for_refresh, refresh_one
from connections.services.tokens import api_token_create
from sandbox import services as sandbox_services
from sandbox.models import AccessToken, OAuth2Client
from vault.services import secret_open

pytestmark = pytest.mark.django_db(transaction=True)

SLUG = "sandbox-client-credentials"


@pytest.fixture
def machine(sandbox):
    """A sandbox client for the client credentials grant, with 1-hour tokens."""
    catalog_sync(paths=[PROVIDERS_DIR / "sandbox.yaml"])
    sandbox_services.ensure_client(
        client_id="machine-client", client_secret="machine-secret-123", redirect_uris=[],
        name="Nightly export", scopes=["profile", "read", "write"],
    )  # fmt: skip
    return sandbox


def link(browser, **fields):
    values = {"client_id": "machine-client", "client_secret": "machine-secret-123", **fields}
    response = browser.post(
        "/api/connections", data=json.dumps({"app": SLUG, "fields": values}),
        content_type="application/json",
    )  # fmt: skip
    return response


@pytest.fixture
def browser(client_for, operator_member):
    return client_for(operator_member)


def test_link_fetches_a_token_tests_it_and_seals_the_client(machine, browser, tenant):
    response = link(browser)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "succeeded"
    connection = Connection.objects.for_tenant(tenant).get()
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.account_label.startswith("client-") and connection.account_label.endswith(
        "@service.sandbox.test"
    )
    assert connection.scopes == ["profile", "read"]
    assert connection.config == {}  # the client id is sealed with the secret, not in settings
    assert machine.token_requests() == 1
    credentials = secret_open(secret=connection.credentials, purpose="connection")
    assert credentials["client_id"] == "machine-client"
    assert credentials["client_secret"] == "machine-secret-123"
    assert credentials["refresh_token"] is None
    assert 3500 < credentials["expires_at"] - time.time() <= 3601
    token = AccessToken.objects.get()
    assert token.client.client_id == "machine-client" and token.refresh_token is None

    check = browser.get(f"/api/connections/{connection.id}/check")
    assert check.status_code == 200 and check.json()["ok"] is True
    assert machine.token_requests() == 1  # not due: no new token for a check


def test_wrong_secret_fails_the_attempt_and_creates_nothing(machine, browser, tenant):
    response = link(browser, client_secret="not-the-secret")
    assert response.status_code == 422
    body = response.json()
    assert body["attempt"]["status"] == "failed"
    assert body["error"]["code"] == ErrorCode.AUTHORIZATION_REJECTED
    assert "refused the client credentials (invalid_client)" in body["error"]["message"]
    assert "not-the-secret" not in response.content.decode()
    assert not Connection.objects.for_tenant(tenant).exists()
    assert Attempt.objects.for_tenant(tenant).get().pending_secret_id is None


def test_missing_client_id_is_a_field_error(machine, browser):
    response = link(browser, client_id="")
    assert response.status_code == 400
    assert "Client ID" in response.content.decode()


def test_beat_fetches_a_new_token_before_expiry_single_flight(machine, browser, tenant, settings):
    OAuth2Client.objects.filter(client_id="machine-client").update(access_token_lifetime=60)
    assert link(browser).json()["status"] == "succeeded"
    connection = Connection.objects.for_tenant(tenant).get()
    old = secret_open(secret=connection.credentials, purpose="connection")["access_token"]
    assert list(due_for_refresh()) == []  # 60 s token, just issued: due at half its life

    Connection.all_objects.filter(pk=connection.pk).update(
        authorized_at=connection.authorized_at - dt.timedelta(seconds=100)
    )
    due = list(due_for_refresh())
    assert due == [("connection", str(connection.pk))]
    assert refresh_one(*due[0]) == "refreshed"
    assert refresh_one(*due[0]) == "fresh"  # a duplicate task makes no second token request
    assert machine.token_requests() == 2

    connection.refresh_from_db()
    credentials = secret_open(secret=connection.credentials, purpose="connection")
    assert credentials["access_token"] != old
    assert credentials["client_secret"] == "machine-secret-123"  # kept for the next fetch
    assert connection.last_refreshed_at is not None and connection.status == ConnectionStatus.ACTIVE
    check = browser.get(f"/api/connections/{connection.id}/check")
    assert check.status_code == 200 and check.json()["ok"] is True  # with the new token
    assert AccessToken.objects.filter(revoked_at__isnull=True).count() == 2
    _, raw = api_token_create(
        tenant=tenant, name="Flow", actor=None, scopes=("proxy", "credentials")
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    proxied = Client().get(f"/api/proxy/{connection.id}/me", **auth)
    assert proxied.status_code == 200
    assert (
        json.loads(b"".join(proxied.streaming_content) if proxied.streaming else proxied.content)[
            "account"
        ]["email"]
        == connection.account_label
    )
    handed = (
        Client().get(f"/api/connections/{connection.id}/credentials", **auth).json()["credentials"]
    )
    assert handed["access_token"] == credentials["access_token"]
    assert "client_secret" not in handed and "refresh_token" not in handed


def test_deleted_client_at_the_provider_expires_the_connection(machine, browser, tenant):
    assert link(browser).json()["status"] == "succeeded"
    connection = Connection.objects.for_tenant(tenant).get()
    OAuth2Client.objects.filter(client_id="machine-client").delete()
    with pytest.raises(ConnectionFailure):
        connection_refresh(connection=connection, force=True)
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.EXPIRED
    assert connection.last_error_code == ErrorCode.CONNECTION_EXPIRED
    assert "machine-secret-123" not in connection.last_error_message


def test_client_credentials_is_an_expiring_mode_without_redirects():
    mode = mode_for(App(auth_mode="oauth2_client_credentials"))
    assert "oauth2_client_credentials" in expiring_modes()
    assert not mode.redirects and not mode.needs_client and mode.has_scopes


def test_schema_requires_the_client_fields():
    spec = {
        "slug": "m2m", "name": "M2M", "category": "developer-tools", "auth": "oauth2_client_credentials",
        "base_url": "https://api.example.com", "fields": [{"key": "client_id", "label": "Client ID"}],
        "client_credentials": {"token_url": "http://evil.example.com/token"}, "test": {"method": "GET", "path": "/me"},
    }  # fmt: skip
    problems = validate_app(spec)
    assert "fields: auth oauth2_client_credentials needs a secret field 'client_secret'" in problems
    assert any(p.startswith("client_credentials.token_url: must use https") for p in problems)


# --- The real entries, against their documented token responses (responses) -----------------


def _sync_real():
    catalog_sync()
    return {app.slug: app for app in App.objects.filter(auth_mode="oauth2_client_credentials")}


@pytest.mark.parametrize(
    "slug, fields, token_url, body_has, basic, test_url, answer, account",
    [
        (
            "zoom-server-to-server", {"account_id": "AbC123"}, "https://zoom.us/oauth/token",
            {"grant_type": "account_credentials", "account_id": "AbC123"}, True,
            "https://api.zoom.us/v2/users/me", {"email": "owner@acme.test"}, "owner@acme.test",
        ),
        (
            "microsoft-graph-app-only", {"tenant_id": "acme.onmicrosoft.com"},
            "https://login.microsoftonline.com/acme.onmicrosoft.com/oauth2/v2.0/token",
            {"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default",
             "client_secret": "s3cret"}, False,
            "https://graph.microsoft.com/v1.0/organization", {"value": [{"displayName": "Acme Ltd"}]}, "Acme Ltd",
        ),
        (
            "auth0-management", {"domain": "acme.us.auth0.com"}, "https://acme.us.auth0.com/oauth/token",
            {"grant_type": "client_credentials", "audience": "https://acme.us.auth0.com/api/v2/"}, False,
            "https://acme.us.auth0.com/api/v2/tenants/settings", {"friendly_name": "Acme"}, "Acme",
        ),
        (
            "paypal", {}, "https://api-m.paypal.com/v1/oauth2/token", {"grant_type": "client_credentials"}, True,
            "https://api-m.paypal.com/v1/notifications/webhooks", {"webhooks": []}, "",
        ),
    ],
)  # fmt: skip
@responses.activate
def test_real_entries_link_with_their_documented_token_request(
    db, tenant, operator_member, slug, fields, token_url, body_has, basic, test_url, answer, account
):
    from urllib.parse import parse_qs

    from connections.services.attempts import attempt_start

    app = _sync_real()[slug]
    responses.post(
        token_url, json={"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600}
    )
    responses.get(test_url, json=answer)
    attempt, url = attempt_start(
        tenant=tenant, user=operator_member.user, app=app,
        field_values={"client_id": "cid", "client_secret": "s3cret", **fields},
    )  # fmt: skip
    assert url is None and attempt.status == Attempt.Status.SUCCEEDED, attempt.error_message
    token_call, test_call = responses.calls
    sent = {key: value[0] for key, value in parse_qs(token_call.request.body).items()}
    assert {key: sent.get(key) for key in body_has} == body_has
    assert token_call.request.headers.get("Authorization", "").startswith("Basic ") is basic
    assert ("client_secret" in sent) is not basic
    assert test_call.request.headers["Authorization"] == "Bearer tok-1"
    assert attempt.connection.account_label == account


def test_auth0_domain_outside_auth0_is_refused_before_anything_is_sent(db, tenant, operator_member):
    from django.core.exceptions import ValidationError

    from connections.services.attempts import attempt_start

    app = _sync_real()["auth0-management"]
    with responses.RequestsMock() as mocked, pytest.raises(ValidationError) as refused:
        attempt_start(
            tenant=tenant, user=operator_member.user, app=app,
            field_values={"client_id": "cid", "client_secret": "s3cret", "domain": "evil.example.com"},
        )  # fmt: skip
    assert "domain" in refused.value.message_dict
    assert len(mocked.calls) == 0
