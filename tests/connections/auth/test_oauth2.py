"""OAuth2 mode against a mocked provider: authorize URL, code exchange, refresh, revoke, signing."""

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.test import override_settings

from connections.auth import get_mode
from connections.errors import ConnectionFailure
from connections.models import Attempt, ErrorCode
from connections.services.attempts import attempt_start
from vault.services import secret_open

from ..lifecycle_helpers import AUTH, BASE, SPECS, make_app, make_request

pytestmark = pytest.mark.django_db

mode = get_mode("oauth2")


@pytest.fixture
def app(db):
    return make_app("oauth2")


@pytest.fixture
def started(app, tenant, operator_member):
    request = make_request(operator_member.user)
    attempt, url = attempt_start(
        tenant=tenant, user=operator_member.user, app=app, name="", scopes=None, field_values={}, request=request
    )
    return attempt, url, request


def query(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_start_builds_authorize_url_with_pkce_state_and_params(started, app):
    attempt, url, request = started
    assert url.startswith(f"{AUTH}/authorize?")
    q = query(url)
    assert q["response_type"] == "code"
    assert q["client_id"] == "client-123"
    assert q["redirect_uri"] == app.oauth_client.redirect_uri
    assert q["scope"] == "profile read"
    assert q["access_type"] == "offline"
    assert q["code_challenge_method"] == "S256"
    assert len(q["state"]) >= 40
    # Only the state's hash is stored, and the session knows the attempt under that hash.
    assert attempt.state_hash == hashlib.sha256(q["state"].encode()).hexdigest()
    assert q["state"] not in str(Attempt.all_objects.filter(pk=attempt.pk).values().get())
    assert request.session[f"connections.oauth_state.{attempt.state_hash}"] == str(attempt.id)
    verifier = secret_open(secret=attempt.pending_secret, purpose="attempt")["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert q["code_challenge"] == challenge
    assert attempt.status == Attempt.Status.PENDING
    assert attempt.scopes == ["profile", "read"]


@responses.activate
def test_complete_exchanges_code_with_same_redirect_uri_and_verifier(started, app):
    attempt, url, request = started
    responses.post(
        f"{AUTH}/token",
        json={"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-1", "scope": "profile"},
    )
    credentials = mode.complete(attempt, request=request, params={"code": "the-code", "state": "x"})
    body = parse_qs(responses.calls[0].request.body)
    verifier = secret_open(secret=attempt.pending_secret, purpose="attempt")["code_verifier"]
    assert body["grant_type"] == ["authorization_code"]
    assert body["code"] == ["the-code"]
    assert body["redirect_uri"] == [app.oauth_client.redirect_uri]
    assert body["code_verifier"] == [verifier]
    assert body["client_id"] == ["client-123"]
    assert body["client_secret"] == ["client-secret-xyz"]
    assert credentials["access_token"] == "at-1"
    assert credentials["refresh_token"] == "rt-1"
    assert credentials["scope"] == ["profile"]  # granted, not requested
    assert abs(credentials["expires_at"] - (time.time() + 3600)) < 30


@responses.activate
def test_complete_with_basic_client_auth_sends_credentials_in_header(tenant, operator_member):
    app = make_app("oauth2", oauth2={**SPECS["oauth2"]["oauth2"], "client_auth": "basic", "scope_separator": ","})
    request = make_request(operator_member.user)
    attempt, url = attempt_start(tenant=tenant, user=operator_member.user, app=app, scopes=["read", "write"], request=request)
    assert query(url)["scope"] == "read,write"
    responses.post(f"{AUTH}/token", json={"access_token": "at", "token_type": "bearer", "expires_in": 60})
    credentials = mode.complete(attempt, request=request, params={"code": "c"})
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"client-123:client-secret-xyz").decode()
    assert "client_secret" not in parse_qs(sent.body)
    assert credentials["scope"] == ["read", "write"]  # none in the answer: the requested ones
    assert credentials["refresh_token"] is None


@responses.activate
def test_token_exchange_refused_is_authorization_rejected_without_echoing_the_body(started):
    attempt, url, request = started
    responses.post(
        f"{AUTH}/token", status=400,
        json={"error": "invalid_grant", "error_description": "code abcdefghijklmnopqrstuvwxyz0123456789 expired"},
    )
    with pytest.raises(ConnectionFailure) as excinfo:
        mode.complete(attempt, request=request, params={"code": "c"})
    assert excinfo.value.code == ErrorCode.AUTHORIZATION_REJECTED
    assert excinfo.value.provider_error == "invalid_grant"
    assert "abcdefghijklmnopqrstuvwxyz0123456789" not in excinfo.value.message
    assert "expired" in excinfo.value.message


@responses.activate
def test_token_endpoint_500_and_429_are_app_unavailable(started):
    attempt, url, request = started
    responses.post(f"{AUTH}/token", status=503, body="down")
    with pytest.raises(ConnectionFailure) as excinfo:
        mode.complete(attempt, request=request, params={"code": "c"})
    assert excinfo.value.code == ErrorCode.APP_UNAVAILABLE
    assert excinfo.value.http_status == 503
    responses.replace(responses.POST, f"{AUTH}/token", status=429, headers={"Retry-After": "7"}, body="slow")
    with pytest.raises(ConnectionFailure) as excinfo:
        mode.complete(attempt, request=request, params={"code": "c"})
    assert excinfo.value.code == ErrorCode.APP_UNAVAILABLE
    assert excinfo.value.retry_after == 7.0


@responses.activate
def test_token_endpoint_timeout_is_app_unavailable(started):
    attempt, url, request = started
    responses.post(f"{AUTH}/token", body=requests.ReadTimeout("slow"))
    with override_settings(HTTP_TIMEOUT=1.0), pytest.raises(ConnectionFailure) as excinfo:
        mode.complete(attempt, request=request, params={"code": "c"})
    assert excinfo.value.code == ErrorCode.APP_UNAVAILABLE
    assert "1 seconds" in excinfo.value.message


def test_issuer_mismatch_is_refused_before_any_token_request(tenant, operator_member):
    spec = SPECS["oauth2"]["oauth2"]
    app = make_app("oauth2", oauth2={**spec, "issuer": AUTH})
    request = make_request(operator_member.user)
    attempt, _url = attempt_start(tenant=tenant, user=operator_member.user, app=app, request=request)
    with responses.RequestsMock() as mocked, pytest.raises(ConnectionFailure) as excinfo:
        mode.complete(attempt, request=request, params={"code": "c", "iss": "https://evil.test"})
    assert len(mocked.calls) == 0
    assert excinfo.value.code == ErrorCode.AUTHORIZATION_REJECTED


@responses.activate
def test_refresh_keeps_old_refresh_token_when_none_returned(app):
    responses.post(f"{AUTH}/token", json={"access_token": "at-2", "token_type": "Bearer", "expires_in": 60})
    new = mode.refresh(app, {}, {"access_token": "at-1", "refresh_token": "rt-1", "scope": ["read"]})
    body = parse_qs(responses.calls[0].request.body)
    assert body["grant_type"] == ["refresh_token"]
    assert body["refresh_token"] == ["rt-1"]
    assert body["client_id"] == ["client-123"]
    assert new["access_token"] == "at-2"
    assert new["refresh_token"] == "rt-1"
    assert new["scope"] == ["read"]


@responses.activate
def test_refresh_rotates_refresh_token(app):
    responses.post(f"{AUTH}/token", json={"access_token": "at-2", "token_type": "Bearer", "refresh_token": "rt-2"})
    assert mode.refresh(app, {}, {"access_token": "at-1", "refresh_token": "rt-1"})["refresh_token"] == "rt-2"


@pytest.mark.parametrize("error", ["invalid_grant", "invalid_client"])
@responses.activate
def test_refresh_dead_grant_is_connection_expired(app, error):
    responses.post(f"{AUTH}/token", status=400, json={"error": error})
    with pytest.raises(ConnectionFailure) as excinfo:
        mode.refresh(app, {}, {"access_token": "at-1", "refresh_token": "rt-1"})
    assert excinfo.value.code == ErrorCode.CONNECTION_EXPIRED
    assert excinfo.value.provider_error == error


@responses.activate
def test_refresh_transient_failures_are_app_unavailable(app):
    responses.post(f"{AUTH}/token", status=429, headers={"Retry-After": "3"})
    with pytest.raises(ConnectionFailure) as excinfo:
        mode.refresh(app, {}, {"access_token": "at-1", "refresh_token": "rt-1"})
    assert (excinfo.value.code, excinfo.value.retry_after) == (ErrorCode.APP_UNAVAILABLE, 3.0)
    responses.replace(responses.POST, f"{AUTH}/token", body=requests.ConnectTimeout())
    with pytest.raises(ConnectionFailure) as excinfo:
        mode.refresh(app, {}, {"access_token": "at-1", "refresh_token": "rt-1"})
    assert excinfo.value.code == ErrorCode.APP_UNAVAILABLE


def test_refresh_without_refresh_token_is_connection_expired(app):
    with pytest.raises(ConnectionFailure) as excinfo:
        mode.refresh(app, {}, {"access_token": "at-1", "refresh_token": None})
    assert excinfo.value.code == ErrorCode.CONNECTION_EXPIRED


@responses.activate
def test_revoke_sends_refresh_then_access_token(app):
    responses.post(f"{AUTH}/revoke", status=200)
    mode.revoke(app, {}, {"access_token": "at-1", "refresh_token": "rt-1"})
    bodies = [parse_qs(call.request.body) for call in responses.calls]
    assert [(b["token"][0], b["token_type_hint"][0]) for b in bodies] == [
        ("rt-1", "refresh_token"), ("at-1", "access_token"),
    ]
    assert bodies[0]["client_id"] == ["client-123"]


@responses.activate
def test_revoke_failure_raises(app):
    responses.post(f"{AUTH}/revoke", status=503)
    with pytest.raises(ConnectionFailure) as excinfo:
        mode.revoke(app, {}, {"access_token": "at-1", "refresh_token": "rt-1"})
    assert excinfo.value.code == ErrorCode.APP_UNAVAILABLE


def test_revoke_without_revoke_url_does_nothing(tenant):
    spec = SPECS["oauth2"]["oauth2"]
    app = make_app("oauth2", oauth2={**spec, "revoke_url": None})
    with responses.RequestsMock() as mocked:
        mode.revoke(app, {}, {"access_token": "at-1"})
        assert len(mocked.calls) == 0


@responses.activate
def test_session_signs_with_bearer_and_has_timeout(app):
    responses.get(f"{BASE}/me", json={})
    session = mode.session(app, {}, {"access_token": "at-9", "token_type": "Bearer"})
    assert session.base_url == BASE
    session.get(f"{BASE}/me")
    assert responses.calls[0].request.headers["Authorization"] == "Bearer at-9"


def test_start_without_oauth_client_fails_the_attempt(tenant, operator_member):
    app = make_app("oauth2", client=False)
    attempt, url = attempt_start(tenant=tenant, user=operator_member.user, app=app, request=make_request(operator_member.user))
    assert url is None
    assert attempt.status == Attempt.Status.FAILED
    assert attempt.error_code == ErrorCode.APP_UNAVAILABLE
    assert "OAuth client registration" in attempt.error_message


@responses.activate
def test_session_uses_the_providers_own_token_header(tenant):
    app = make_app("oauth2", oauth2={**SPECS["oauth2"]["oauth2"], "access_token_header": "X-Shop-Access-Token"})
    responses.get(f"{BASE}/me", json={})
    mode.session(app, {}, {"access_token": "at-9"}).get(f"{BASE}/me")
    headers = responses.calls[0].request.headers
    assert headers["X-Shop-Access-Token"] == "at-9" and "Authorization" not in headers
