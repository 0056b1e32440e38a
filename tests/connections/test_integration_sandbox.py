"""Every auth mode end to end against the sandbox over loopback (live_server).

The operator's browser is the Django test client; the provider's consent page is pressed
with `sandbox.approve`, and the redirect back lands on our callback page in that client.
"""

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client

from catalog.schema import PROVIDERS_DIR
from catalog.services import catalog_sync
from connections.models import Attempt, Connection, ConnectionStatus, ErrorCode, Event
from connections.services.attempts import attempt_start
from connections.services.connections import connection_revoke
from vault.models import Secret
from vault.services import secret_open

from .lifecycle_helpers import make_request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def apps(sandbox):
    catalog_sync(paths=[PROVIDERS_DIR / "sandbox.yaml"])
    sandbox.register_catalog_clients()
    return sandbox


@pytest.fixture
def browser(client_for, operator_member):
    return client_for(operator_member)


def start_oauth(browser, slug="sandbox-oauth2", **data):
    response = browser.post(
        "/api/connections", data=json.dumps({"app": slug, **data}), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    return body["id"], body["authorize_url"]


def land(browser, redirect_url):
    """Follow the provider's redirect back to our callback in the operator's browser."""
    parts = urlsplit(redirect_url)
    return browser.get(parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()})


def only_connection(tenant):
    return Connection.objects.for_tenant(tenant).get()


def test_oauth2_create_check_reauthorize_revoke(apps, browser, tenant, operator_member):
    sandbox = apps
    attempt_id, url = start_oauth(browser)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [sandbox.redirect_uri]

    response = land(browser, sandbox.approve(url))
    connection = only_connection(tenant)
    assert response.status_code == 302 and response["Location"] == connection.get_absolute_url()
    assert sandbox.token_requests() == 1
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.account_label == sandbox.email
    assert connection.scopes == ["profile", "read"]
    assert connection.name == "My first Sandbox OAuth2 account"
    credentials = secret_open(secret=connection.credentials, purpose="connection")
    assert credentials["refresh_token"] and credentials["expires_at"] > time.time()
    attempt = Attempt.objects.for_tenant(tenant).get(pk=attempt_id)
    assert attempt.status == Attempt.Status.SUCCEEDED and attempt.connection == connection

    check = browser.get(f"/api/connections/{connection.id}/check")
    assert check.status_code == 200 and check.json()["ok"] is True

    # Re-authorize with an extra scope: same id, name and history, new credentials.
    attempt, url = attempt_start(
        tenant=tenant, user=operator_member.user, app=connection.app, connection=connection,
        scopes=["profile", "read", "write"], request=_request_for(browser, operator_member),
    )
    _save_session(browser, attempt)
    land(browser, sandbox.approve(url))
    connection.refresh_from_db()
    assert Connection.objects.for_tenant(tenant).count() == 1
    new_credentials = secret_open(secret=connection.credentials, purpose="connection")
    assert new_credentials["access_token"] != credentials["access_token"]
    assert connection.scopes == ["profile", "read", "write"]
    assert Event.objects.for_tenant(tenant).filter(connection=connection, kind="reauthorized").exists()

    # Revoke: the sandbox revokes the grant, the Secret is destroyed.
    secret_id = connection.credentials_id
    revoked = connection_revoke(connection=connection, actor=operator_member.user)
    assert revoked.status == ConnectionStatus.REVOKED and revoked.revoked_at is not None
    assert revoked.credentials is None and revoked.revocation_warning == ""
    assert not Secret.objects.filter(pk=secret_id).exists()
    assert sandbox.count("revoke") >= 1
    me = requests.get(sandbox.me_url, headers={"Authorization": f"Bearer {new_credentials['access_token']}"}, timeout=5)
    assert me.status_code == 401


def _request_for(browser, member):
    """Return a request object whose session is the test browser's session."""
    request = make_request(member.user, session=browser.session)
    return request


def _save_session(browser, attempt):
    """Persist the state binding written into the browser's session by attempt_start."""
    session = browser.session
    key = f"connections.oauth_state.{attempt.state_hash}"
    session[key] = str(attempt.id)
    session.save()


def test_oauth2_denied_consent(apps, browser, tenant):
    sandbox = apps
    attempt_id, url = start_oauth(browser)
    response = land(browser, sandbox.approve(url, allow=False))
    assert response.status_code == 400
    assert b"Authorization rejected" in response.content
    attempt = Attempt.objects.for_tenant(tenant).get(pk=attempt_id)
    assert attempt.status == Attempt.Status.FAILED
    assert attempt.error_code == ErrorCode.AUTHORIZATION_REJECTED
    assert sandbox.token_requests() == 0
    assert Connection.objects.for_tenant(tenant).count() == 0


@pytest.mark.parametrize("mode,code", [("invalid_grant", "authorization_rejected"), ("500", "app_unavailable"), ("429", "app_unavailable")])
def test_oauth2_token_exchange_failure(apps, browser, tenant, mode, code):
    sandbox = apps
    attempt_id, url = start_oauth(browser)
    redirect = sandbox.approve(url)
    sandbox.set_switch("token", mode)
    response = land(browser, redirect)
    assert response.status_code == 400
    attempt = Attempt.objects.for_tenant(tenant).get(pk=attempt_id)
    assert (attempt.status, attempt.error_code) == (Attempt.Status.FAILED, code)
    assert sandbox.token_requests() == 1
    assert Connection.objects.for_tenant(tenant).count() == 0


def test_oauth2_token_endpoint_hanging_times_out(apps, browser, tenant, settings):
    sandbox = apps
    settings.HTTP_TIMEOUT = 1.0
    attempt_id, url = start_oauth(browser)
    redirect = sandbox.approve(url)
    sandbox.set_switch("token", "hang", seconds=4)
    started = time.monotonic()
    response = land(browser, redirect)
    assert time.monotonic() - started < 3.5
    assert response.status_code == 400
    attempt = Attempt.objects.for_tenant(tenant).get(pk=attempt_id)
    assert attempt.error_code == ErrorCode.APP_UNAVAILABLE
    assert "did not answer within 1 seconds" in attempt.error_message
    assert Connection.objects.for_tenant(tenant).count() == 0


def test_oauth2_test_request_failing_creates_nothing(apps, browser, tenant):
    sandbox = apps
    attempt_id, url = start_oauth(browser)
    redirect = sandbox.approve(url)
    sandbox.set_switch("api", "500")
    land(browser, redirect)
    attempt = Attempt.objects.for_tenant(tenant).get(pk=attempt_id)
    assert attempt.error_code == ErrorCode.APP_UNAVAILABLE
    assert Connection.objects.for_tenant(tenant).count() == 0


@pytest.mark.parametrize("attack", ["missing", "wrong", "replayed", "expired", "other_session"])
def test_oauth2_state_attacks(apps, browser, tenant, operator_member, attack):
    sandbox = apps
    attempt_id, url = start_oauth(browser)
    redirect = sandbox.approve(url)
    parts = urlsplit(redirect)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    client = browser
    if attack == "missing":
        params.pop("state")
    elif attack == "wrong":
        params["state"] = params["state"][::-1]
    elif attack == "replayed":
        assert land(browser, redirect).status_code == 302
        Connection.all_objects.all().delete()
        sandbox.reset()
    elif attack == "expired":
        Attempt.all_objects.filter(pk=attempt_id).update(expires_at=Attempt.all_objects.get(pk=attempt_id).created_at)
    elif attack == "other_session":
        client = Client()
        client.force_login(operator_member.user)
    response = client.get(parts.path, params)
    assert response.status_code == 400
    assert sandbox.token_requests() == 0
    assert Connection.all_objects.count() == 0
    if attack == "expired":
        assert Attempt.objects.for_tenant(tenant).get(pk=attempt_id).status == Attempt.Status.ABANDONED


def test_oauth2_reauthorization_with_another_account_asks_to_confirm(apps, browser, tenant, operator_member):
    from connections.services.attempts import attempt_awaits_account_confirmation, attempt_confirm_account

    sandbox = apps
    _id, url = start_oauth(browser)
    land(browser, sandbox.approve(url))
    connection = only_connection(tenant)
    before = secret_open(secret=connection.credentials)
    attempt, url = attempt_start(
        tenant=tenant, user=operator_member.user, app=connection.app, connection=connection,
        request=_request_for(browser, operator_member),
    )
    _save_session(browser, attempt)
    response = land(browser, sandbox.approve(url, email="someone.else@sandbox.test"))
    assert response.status_code == 302
    attempt.refresh_from_db()
    assert attempt_awaits_account_confirmation(attempt)
    assert attempt.account_label == "someone.else@sandbox.test"
    connection.refresh_from_db()
    assert connection.account_label == sandbox.email
    assert secret_open(secret=connection.credentials) == before
    attempt_confirm_account(attempt=attempt, actor=operator_member.user)
    connection.refresh_from_db()
    assert connection.account_label == "someone.else@sandbox.test"
    assert secret_open(secret=connection.credentials) != before


def test_oauth1_create(apps, browser, tenant):
    sandbox = apps
    attempt_id, url = start_oauth(browser, slug="sandbox-oauth1")
    response = land(browser, sandbox.approve(url))
    assert response.status_code == 302, response.content[:500]
    connection = only_connection(tenant)
    assert connection.account_label == sandbox.email
    credentials = secret_open(secret=connection.credentials)
    assert set(credentials) == {"oauth_token", "oauth_token_secret"}
    check = browser.get(f"/api/connections/{connection.id}/check")
    assert check.status_code == 200 and check.json()["ok"] is True


def test_oauth1_denied_consent(apps, browser, tenant):
    sandbox = apps
    attempt_id, url = start_oauth(browser, slug="sandbox-oauth1")
    response = land(browser, sandbox.approve(url, allow=False))
    assert response.status_code == 400
    attempt = Attempt.objects.for_tenant(tenant).get(pk=attempt_id)
    assert (attempt.status, attempt.error_code) == (Attempt.Status.FAILED, ErrorCode.AUTHORIZATION_REJECTED)
    assert Connection.objects.for_tenant(tenant).count() == 0


def test_oauth1_replayed_callback_is_refused(apps, browser, tenant):
    sandbox = apps
    _id, url = start_oauth(browser, slug="sandbox-oauth1")
    redirect = sandbox.approve(url)
    assert land(browser, redirect).status_code == 302
    assert land(browser, redirect).status_code == 400
    assert Connection.objects.for_tenant(tenant).count() == 1


def test_api_key_wrong_then_right(apps, browser, tenant):
    sandbox = apps
    body = {"app": "sandbox-api-key", "fields": {"api_key": "not-a-key"}}
    response = browser.post("/api/connections", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422 and response.json()["error"]["code"] == "test_failed"
    assert Connection.objects.for_tenant(tenant).count() == 0
    body["fields"]["api_key"] = sandbox.api_key
    response = browser.post("/api/connections", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201
    connection = only_connection(tenant)
    assert connection.account_label == sandbox.email
    assert secret_open(secret=connection.credentials) == {"api_key": sandbox.api_key}
    assert sandbox.api_key not in response.content.decode()


def test_basic_create_and_app_down(apps, browser, tenant):
    sandbox = apps
    body = {"app": "sandbox-basic", "fields": {"username": sandbox.basic.username, "password": sandbox.basic.password}}
    sandbox.set_switch("api", "500")
    response = browser.post("/api/connections", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 503
    response = browser.post("/api/connections", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201
    connection = only_connection(tenant)
    assert connection.config == {"username": sandbox.basic.username}
    assert secret_open(secret=connection.credentials) == {"password": sandbox.basic.password}


def test_api_key_app_hanging_times_out(apps, browser, tenant, settings):
    sandbox = apps
    settings.HTTP_TIMEOUT = 1.0
    sandbox.set_switch("api", "hang", seconds=4)
    body = {"app": "sandbox-api-key", "fields": {"api_key": sandbox.api_key}}
    started = time.monotonic()
    response = browser.post("/api/connections", data=json.dumps(body), content_type="application/json")
    assert time.monotonic() - started < 3.5
    assert response.status_code == 503
    assert Connection.objects.for_tenant(tenant).count() == 0


def test_revoke_when_provider_fails_still_revokes_locally(apps, browser, tenant, operator_member):
    sandbox = apps
    _id, url = start_oauth(browser)
    land(browser, sandbox.approve(url))
    connection = only_connection(tenant)
    secret_id = connection.credentials_id
    sandbox.set_switch("revoke", "500", count=2)
    revoked = connection_revoke(connection=connection, actor=operator_member.user)
    assert revoked.status == ConnectionStatus.REVOKED
    assert "HTTP 500" in revoked.revocation_warning
    assert not Secret.objects.filter(pk=secret_id).exists()
    event = Event.objects.for_tenant(tenant).get(connection=connection, kind="revoked")
    assert event.detail["provider_revocation"] == "failed"


def test_token_started_attempt_completes_from_any_browser(apps, tenant, admin_member):
    from connections.services.tokens import api_token_create

    sandbox = apps
    raw = api_token_create(tenant=tenant, name="flows", actor=admin_member.user, scopes=["attempts"])[1]
    machine = Client()
    response = machine.post(
        "/api/connections", data=json.dumps({"app": "sandbox-oauth2"}), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 201
    person = Client()
    person.force_login(admin_member.user)
    landed = land(person, sandbox.approve(response.json()["authorize_url"]))
    assert landed.status_code == 302 and landed["Location"].endswith("/confirm/")  # a member confirms first
    person.post(landed["Location"], {"decision": "link"})
    report = machine.get(f"/api/connections/{response.json()['id']}/test", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert report.json()["status"] == "succeeded"
