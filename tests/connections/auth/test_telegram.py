"""Telegram: the Bot API takes the bot token in the URL path (https://api.telegram.org/bot<token>/getMe).

`apply.path_prefix` (catalog/SPEC.md) puts `/bot{bot_token}` in front of the request path at
send time only. These are the attacks on that: a token that would change the path or the host
is a field error before anything is sent; the token never appears in the base URL, the
connection's config, an attempt's error, an Event, a log record, an exception a flow catches,
the response objects handed back, or the proxy's usage rows; it never travels to another host.
"""

import json
import logging
import socket

import pytest
import requests
import responses
from django.core.exceptions import ValidationError
from django.test import Client

from catalog.models import App
from catalog.schema import validate_app
from connections.auth import mode_for
from connections.errors import ConnectionFailure
from connections.models import Attempt, Event, ProxyCall
from connections.outbound import OutboundRefused
from connections.services.attempts import attempt_start
from connections.services.tokens import api_token_create

from ..bg_support import make_connection
from ..lifecycle_helpers import make_request
from ..outbound_support import Listener
from .contract_support import CATALOG, catalog_app

TOKEN = "7312459081:AAFq3Zt9LmW_x2rKc-Vb8nYdPe4HjS6uTo1"
GET_ME = f"https://api.telegram.org/bot{TOKEN}/getMe"
ME = {"ok": True, "result": {"id": 7312459081, "is_bot": True, "first_name": "Acme Alerts", "username": "acme_alerts_bot",
                             "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}}
# The token's secret half, alone and percent-encoded: neither may show anywhere.
LEAKS = (TOKEN, TOKEN.split(":")[1], TOKEN.replace(":", "%3A"))


def leaked(text) -> bool:
    return any(secret in str(text) for secret in LEAKS)


def start(tenant, member, token):
    return attempt_start(tenant=tenant, user=member.user, app=catalog_app("telegram"),
                         field_values={"bot_token": token}, request=make_request(member.user))  # fmt: skip


# --- a token that would move the request is refused before anything is sent ------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    [
        "7312459081:AAFq3Zt9LmW_x2rKc-Vb8nYdPe4HjS6u/o1",  # another path segment
        "7312459081:../../AAFq3Zt9LmW_x2rKc-Vb8nYdPe4HjS6",  # climbs out of /bot…
        "..",
        "7312459081:AAFq3Zt9LmW_x2rKc-Vb8nYd@evil.example",  # a user@host
        "7312459081:AAFq3Zt9LmW_x2rKc-Vb8nYdPe4HjS6?o1=x",  # starts a query
        "7312459081:AAFq3Zt9LmW_x2rKc-Vb8nYdPe4HjS6u#o1",  # starts a fragment
        "7312459081:AAFq3Zt9LmW_x2rKc-Vb8nYdPe4H%2fS6u",  # an escaped slash
        "7312459081:AAFq3Zt9LmW_x2rKc-Vb8nYdPe4HjS6uTo1/",
        " 7312459081:AAFq3Zt9LmW_x2rKc-Vb8nYdPe4HjS6uTo1",
        "7312459081:AAFq3Zt9LmW_x2rKc-Vb8nYdPe4HjS6uTo1\r\nHost: evil.example",
        "7312459081:AAFq3Zt9LmW_x2rKc-Vb8nYdPe4HjS6uTo",  # one short: not a bot token
    ],
)
def test_a_token_that_could_change_the_path_or_host_is_a_field_error_and_nothing_is_sent(token, tenant, operator_member):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        with pytest.raises(ValidationError) as refused:
            start(tenant, operator_member, token)
        assert len(mocked.calls) == 0
    assert set(refused.value.message_dict) == {"bot_token"}
    assert not any(token.strip() in message for message in refused.value.message_dict["bot_token"])
    assert not Attempt.all_objects.exists()


@pytest.mark.django_db
def test_the_session_refuses_an_unsafe_prefix_even_when_a_spec_forgot_its_pattern():
    """Defence in depth: an app row whose field lost its pattern still never builds such a path."""
    spec = {**CATALOG["telegram"], "fields": [{"key": "bot_token", "label": "Bot token", "secret": True}]}
    app = App.objects.create(slug="telegram-loose", name="Loose", category="communication", auth_mode="api_key", spec=spec)
    mode = mode_for(app)
    for token in ("1:a/../../x", "1:a?x=1", "1:a#x", "1:a%2fx", "1:a@evil.example", "1:a b", "1:a\r\nHost: x"):
        with pytest.raises(ValidationError) as refused:
            mode.split_values(app, {"bot_token": token})
        assert set(refused.value.message_dict) == {"bot_token"}
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
            with pytest.raises(ConnectionFailure) as failure:
                mode.session(app, {}, {"bot_token": token})
            assert len(mocked.calls) == 0
        assert token not in failure.value.message


def test_the_catalog_refuses_a_path_prefix_without_a_pattern_or_with_a_path_of_its_own():
    spec = CATALOG["telegram"]
    loose = {**spec, "fields": [{"key": "bot_token", "label": "Bot token", "secret": True}]}
    assert any("apply.path_prefix" in problem and "pattern" in problem for problem in validate_app(loose))
    for prefix in ("bot{bot_token}", "/bot{bot_token}/x", "/bot{bot_token}?x", "/bot{bot_token}#", "/%2e%2e/{bot_token}", "/../{bot_token}"):
        problems = validate_app({**spec, "apply": {"path_prefix": prefix}})
        assert any(problem.startswith("apply.path_prefix") for problem in problems), prefix
    unknown = validate_app({**spec, "apply": {"path_prefix": "/bot{other}"}})
    assert any("apply.path_prefix" in problem for problem in unknown)
    assert validate_app(spec) == []


# --- a failed test request says nothing of the token --------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500, "json": {"ok": False, "error_code": 500, "description": "Internal Server Error"}},
        {"body": requests.Timeout(f"HTTPSConnectionPool(host='api.telegram.org', port=443): Read timed out. url: /bot{TOKEN}/getMe")},
        {"body": requests.ConnectionError(f"HTTPSConnectionPool(host='api.telegram.org', port=443): Max retries exceeded with url: /bot{TOKEN}/getMe")},
        {"status": 401, "json": {"ok": False, "error_code": 401, "description": "Unauthorized"}},
    ],
    ids=["500", "timeout", "connection-error", "401"],
)
def test_a_failed_test_request_names_no_token_in_the_attempt_the_event_or_the_log(failure, tenant, operator_member, caplog):
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as mocked:
        mocked.add(responses.GET, GET_ME, **failure)
        attempt, url = start(tenant, operator_member, TOKEN)
        assert mocked.calls[0].request.url == GET_ME  # the token went on the wire, in the path only
    assert url is None and attempt.status == Attempt.Status.FAILED and attempt.error_message
    assert not leaked(attempt.error_message)
    events = list(Event.all_objects.filter(tenant=tenant))
    assert events and not any(leaked(event.detail) for event in events)
    assert not any(leaked(record.getMessage()) or leaked(record.exc_text or "") for record in caplog.records)
    assert not leaked(caplog.text)


def test_an_exception_a_flow_catches_carries_no_token(db):
    app = catalog_app("telegram")
    session = mode_for(app).session(app, {}, {"bot_token": TOKEN})
    assert not leaked(session.base_url) and session.base_url == "https://api.telegram.org"
    with responses.RequestsMock() as mocked:
        mocked.add(responses.GET, GET_ME, body=requests.ConnectionError(f"Max retries exceeded with url: /bot{TOKEN}/getMe"))
        with pytest.raises(requests.ConnectionError) as caught:
            session.get(session.base_url + "/getMe")
    exc = caught.value
    assert not leaked(str(exc)) and not leaked(repr(exc)) and not leaked(exc.args)
    assert exc.request is not None and exc.request.url == "https://api.telegram.org/getMe"
    assert exc.__context__ is None and exc.__cause__ is None


def test_the_answer_a_flow_gets_back_shows_the_path_without_the_token(db):
    app = catalog_app("telegram")
    session = mode_for(app).session(app, {}, {"bot_token": TOKEN})
    with responses.RequestsMock() as mocked:
        mocked.add(responses.GET, GET_ME, json=ME)
        response = session.get("https://api.telegram.org/getMe")
        assert mocked.calls[0].request.url == GET_ME
    assert response.json()["result"]["username"] == "acme_alerts_bot"
    assert response.url == "https://api.telegram.org/getMe"
    assert response.request.url == "https://api.telegram.org/getMe"
    assert not leaked(getattr(response.raw, "url", "") or "")


def test_the_token_never_travels_to_another_host(db):
    app = catalog_app("telegram")
    session = mode_for(app).session(app, {}, {"bot_token": TOKEN})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add(responses.GET, "https://evil.example/getMe", json={})
        for url in ("https://evil.example/getMe", "http://api.telegram.org/getMe", "https://api.telegram.org:8443/getMe"):
            with pytest.raises(OutboundRefused) as refused:
                session.get(url)
            assert not leaked(refused.value.message)
        assert len(mocked.calls) == 0


@pytest.mark.django_db
def test_on_the_wire_the_token_is_in_the_request_line_and_nowhere_in_errors_or_logs(settings, caplog, monkeypatch):
    """A real socket: urllib3's own exception text and debug log name the URL it requested."""
    caplog.set_level(logging.DEBUG)
    # Whatever set urllib3.connectionpool's own level earlier in the run, the settings' LOGGING
    # (urllib3 at WARNING) is what governs it in a process started with LOG_LEVEL=DEBUG.
    pool_logger = logging.getLogger("urllib3.connectionpool")
    monkeypatch.setattr(pool_logger, "level", pool_logger.level)  # put back after the test
    pool_logger.setLevel(logging.NOTSET)
    reply = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    with Listener(reply) as listener:
        settings.OUTBOUND_ALLOW = [f"127.0.0.1:{listener.port}"]
        spec = {**CATALOG["telegram"], "base_url": listener.url}
        app = App.objects.create(slug="telegram-local", name="Telegram", category="communication", auth_mode="api_key", spec=spec)
        session = mode_for(app).session(app, {}, {"bot_token": TOKEN})
        response = session.get(listener.url + "/getMe")
        assert response.status_code == 500 and not leaked(response.url)
    assert listener.requests[0].startswith(f"GET /bot{TOKEN}/getMe HTTP/1.1".encode())
    closed = Listener(b"")  # accepts, reads the request, then closes without an answer
    closed.reply = b""
    with closed:
        settings.OUTBOUND_ALLOW = [f"127.0.0.1:{closed.port}"]
        spec = {**CATALOG["telegram"], "base_url": closed.url}
        app = App.objects.create(slug="telegram-closed", name="Telegram", category="communication", auth_mode="api_key", spec=spec)
        session = mode_for(app).session(app, {}, {"bot_token": TOKEN})
        with pytest.raises(requests.ConnectionError) as caught:
            session.get(closed.url + "/getMe")
    assert not leaked(str(caught.value)) and not leaked(repr(caught.value))
    # Nothing listening: urllib3's MaxRetryError says "Max retries exceeded with url: /bot<token>/getMe".
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    settings.OUTBOUND_ALLOW = [f"127.0.0.1:{port}"]
    spec = {**CATALOG["telegram"], "base_url": f"http://127.0.0.1:{port}"}
    app = App.objects.create(slug="telegram-refused", name="Telegram", category="communication", auth_mode="api_key", spec=spec)
    session = mode_for(app).session(app, {}, {"bot_token": TOKEN})
    with pytest.raises(requests.ConnectionError) as caught:
        session.get(f"http://127.0.0.1:{port}/getMe")
    assert "Max retries exceeded" in str(caught.value) and "/getMe" in str(caught.value)
    assert not leaked(str(caught.value)) and not leaked(repr(caught.value))
    assert not leaked(caplog.text)


@pytest.mark.django_db
def test_a_linked_bot_shows_its_username_and_nowhere_its_token(tenant, operator_member, client_for):
    with responses.RequestsMock() as mocked:
        mocked.add(responses.GET, GET_ME, json=ME)
        attempt, _url = start(tenant, operator_member, TOKEN)
    assert attempt.status == Attempt.Status.SUCCEEDED, attempt.error_message
    connection = attempt.connection
    assert connection.account_label == "acme_alerts_bot"
    assert not any(leaked(value) for value in connection.config.values())
    html = client_for(operator_member).get(connection.get_absolute_url()).content.decode()
    assert "acme_alerts_bot" in html and not leaked(html)
    assert not any(leaked(event.detail) for event in Event.all_objects.filter(tenant=tenant))


# --- the proxy ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_proxied_call_reaches_the_bot_path_and_its_usage_row_shows_the_path_only(tenant, admin_member):
    app = catalog_app("telegram")
    connection = make_connection(tenant, app, {"bot_token": TOKEN}, account_label="acme_alerts_bot")
    _, raw = api_token_create(tenant=tenant, name="Flow token", actor=admin_member.user, scopes=("proxy",))
    with responses.RequestsMock() as mocked:
        mocked.add(responses.GET, GET_ME, json=ME, headers={"X-Echo": f"/bot{TOKEN}/getMe"})
        answer = Client().get(f"/api/proxy/{connection.pk}/getMe", HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert [call.request.url for call in mocked.calls] == [GET_ME]
        body = b"".join(answer.streaming_content) if answer.streaming else answer.content
        answer.close()
    assert answer.status_code == 200 and json.loads(body)["result"]["username"] == "acme_alerts_bot"
    assert not any(leaked(value) for value in answer.headers.values())  # an echoed token is dropped
    call = ProxyCall.all_objects.get()
    assert call.path == "/getMe" and call.status == 200
    assert not any(leaked(value) for value in connection.config.values())


@pytest.mark.django_db(transaction=True)
def test_a_proxied_path_cannot_reach_another_bot_or_host(tenant, admin_member):
    app = catalog_app("telegram")
    connection = make_connection(tenant, app, {"bot_token": TOKEN})
    _, raw = api_token_create(tenant=tenant, name="Flow token", actor=admin_member.user, scopes=("proxy",))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add(responses.GET, GET_ME, json=ME)
        for path in ("..%2fbot1:other%2fgetMe", "%2e%2e/getMe", "//evil.example/getMe", "@evil.example/getMe"):
            answer = Client().get(f"/api/proxy/{connection.pk}/{path}", HTTP_AUTHORIZATION=f"Bearer {raw}")
            assert answer.status_code in (400, 404), path
        assert len(mocked.calls) == 0
