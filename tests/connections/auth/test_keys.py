"""API key, basic, custom and OAuth1 modes: signing requests from the spec's data; probe and errors."""

from urllib.parse import parse_qs

import pytest
import requests
import responses
from django.test import override_settings

from connections import probe
from connections.auth import MODES, get_mode
from connections.errors import ConnectionFailure, explain, sanitize_provider_text
from connections.models import Attempt, ErrorCode
from connections.services.attempts import attempt_start

from ..lifecycle_helpers import AUTH, BASE, make_app, make_request

pytestmark = pytest.mark.django_db


def test_registry_has_one_mode_per_auth_mode():
    assert set(MODES) == {"oauth2", "oauth1", "api_key", "basic", "custom", "oauth2_client_credentials"}
    with pytest.raises(ValueError):
        get_mode("saml")


@responses.activate
def test_api_key_session_puts_key_in_headers_and_query():
    app = make_app("api_key")
    responses.get("https://eu.acme.test/v1/things", json={})
    session = get_mode("api_key").session(app, {"subdomain": "eu"}, {"api_key": "sekrit"})
    assert session.base_url == "https://eu.acme.test/v1"
    session.get(session.base_url + "/things")
    sent = responses.calls[0].request
    assert sent.headers["X-API-Key"] == "sekrit"
    assert parse_qs(sent.url.split("?")[1]) == {"client": ["eu"]}


@responses.activate
def test_spec_static_headers_are_sent():
    app = make_app("basic", headers={"X-Api-Version": "2024-01"})
    responses.get(f"{BASE}/me", json={"account": {"email": "x@y"}})
    assert probe.run_test(app, {"username": "u"}, {"password": "p"}) == "x@y"
    assert responses.calls[0].request.headers["X-Api-Version"] == "2024-01"


@responses.activate
def test_custom_session_uses_operator_rows():
    app = make_app("custom")
    responses.get("https://x.test/api/ping", json={})
    config = {"base_url": "https://x.test/api", "test_path": "/ping"}
    assert probe.run_test(app, config, {"headers": {"Authorization": "Token t"}, "query": {"v": "1"}}) == ""
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == "Token t" and sent.url.endswith("?v=1")


def auth_header(index) -> str:
    value = responses.calls[index].request.headers["Authorization"]
    return value.decode() if isinstance(value, bytes) else value


@responses.activate
def test_oauth1_start_complete_and_signing(tenant, operator_member):
    app = make_app("oauth1")
    responses.post(f"{AUTH}/oauth1/request_token", body="oauth_token=rt&oauth_token_secret=rts&oauth_callback_confirmed=true")
    request = make_request(operator_member.user)
    attempt, url = attempt_start(tenant=tenant, user=operator_member.user, app=app, request=request)
    assert url == f"{AUTH}/oauth1/authorize?oauth_token=rt"
    signed = auth_header(0)
    assert 'oauth_consumer_key="client-123"' in signed and "oauth_callback=" in signed
    assert request.session[f"connections.oauth_state.{attempt.state_hash}"] == str(attempt.id)

    responses.post(f"{AUTH}/oauth1/access_token", body="oauth_token=at&oauth_token_secret=ats")
    credentials = get_mode("oauth1").complete(attempt, request=request, params={"oauth_token": "rt", "oauth_verifier": "v"})
    assert credentials == {"oauth_token": "at", "oauth_token_secret": "ats"}
    header = auth_header(1)
    assert 'oauth_verifier="v"' in header and 'oauth_token="rt"' in header

    responses.get(f"{BASE}/me", json={"account": {"email": "o@acme.test"}})
    assert probe.run_test(app, {}, credentials) == "o@acme.test"
    header = auth_header(2)
    assert 'oauth_token="at"' in header and 'oauth_signature_method="HMAC-SHA1"' in header


@responses.activate
def test_oauth1_request_token_refused_fails_attempt(tenant, operator_member):
    app = make_app("oauth1")
    responses.post(f"{AUTH}/oauth1/request_token", status=401, body="oauth_problem=consumer_key_unknown&secret=leak")
    attempt, url = attempt_start(tenant=tenant, user=operator_member.user, app=app, request=make_request())
    assert url is None
    assert attempt.status == Attempt.Status.FAILED
    assert attempt.error_code == ErrorCode.AUTHORIZATION_REJECTED
    assert "leak" not in attempt.error_message


@responses.activate
def test_oauth1_access_token_server_error_is_app_unavailable(tenant, operator_member):
    app = make_app("oauth1")
    responses.post(f"{AUTH}/oauth1/request_token", body="oauth_token=rt&oauth_token_secret=rts")
    responses.post(f"{AUTH}/oauth1/access_token", status=502)
    request = make_request()
    attempt, _url = attempt_start(tenant=tenant, user=operator_member.user, app=app, request=request)
    with pytest.raises(ConnectionFailure) as excinfo:
        get_mode("oauth1").complete(attempt, request=request, params={"oauth_token": "rt", "oauth_verifier": "v"})
    assert excinfo.value.code == ErrorCode.APP_UNAVAILABLE


@pytest.mark.parametrize(
    "status,existing,code",
    [
        (401, False, ErrorCode.TEST_FAILED),
        (403, False, ErrorCode.TEST_FAILED),
        (401, True, ErrorCode.CONNECTION_EXPIRED),
        (404, False, ErrorCode.TEST_FAILED),
        (500, False, ErrorCode.APP_UNAVAILABLE),
        (503, True, ErrorCode.APP_UNAVAILABLE),
        (429, False, ErrorCode.APP_UNAVAILABLE),
    ],
)
@responses.activate
def test_probe_maps_statuses(status, existing, code):
    app = make_app("basic")
    responses.get(f"{BASE}/me", status=status, headers={"Retry-After": "5"})
    with pytest.raises(ConnectionFailure) as excinfo:
        probe.run_test(app, {"username": "u"}, {"password": "p"}, existing=existing)
    assert excinfo.value.code == code
    assert excinfo.value.http_status == status
    if status == 429:
        assert excinfo.value.retry_after == 5.0


@pytest.mark.parametrize("exc", [requests.ConnectTimeout(), requests.ReadTimeout(), requests.ConnectionError()])
@responses.activate
def test_probe_network_failures_are_app_unavailable(exc):
    app = make_app("basic")
    responses.get(f"{BASE}/me", body=exc)
    with override_settings(HTTP_TIMEOUT=1.5), pytest.raises(ConnectionFailure) as excinfo:
        probe.run_test(app, {"username": "u"}, {"password": "p"})
    assert excinfo.value.code == ErrorCode.APP_UNAVAILABLE


@responses.activate
def test_probe_sends_timeout():
    app = make_app("basic")
    seen = {}

    def callback(request):
        seen["timeout"] = request.req_kwargs.get("timeout")
        return 200, {}, '{"account": {"email": "e"}}'

    responses.add_callback(responses.GET, f"{BASE}/me", callback=callback)
    with override_settings(HTTP_TIMEOUT=2.5):
        probe.run_test(app, {"username": "u"}, {"password": "p"})
    # The outbound layer bounds the whole exchange by HTTP_TIMEOUT: each socket gets what is
    # left of that deadline (connect, read), never more.
    connect, read = seen["timeout"]
    assert 2.0 < connect <= 2.5 and 2.0 < read <= 2.5


def test_account_from_dotted_path():
    assert probe.account_from({"a": {"b": [{"c": "x"}]}}, "a.b.0.c") == "x"
    assert probe.account_from({"a": {}}, "a.b") == ""
    assert probe.account_from({"a": {"b": 5}}, "a.b") == "5"
    assert probe.account_from({"a": {"b": {"c": 1}}}, "a.b") == ""


def test_explain_has_words_for_every_code():
    for code, title in [
        ("authorization_rejected", "Authorization rejected"),
        ("connection_expired", "Connection expired"),
        ("test_failed", "Test failed"),
        ("app_unavailable", "App unavailable"),
    ]:
        words = explain(code)
        assert str(words["title"]) == title
        assert str(words["cause"]) and str(words["remedy"])
    assert str(explain("nonsense")["title"]) == "Error"


def test_sanitize_provider_text_removes_token_like_strings_and_truncates():
    text = sanitize_provider_text("bad <b>token</b> ya29.a0AfH6SMBx3kQ9v8t7Zz1234567890abcdef\nnext line" + "x " * 200)
    assert "ya29" not in text and "<" not in text and "\n" not in text
    assert len(text) <= 160


def test_connection_failure_message_is_the_str():
    failure = ConnectionFailure("test_failed", "Nope.", http_status=401)
    assert str(failure) == "Nope." and failure.code == ErrorCode.TEST_FAILED
    assert str(failure.explanation["title"]) == "Test failed"


@pytest.mark.parametrize("existing, code", [(False, ErrorCode.TEST_FAILED), (True, ErrorCode.CONNECTION_EXPIRED)])
@responses.activate
def test_probe_refuses_a_200_answer_that_fails_test_expect(existing, code):
    """Slack answers 200 {"ok": false, "error": "invalid_auth"} to a bad token."""
    app = make_app("basic", test={"method": "GET", "path": "/me", "account": "team", "expect": {"ok": True}})
    responses.get(f"{BASE}/me", json={"ok": False, "error": "invalid_auth"})
    with pytest.raises(ConnectionFailure) as excinfo:
        probe.run_test(app, {"username": "u"}, {"password": "p"}, existing=existing)
    assert excinfo.value.code == code
    assert "ok is false, not true (invalid_auth)" in excinfo.value.message


@responses.activate
def test_probe_accepts_a_200_answer_that_meets_test_expect():
    app = make_app("basic", test={"method": "GET", "path": "/me", "account": "team", "expect": {"ok": True}})
    responses.get(f"{BASE}/me", json={"ok": True, "team": "Acme HQ"})
    assert probe.run_test(app, {"username": "u"}, {"password": "p"}) == "Acme HQ"
