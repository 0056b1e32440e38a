"""Every transition of DESIGN.md "Connection status" is written by one function and told once.

For each transition: exactly one `status_changed` Event, and exactly one alert (an
`alert_sent` Event, one email, one webhook delivery enqueued) where alerts apply — into
expired or error, and back to active from them. A user's revocation alerts nobody.
"""

import pytest
import responses
from django.core import mail

from connections import tasks
from connections.errors import ConnectionFailure
from connections.models import ConnectionStatus, ErrorCode, Event, HealthCheck
from connections.services.attempts import attempt_start
from connections.services.connections import connection_revoke
from connections.services.health import record_outcome
from connections.services.publication import global_revoke
from vault.services import secret_seal

from ..lifecycle_helpers import AUTH, make_app, make_request

pytestmark = pytest.mark.django_db

KEY_BASE = "https://acme.acme.test/v1"


@pytest.fixture
def told(monkeypatch, tenant, admin_member):
    """Collect what people are told: webhook deliveries enqueued (emails are in mail.outbox)."""
    admin_member.user.email = "admin@acme.test"
    admin_member.user.save()
    tenant.webhook_url = "https://hooks.acme.test/alerts"
    tenant.save()
    deliveries = []
    monkeypatch.setattr(tasks.deliver_webhook, "delay", lambda *args: deliveries.append(args))
    return deliveries


def _connection(tenant, app, **fields):
    from connections.models import Connection

    return Connection.all_objects.create(
        tenant=tenant, app=app, name=f"{app.name} account", config={"subdomain": "acme"},
        credentials=secret_seal(payload={"api_key": "k-1", "access_token": "at-1"}, purpose="connection"),
        version=1, account_label="ann@acme.test", **fields,
    )


def _changes(row):
    owner = row.as_owner()
    return [
        (e.detail["from"], e.detail["to"])
        for e in Event.all_objects.filter(kind="status_changed", **owner).order_by("id")
    ]


def _alerts(row):
    return Event.all_objects.filter(kind="alert_sent", **row.as_owner()).count()


def _fail(row, code):
    return record_outcome(row, kind=HealthCheck.Kind.CHECK, failure=ConnectionFailure(code, "boom"))


def test_active_to_expired_is_told_once(tenant, told, django_capture_on_commit_callbacks):
    row = _connection(tenant, make_app("api_key"))
    with django_capture_on_commit_callbacks(execute=True):
        _fail(row, ErrorCode.CONNECTION_EXPIRED)
        _fail(row, ErrorCode.CONNECTION_EXPIRED)  # still expired: nothing more to tell
    row.refresh_from_db()
    assert row.status == ConnectionStatus.EXPIRED
    assert _changes(row) == [("active", "expired")]
    assert _alerts(row) == 1 and len(mail.outbox) == 1 and len(told) == 1


def test_active_to_error_after_the_threshold_then_back_is_told_once_each(
    tenant, told, settings, django_capture_on_commit_callbacks
):
    settings.FAILURE_THRESHOLD = 3
    row = _connection(tenant, make_app("api_key"))
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(4):
            _fail(row, ErrorCode.APP_UNAVAILABLE)
        row.refresh_from_db()
        assert row.status == ConnectionStatus.ERROR and row.consecutive_failures == 4
        record_outcome(row, kind=HealthCheck.Kind.CHECK)  # automatic recovery
    row.refresh_from_db()
    assert row.status == ConnectionStatus.ACTIVE and row.consecutive_failures == 0
    assert row.last_error_code == "" and row.last_error_message == ""
    assert _changes(row) == [("active", "error"), ("error", "active")]
    assert _alerts(row) == 2 and len(mail.outbox) == 2 and len(told) == 2
    assert "works again" in mail.outbox[1].body


@responses.activate
def test_expired_to_active_by_reauthorization_is_told_once(
    tenant, admin_member, told, django_capture_on_commit_callbacks
):
    app = make_app("api_key")
    row = _connection(tenant, app)
    with django_capture_on_commit_callbacks(execute=True):
        _fail(row, ErrorCode.CONNECTION_EXPIRED)
    responses.get(f"{KEY_BASE}/me", json={"account": {"email": "ann@acme.test"}})
    with django_capture_on_commit_callbacks(execute=True):
        attempt, _url = attempt_start(
            tenant=tenant, user=admin_member.user, app=app, connection=row,
            field_values={"api_key": "k-2"}, request=make_request(admin_member.user),
        )
    row.refresh_from_db()
    assert attempt.status == "succeeded" and row.status == ConnectionStatus.ACTIVE
    assert row.consecutive_failures == 0 and row.last_error_code == ""
    assert _changes(row) == [("active", "expired"), ("expired", "active")]
    assert _alerts(row) == 2 and len(mail.outbox) == 2 and len(told) == 2


def test_revoked_by_a_user_changes_status_once_and_alerts_nobody(
    tenant, admin_member, told, django_capture_on_commit_callbacks
):
    row = _connection(tenant, make_app("api_key"))
    with django_capture_on_commit_callbacks(execute=True):
        connection_revoke(connection=row, actor=admin_member.user)
    row.refresh_from_db()
    assert row.status == ConnectionStatus.REVOKED
    assert _changes(row) == [("active", "revoked")]
    assert _alerts(row) == 0 and mail.outbox == [] and told == []


@responses.activate
def test_a_grant_revoked_by_staff_expires_the_source_and_tells_its_tenant_once(
    tenant, told, django_capture_on_commit_callbacks
):
    from connections.models import GlobalConnection

    app = make_app("oauth2")
    source = _connection(tenant, app)
    copy = GlobalConnection.objects.create(
        app=app, name="Shared", credentials=source.credentials, source_connection=source,
        source_tenant=tenant, version=1,
    )
    responses.post(f"{AUTH}/revoke", status=200)
    with django_capture_on_commit_callbacks(execute=True):
        global_revoke(global_connection=copy, actor=None)
    source.refresh_from_db()
    copy.refresh_from_db()
    assert source.status == ConnectionStatus.EXPIRED and source.last_error_code == "connection_expired"
    assert _changes(source) == [("active", "expired")]
    assert _alerts(source) == 1 and len(told) == 1
    assert copy.status == ConnectionStatus.REVOKED
    assert _changes(copy) == [("active", "revoked")] and _alerts(copy) == 0
