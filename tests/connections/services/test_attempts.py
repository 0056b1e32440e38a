"""Attempt services: start, callback state checks, test before create, re-authorization."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.core.exceptions import ValidationError
from django.utils import timezone

from connections.errors import CallbackRejected
from connections.models import Attempt, Connection, ConnectionStatus, ErrorCode, Event, HealthCheck
from connections.services.attempts import (
    attempt_awaits_account_confirmation,
    attempt_awaits_link_confirmation,
    attempt_cancel,
    attempt_complete_callback,
    attempt_confirm_account,
    attempt_confirm_link,
    attempt_start,
    attempts_abandon_stale,
)
from vault.models import Secret
from vault.services import secret_open

from ..lifecycle_helpers import AUTH, BASE, make_app, make_request

pytestmark = pytest.mark.django_db

TOKEN = {"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-1", "scope": "profile read"}


@pytest.fixture
def app(db):
    return make_app("oauth2")


def start(app, tenant, member, request=None, **kwargs):
    request = request or make_request(member.user)
    attempt, url = attempt_start(tenant=tenant, user=member.user, app=app, request=request, **kwargs)
    state = parse_qs(urlsplit(url).query)["state"][0] if url else None
    return attempt, state, request


def token_calls():
    return [c for c in responses.calls if c.request.url == f"{AUTH}/token"]


@responses.activate
def test_oauth2_callback_tests_then_creates_active_connection(app, tenant, operator_member):
    attempt, state, request = start(app, tenant, operator_member)
    responses.post(f"{AUTH}/token", json=TOKEN)
    responses.get(f"{BASE}/me", json={"account": {"email": "ann@acme.test"}})
    attempt = attempt_complete_callback(request=request, slug=app.slug, params={"code": "c", "state": state})
    assert attempt.status == Attempt.Status.SUCCEEDED
    connection = attempt.connection
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.name == "My first Acme CRM account"
    assert connection.account_label == "ann@acme.test"
    assert connection.scopes == ["profile", "read"]
    assert connection.created_by == operator_member.user
    assert connection.authorized_at is not None and connection.expires_at > timezone.now()
    assert secret_open(secret=connection.credentials, purpose="connection")["access_token"] == "at-1"
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer at-1"
    assert attempt.pending_secret is None and attempt.state_hash == ""
    kinds = list(Event.objects.for_tenant(tenant).filter(connection=connection).values_list("kind", flat=True))
    assert set(kinds) >= {"created", "tested"}
    assert HealthCheck.objects.filter(connection=connection, kind="test", ok=True).count() == 1
    # The verifier is gone from the vault: only the connection's secret (and the client's) remain.
    assert set(Secret.objects.values_list("purpose", flat=True)) == {"connection", "oauth_client"}


@responses.activate
def test_failed_test_creates_nothing_and_keeps_the_error(app, tenant, operator_member):
    attempt, state, request = start(app, tenant, operator_member)
    responses.post(f"{AUTH}/token", json=TOKEN)
    responses.get(f"{BASE}/me", status=401)
    attempt = attempt_complete_callback(request=request, slug=app.slug, params={"code": "c", "state": state})
    assert attempt.status == Attempt.Status.FAILED
    assert attempt.error_code == ErrorCode.TEST_FAILED
    assert Connection.objects.for_tenant(tenant).count() == 0
    assert Event.objects.for_tenant(tenant).filter(kind="attempt_failed").count() == 1


@responses.activate
def test_denied_consent_fails_with_authorization_rejected_without_token_request(app, tenant, operator_member):
    attempt, state, request = start(app, tenant, operator_member)
    attempt = attempt_complete_callback(
        request=request, slug=app.slug, params={"error": "access_denied", "state": state}
    )
    assert attempt.status == Attempt.Status.FAILED
    assert attempt.error_code == ErrorCode.AUTHORIZATION_REJECTED
    assert token_calls() == []
    assert Connection.objects.for_tenant(tenant).count() == 0


@pytest.mark.parametrize("case", ["missing", "wrong", "replayed", "expired", "other_session", "unknown_app"])
@responses.activate
def test_state_attacks_are_refused_without_token_request(app, tenant, operator_member, case):
    attempt, state, request = start(app, tenant, operator_member)
    responses.post(f"{AUTH}/token", json=TOKEN)
    responses.get(f"{BASE}/me", json={"account": {"email": "ann@acme.test"}})
    params = {"code": "c", "state": state}
    slug = app.slug
    if case == "missing":
        params.pop("state")
    elif case == "wrong":
        params["state"] = state[:-2] + "xx"
    elif case == "replayed":
        attempt_complete_callback(request=request, slug=slug, params=dict(params))
        responses.calls.reset()
        Connection.all_objects.all().delete()
    elif case == "expired":
        Attempt.all_objects.filter(pk=attempt.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif case == "other_session":
        request = make_request(operator_member.user)
    elif case == "unknown_app":
        slug = "nope"
    with pytest.raises(CallbackRejected) as excinfo:
        attempt_complete_callback(request=request, slug=slug, params=params)
    assert excinfo.value.code == ErrorCode.AUTHORIZATION_REJECTED
    assert token_calls() == []
    assert Connection.all_objects.count() == 0
    attempt.refresh_from_db()
    if case == "expired":
        assert attempt.status == Attempt.Status.ABANDONED
        assert attempt.pending_secret is None


@responses.activate
def test_unbound_attempt_from_api_token_needs_no_session_but_a_member_confirms(app, tenant, operator_member):
    request = make_request(operator_member.user)
    request.api_token = object()
    attempt, state, _ = start(app, tenant, operator_member, request=request)
    responses.post(f"{AUTH}/token", json=TOKEN)
    responses.get(f"{BASE}/me", json={"account": {"email": "ann@acme.test"}})
    attempt = attempt_complete_callback(
        request=make_request(operator_member.user), slug=app.slug, params={"code": "c", "state": state}
    )
    assert attempt.status == Attempt.Status.PENDING
    assert attempt_awaits_link_confirmation(attempt, operator_member.user)
    assert not Connection.all_objects.exists()
    attempt = attempt_confirm_link(attempt=attempt, actor=operator_member.user)
    assert attempt.status == Attempt.Status.SUCCEEDED
    assert attempt.connection.account_label == "ann@acme.test"
    assert attempt.connection.created_by == operator_member.user


@responses.activate
@pytest.mark.parametrize("who", ["anonymous", "outsider", "viewer"])
def test_unbound_attempt_finished_by_a_non_member_links_nothing_and_revokes(
    app, tenant, operator_member, outsider_member, viewer_member, who
):
    request = make_request(operator_member.user)
    request.api_token = object()
    attempt, state, _ = start(app, tenant, operator_member, request=request)
    responses.post(f"{AUTH}/token", json=TOKEN)
    revoke = responses.post(f"{AUTH}/revoke")
    user = {"anonymous": None, "outsider": outsider_member.user, "viewer": viewer_member.user}[who]
    attempt = attempt_complete_callback(request=make_request(user), slug=app.slug, params={"code": "c", "state": state})
    assert attempt.status == Attempt.Status.FAILED
    assert attempt.error_code == ErrorCode.AUTHORIZATION_REJECTED
    assert "Acme" in attempt.error_message
    assert not Connection.all_objects.exists()
    assert revoke.call_count == 2  # the refresh and the access token just issued
    assert Event.objects.for_tenant(tenant).filter(kind="link_refused").get().detail["grant"] == "revoked"


def test_start_validates_name_and_scopes(app, tenant, operator_member):
    with pytest.raises(ValidationError) as excinfo:
        attempt_start(tenant=tenant, user=operator_member.user, app=app, scopes=["admin"], request=make_request())
    assert "scopes" in excinfo.value.message_dict
    Connection.all_objects.create(tenant=tenant, app=app, name="Sales")
    with pytest.raises(ValidationError) as excinfo:
        attempt_start(tenant=tenant, user=operator_member.user, app=app, name="Sales", request=make_request())
    assert excinfo.value.message_dict["name"] == ["You already have a Acme CRM connection named “Sales”."]
    assert Attempt.objects.for_tenant(tenant).count() == 0


@responses.activate
def test_api_key_attempt_is_tested_at_once(tenant, operator_member):
    app = make_app("api_key")
    responses.get("https://acme.acme.test/v1/me", json={"account": {"email": "key@acme.test"}})
    attempt, url = attempt_start(
        tenant=tenant, user=operator_member.user, app=app, name="Key",
        field_values={"subdomain": "acme", "api_key": "k-123"}, request=make_request(),
    )
    assert url is None
    assert attempt.status == Attempt.Status.SUCCEEDED
    sent = responses.calls[0].request
    assert sent.headers["X-API-Key"] == "k-123"
    assert "client=acme" in sent.url
    connection = attempt.connection
    assert connection.config == {"subdomain": "acme"}
    assert secret_open(secret=connection.credentials) == {"api_key": "k-123"}
    assert connection.account_label == "key@acme.test"


@responses.activate
def test_api_key_wrong_key_fails_and_creates_nothing(tenant, operator_member):
    app = make_app("api_key")
    responses.get("https://acme.acme.test/v1/me", status=403)
    attempt, url = attempt_start(
        tenant=tenant, user=operator_member.user, app=app,
        field_values={"subdomain": "acme", "api_key": "bad"}, request=make_request(),
    )
    assert attempt.status == Attempt.Status.FAILED
    assert attempt.error_code == ErrorCode.TEST_FAILED
    assert "bad" not in attempt.error_message
    assert Connection.objects.for_tenant(tenant).count() == 0
    assert not Secret.objects.filter(purpose="attempt").exists()


def test_required_fields_are_checked(tenant, operator_member):
    app = make_app("api_key")
    with pytest.raises(ValidationError) as excinfo:
        attempt_start(tenant=tenant, user=operator_member.user, app=app, field_values={"subdomain": "acme"}, request=make_request())
    assert excinfo.value.message_dict == {"api_key": ["API key is required."]}


@responses.activate
def test_basic_and_custom_modes(tenant, operator_member):
    basic = make_app("basic")
    responses.get(f"{BASE}/me", json={"account": {"email": "b@acme.test"}})
    attempt, _ = attempt_start(
        tenant=tenant, user=operator_member.user, app=basic,
        field_values={"username": "bob", "password": "pw"}, request=make_request(),
    )
    assert attempt.status == Attempt.Status.SUCCEEDED
    assert responses.calls[0].request.headers["Authorization"] == "Basic Ym9iOnB3"

    custom = make_app("custom")
    responses.get("https://rest.example.test/api/ping", json={"ok": True})
    attempt, _ = attempt_start(
        tenant=tenant, user=operator_member.user, app=custom,
        field_values={
            "base_url": "https://rest.example.test/api", "test_path": "/ping",
            "headers": [{"name": "X-Token", "value": "tok"}], "query": {"key": "q1"},
        },
        request=make_request(),
    )
    assert attempt.status == Attempt.Status.SUCCEEDED, attempt.error_message
    sent = responses.calls[-1].request
    assert sent.headers["X-Token"] == "tok" and "key=q1" in sent.url
    assert secret_open(secret=attempt.connection.credentials) == {"headers": {"X-Token": "tok"}, "query": {"key": "q1"}}


@responses.activate
def test_app_unavailable_on_test(tenant, operator_member):
    app = make_app("basic")
    responses.get(f"{BASE}/me", status=502)
    attempt, _ = attempt_start(
        tenant=tenant, user=operator_member.user, app=app,
        field_values={"username": "bob", "password": "pw"}, request=make_request(),
    )
    assert attempt.error_code == ErrorCode.APP_UNAVAILABLE


def _connect(app, tenant, member, email="ann@acme.test", token=None):
    attempt, state, request = start(app, tenant, member)
    responses.post(f"{AUTH}/token", json=token or TOKEN)
    responses.get(f"{BASE}/me", json={"account": {"email": email}})
    attempt = attempt_complete_callback(request=request, slug=app.slug, params={"code": "c", "state": state})
    responses.reset()
    return attempt.connection


@responses.activate
def test_reauthorization_replaces_credentials_in_place(app, tenant, operator_member):
    connection = _connect(app, tenant, operator_member)
    secret_id = connection.credentials_id
    Connection.all_objects.filter(pk=connection.pk).update(status="expired", consecutive_failures=4, last_error_code="connection_expired")
    attempt, state, request = start(app, tenant, operator_member, connection=connection, scopes=["profile", "write"])
    assert attempt.is_reauthorization and attempt.name == connection.name
    responses.post(f"{AUTH}/token", json={**TOKEN, "access_token": "at-2", "scope": "profile write"})
    responses.get(f"{BASE}/me", json={"account": {"email": "ann@acme.test"}})
    attempt = attempt_complete_callback(request=request, slug=app.slug, params={"code": "c", "state": state})
    assert attempt.status == Attempt.Status.SUCCEEDED
    connection.refresh_from_db()
    assert connection.credentials_id == secret_id
    assert secret_open(secret=connection.credentials)["access_token"] == "at-2"
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.consecutive_failures == 0 and connection.last_error_code == ""
    assert connection.scopes == ["profile", "write"]
    assert Connection.objects.for_tenant(tenant).count() == 1
    assert Event.objects.for_tenant(tenant).filter(connection=connection, kind="reauthorized").count() == 1


@responses.activate
def test_reauthorization_with_other_account_waits_for_confirmation(app, tenant, operator_member):
    connection = _connect(app, tenant, operator_member)
    attempt, state, request = start(app, tenant, operator_member, connection=connection)
    responses.post(f"{AUTH}/token", json={**TOKEN, "access_token": "at-bob"})
    responses.get(f"{BASE}/me", json={"account": {"email": "bob@acme.test"}})
    attempt = attempt_complete_callback(request=request, slug=app.slug, params={"code": "c", "state": state})
    assert attempt.status == Attempt.Status.PENDING
    assert attempt_awaits_account_confirmation(attempt)
    assert attempt.account_label == "bob@acme.test"
    connection.refresh_from_db()
    assert connection.account_label == "ann@acme.test"
    assert secret_open(secret=connection.credentials)["access_token"] == "at-1"

    attempt = attempt_confirm_account(attempt=attempt, actor=operator_member.user)
    assert attempt.status == Attempt.Status.SUCCEEDED
    connection.refresh_from_db()
    assert connection.account_label == "bob@acme.test"
    assert secret_open(secret=connection.credentials)["access_token"] == "at-bob"
    event = Event.objects.for_tenant(tenant).get(connection=connection, kind="reauthorized")
    assert event.detail["previous_account"] == "ann@acme.test"
    assert not Secret.objects.filter(purpose="attempt").exists()


@responses.activate
def test_cancel_other_account_keeps_old_credentials(app, tenant, operator_member):
    connection = _connect(app, tenant, operator_member)
    attempt, state, request = start(app, tenant, operator_member, connection=connection)
    responses.post(f"{AUTH}/token", json={**TOKEN, "access_token": "at-bob"})
    responses.get(f"{BASE}/me", json={"account": {"email": "bob@acme.test"}})
    attempt = attempt_complete_callback(request=request, slug=app.slug, params={"code": "c", "state": state})
    attempt = attempt_cancel(attempt=attempt, actor=operator_member.user)
    assert attempt.status == Attempt.Status.ABANDONED
    connection.refresh_from_db()
    assert secret_open(secret=connection.credentials)["access_token"] == "at-1"
    with pytest.raises(ValidationError):
        attempt_confirm_account(attempt=attempt, actor=operator_member.user)


def test_abandon_stale(app, tenant, operator_member):
    old, _, _ = start(app, tenant, operator_member)
    fresh, _, _ = start(app, tenant, operator_member)
    Attempt.all_objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert attempts_abandon_stale() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == Attempt.Status.ABANDONED and old.pending_secret is None
    assert fresh.status == Attempt.Status.PENDING
    assert attempts_abandon_stale() == 0
    assert Event.objects.for_tenant(tenant).filter(kind="attempt_abandoned").count() == 1


@pytest.mark.parametrize(
    "rows,message",
    [
        ({"headers": {"Bad Name": "x"}}, "“Bad Name” is not a valid header name."),
        ({"headers": {"X-Ok": "a\r\nInjected: 1"}}, "The value of “X-Ok” must be on one line."),
        ({"query": [("k", "a\nb")]}, "The value of “k” must be on one line."),
    ],
)
def test_custom_rows_are_validated(tenant, operator_member, rows, message):
    app = make_app("custom")
    values = {"base_url": "https://rest.example.test", "test_path": "/ping", **rows}
    with pytest.raises(ValidationError) as excinfo:
        attempt_start(tenant=tenant, user=operator_member.user, app=app, field_values=values, request=make_request())
    assert message in excinfo.value.messages
    assert Attempt.objects.for_tenant(tenant).count() == 0


def test_unexpected_error_fails_the_attempt_instead_of_leaving_it_pending(tenant, operator_member, monkeypatch):
    from connections import probe

    app = make_app("basic")

    def boom(*args, **kwargs):
        raise RuntimeError("library bug with sensitive-value")

    monkeypatch.setattr(probe, "run_test", boom)
    attempt, _ = attempt_start(
        tenant=tenant, user=operator_member.user, app=app,
        field_values={"username": "bob", "password": "pw"}, request=make_request(),
    )
    assert attempt.status == Attempt.Status.FAILED
    assert "sensitive-value" not in attempt.error_message
    assert not Secret.objects.filter(purpose="attempt").exists()


@responses.activate
def test_key_reauthorization_keeps_settings_and_replaces_the_key(tenant, operator_member):
    app = make_app("api_key")
    responses.get("https://acme.acme.test/v1/me", json={"account": {"email": "key@acme.test"}})
    attempt, _ = attempt_start(
        tenant=tenant, user=operator_member.user, app=app,
        field_values={"subdomain": "acme", "api_key": "old-key"}, request=make_request(),
    )
    connection = attempt.connection
    attempt, _ = attempt_start(
        tenant=tenant, user=operator_member.user, app=app, connection=connection,
        field_values={"api_key": "new-key"}, request=make_request(),
    )
    assert attempt.status == Attempt.Status.SUCCEEDED and attempt.connection_id == connection.pk
    connection.refresh_from_db()
    assert connection.config == {"subdomain": "acme"}
    assert secret_open(secret=connection.credentials) == {"api_key": "new-key"}
    assert responses.calls[-1].request.headers["X-API-Key"] == "new-key"


def test_unexpected_error_is_logged_without_its_message(tenant, operator_member, monkeypatch, caplog):
    from connections import probe

    app = make_app("basic")

    def boom(*args, **kwargs):
        raise RuntimeError("https://api.test/?key=sensitive-value")

    monkeypatch.setattr(probe, "run_test", boom)
    attempt_start(
        tenant=tenant, user=operator_member.user, app=app,
        field_values={"username": "bob", "password": "pw"}, request=make_request(),
    )
    assert "RuntimeError" in caplog.text
    assert "sensitive-value" not in caplog.text


@responses.activate
def test_a_held_link_left_to_expire_is_abandoned_and_its_grant_revoked(app, tenant, operator_member):
    request = make_request(operator_member.user)
    request.api_token = object()
    attempt, state, _ = start(app, tenant, operator_member, request=request)
    responses.post(f"{AUTH}/token", json=TOKEN)
    responses.get(f"{BASE}/me", json={"account": {"email": "ann@acme.test"}})
    revoke = responses.post(f"{AUTH}/revoke")
    attempt = attempt_complete_callback(
        request=make_request(operator_member.user), slug=app.slug, params={"code": "c", "state": state}
    )
    assert attempt_awaits_link_confirmation(attempt)
    Attempt.all_objects.filter(pk=attempt.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert attempts_abandon_stale() == 1

    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.ABANDONED and attempt.pending_secret_id is None
    assert revoke.call_count == 2
    assert not Connection.all_objects.exists()
