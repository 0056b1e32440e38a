"""Checks and refreshes against the sandbox: status moves per the design's table, alerts once."""

import datetime as dt
import time

import pytest
from django.core import mail

from connections.errors import ConnectionFailure
from connections.models import ConnectionStatus, ErrorCode, Event, HealthCheck, Role
from connections.services.health import connection_check, connection_refresh, credentials_get
from connections.services.refresh import refresh_due
from connections.services.sweeps import refresh_one
from connections.tasks import backoff

from ..bg_support import (
    api_key_app,
    basic_app,
    make_connection,
    make_global_copy,
    oauth2_app,
    oauth2_grant,
    stored,
    token_works,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(tenant, make_member, django_user_model):
    admin = make_member(tenant, Role.ADMIN, username="ada")
    admin.user.email = "ada@acme.test"
    admin.user.save()
    creator = make_member(tenant, Role.OPERATOR, username="olga")
    creator.user.email = "olga@acme.test"
    creator.user.save()
    make_member(tenant, Role.OPERATOR, username="bystander").user  # not told: neither admin nor creator
    return admin.user, creator.user


@pytest.fixture
def oauth_conn(sandbox, tenant, people):
    app = oauth2_app(sandbox)
    return make_connection(tenant, app, oauth2_grant(sandbox), created_by=people[1])


def events(connection, kind):
    return list(Event.all_objects.filter(connection=connection, kind=kind).order_by("created_at", "id"))


def test_check_ok_records_history_event_and_account(sandbox, oauth_conn):
    check = connection_check(connection=oauth_conn)
    oauth_conn.refresh_from_db()
    assert check.ok and check.kind == HealthCheck.Kind.CHECK
    assert oauth_conn.status == ConnectionStatus.ACTIVE
    assert oauth_conn.last_checked_at is not None
    assert oauth_conn.account_label == sandbox.email
    assert [e.detail["ok"] for e in events(oauth_conn, "checked")] == [True]
    assert sandbox.token_requests() == 1  # only the grant: a fresh token is not refreshed


def test_refresh_when_due_rotates_and_saves_both_tokens(sandbox, oauth_conn):
    before = stored(oauth_conn)
    creds = stored(oauth_conn)
    creds["expires_at"] = time.time() + 30
    from vault.services import secret_replace

    secret_replace(secret=oauth_conn.credentials, payload=creds)
    type(oauth_conn).all_objects.filter(pk=oauth_conn.pk).update(
        authorized_at=oauth_conn.authorized_at - dt.timedelta(hours=1)
    )
    oauth_conn.refresh_from_db()
    assert refresh_due(oauth_conn, creds)
    fresh = credentials_get(connection=oauth_conn)
    after = stored(oauth_conn)
    assert sandbox.token_requests() == 2
    assert fresh == after
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]  # rotated and saved
    assert oauth_conn.version == 2 and oauth_conn.last_refreshed_at is not None
    assert token_works(sandbox, after["access_token"])
    # Not due any more: no second token request.
    assert credentials_get(connection=oauth_conn) == after
    assert sandbox.token_requests() == 2


def test_refresh_through_global_copy_updates_every_row_sharing_the_secret(sandbox, oauth_conn):
    copy = make_global_copy(oauth_conn)
    connection_refresh(connection=copy, force=True)
    oauth_conn.refresh_from_db()
    copy.refresh_from_db()
    assert oauth_conn.version == 2 and copy.version == 2
    assert oauth_conn.last_refreshed_at == copy.last_refreshed_at
    assert token_works(sandbox, stored(oauth_conn)["access_token"])


def test_server_errors_count_then_error_then_recover_alerting_once_each(sandbox, oauth_conn, settings):
    settings.FAILURE_THRESHOLD = 3
    sandbox.set_switch("token", "500", count=4)
    for expected_failures in (1, 2):
        with pytest.raises(ConnectionFailure) as caught:
            connection_refresh(connection=oauth_conn, force=True)
        assert caught.value.code == ErrorCode.APP_UNAVAILABLE
        oauth_conn.refresh_from_db()
        assert oauth_conn.consecutive_failures == expected_failures
        assert oauth_conn.status == ConnectionStatus.ACTIVE
    assert mail.outbox == []
    for _ in range(2):  # the threshold, and one more failure: still one alert
        with pytest.raises(ConnectionFailure):
            connection_refresh(connection=oauth_conn, force=True)
    oauth_conn.refresh_from_db()
    assert oauth_conn.status == ConnectionStatus.ERROR
    assert oauth_conn.last_error_code == ErrorCode.APP_UNAVAILABLE
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == ["ada@acme.test", "olga@acme.test"]
    assert "App unavailable" in mail.outbox[0].subject
    assert "access_token" not in mail.outbox[0].body
    # The app is back: the next check recovers the connection on its own.
    check = connection_check(connection=oauth_conn)
    oauth_conn.refresh_from_db()
    assert check.ok and oauth_conn.status == ConnectionStatus.ACTIVE
    assert oauth_conn.consecutive_failures == 0 and oauth_conn.last_error_code == ""
    assert len(mail.outbox) == 2 and mail.outbox[1].subject.startswith("Recovered")
    changes = [(e.detail["from"], e.detail["to"]) for e in events(oauth_conn, "status_changed")]
    assert changes == [("active", "error"), ("error", "active")]
    assert len(events(oauth_conn, "alert_sent")) == 2


def test_invalid_grant_expires_and_alerts_once(sandbox, oauth_conn):
    sandbox.set_switch("token", "invalid_grant", count=3)
    for _ in range(2):
        with pytest.raises(ConnectionFailure) as caught:
            connection_refresh(connection=oauth_conn, force=True)
        assert caught.value.code == ErrorCode.CONNECTION_EXPIRED
    oauth_conn.refresh_from_db()
    assert oauth_conn.status == ConnectionStatus.EXPIRED
    assert oauth_conn.last_error_code == ErrorCode.CONNECTION_EXPIRED
    assert len(mail.outbox) == 1 and "Connection expired" in mail.outbox[0].subject
    # A transient failure afterwards does not turn expired into error.
    sandbox.reset()
    sandbox.set_switch("api", "500", count=5)
    connection_check(connection=oauth_conn)
    oauth_conn.refresh_from_db()
    assert oauth_conn.status == ConnectionStatus.EXPIRED and len(mail.outbox) == 1


def test_revoked_grant_expires_at_the_next_check(sandbox, oauth_conn):
    creds = stored(oauth_conn)
    import requests

    for hint in ("refresh_token", "access_token"):
        requests.post(sandbox.revoke_url, data={
            "token": creds[hint], "token_type_hint": hint,
            "client_id": sandbox.client_id, "client_secret": sandbox.client_secret,
        }, timeout=10)
    check = connection_check(connection=oauth_conn)
    oauth_conn.refresh_from_db()
    assert not check.ok and check.error_code == ErrorCode.CONNECTION_EXPIRED
    assert oauth_conn.status == ConnectionStatus.EXPIRED
    assert len(mail.outbox) == 1


def test_401_on_check_refreshes_once_and_recovers(sandbox, oauth_conn):
    sandbox.set_switch("api", "invalid_grant", count=1)  # the API answers 401 once
    check = connection_check(connection=oauth_conn)
    oauth_conn.refresh_from_db()
    assert check.ok and oauth_conn.status == ConnectionStatus.ACTIVE
    assert sandbox.token_requests() == 2 and oauth_conn.version == 2


def test_401_right_after_a_refresh_expires(sandbox, oauth_conn):
    sandbox.set_switch("api", "invalid_grant", count=2)
    check = connection_check(connection=oauth_conn)
    oauth_conn.refresh_from_db()
    assert not check.ok and oauth_conn.status == ConnectionStatus.EXPIRED
    assert "right after a token refresh" in oauth_conn.last_error_message


def test_429_retry_after_is_reported_and_honoured(sandbox, oauth_conn):
    sandbox.set_switch("token", "429", count=1, retry_after=42)
    with pytest.raises(ConnectionFailure) as caught:
        connection_refresh(connection=oauth_conn, force=True)
    assert caught.value.http_status == 429 and caught.value.retry_after == 42
    assert all(backoff(retries, retry_after=42) >= 42 for retries in range(6))
    oauth_conn.refresh_from_db()
    assert oauth_conn.consecutive_failures == 1 and oauth_conn.status == ConnectionStatus.ACTIVE


def test_backoff_is_exponential_jittered_and_bounded():
    for retries in range(12):
        delays = {backoff(retries) for _ in range(20)}
        assert all(0 < d <= 600 for d in delays)
        assert len(delays) > 1  # jitter
    assert max(backoff(1) for _ in range(50)) <= 10 < min(backoff(4) for _ in range(50))


def test_lost_race_invalid_grant_returns_the_winners_token(sandbox, oauth_conn, monkeypatch):
    """The refresh token changed while our request was in flight: not a dead grant."""
    from connections.auth.oauth2 import OAuth2Mode

    real = OAuth2Mode.refresh

    def racing(self, app, config, credentials):
        winner = real(self, app, config, credentials)  # another process wins with our token
        from vault.services import secret_replace

        secret_replace(secret=oauth_conn.credentials, payload=winner)
        return real(self, app, config, credentials)  # ours now replays a used token

    monkeypatch.setattr(OAuth2Mode, "refresh", racing)
    credentials = connection_refresh(connection=oauth_conn, force=True)
    oauth_conn.refresh_from_db()
    assert oauth_conn.status == ConnectionStatus.ACTIVE
    assert token_works(sandbox, credentials["access_token"])
    assert credentials == stored(oauth_conn)


def test_api_key_and_basic_are_checked(sandbox, tenant, people):
    good_key = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key})
    bad_key = make_connection(tenant, api_key_app(), {"api_key": "sbx_wrong"}, created_by=people[1])
    good_basic = make_connection(
        tenant, basic_app(), {"password": sandbox.basic.password}, config={"username": sandbox.basic.username}
    )
    assert connection_check(connection=good_key).ok
    assert connection_check(connection=good_basic).ok
    check = connection_check(connection=bad_key)
    bad_key.refresh_from_db()
    assert not check.ok and check.http_status == 401
    assert bad_key.status == ConnectionStatus.EXPIRED
    assert len(mail.outbox) == 1


def test_history_is_bounded(sandbox, tenant, settings):
    settings.HEALTH_HISTORY = 3
    conn = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key})
    for _ in range(5):
        connection_check(connection=conn)
    assert HealthCheck.objects.filter(connection=conn).count() == 3


def test_revoked_connection_is_not_checked(sandbox, tenant):
    from connections.errors import ConnectionUnusable

    conn = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key}, status=ConnectionStatus.REVOKED)
    with pytest.raises(ConnectionUnusable):
        connection_check(connection=conn)


def test_short_lived_token_is_refreshed_once_per_half_life(sandbox, tenant, settings):
    """60-second tokens with a 10-minute window: refreshed when due, not by every caller after."""
    settings.REFRESH_WINDOW = 600
    sandbox.set_token_lifetime(60)
    conn = make_connection(tenant, oauth2_app(sandbox), oauth2_grant(sandbox))
    sandbox.reset()
    assert refresh_one("connection", conn.pk) == "fresh"  # just issued: 60 s left > 30 s
    creds = stored(conn)
    creds["expires_at"] = time.time() + 15  # 45 s later: 15 s of 60 left
    from vault.services import secret_replace

    secret_replace(secret=conn.credentials, payload=creds)
    type(conn).all_objects.filter(pk=conn.pk).update(authorized_at=conn.authorized_at - dt.timedelta(seconds=45))
    assert refresh_one("connection", conn.pk) == "refreshed"  # 15 s of 60 left
    assert refresh_one("connection", conn.pk) == "fresh"
    credentials_get(connection=conn)
    connection_check(connection=conn)
    assert sandbox.token_requests() == 1
    conn.refresh_from_db()
    assert conn.status == ConnectionStatus.ACTIVE
