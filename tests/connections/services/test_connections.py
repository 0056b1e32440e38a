"""Connection services: rename uniqueness, revoke (provider, Secret, global copies)."""

import pytest
import responses
from django.core.exceptions import ValidationError

from connections.models import Connection, ConnectionStatus, Event, GlobalConnection
from connections.services.connections import connection_rename, connection_revoke
from connections.services.events import event_record
from vault.models import Secret
from vault.services import secret_seal

from ..lifecycle_helpers import AUTH, SPECS, make_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(db):
    return make_app("oauth2")


def make(tenant, app, name, **kwargs):
    kwargs.setdefault("credentials", secret_seal(payload={"access_token": "at", "refresh_token": "rt"}, purpose="connection"))
    return Connection.all_objects.create(tenant=tenant, app=app, name=name, **kwargs)


def test_rename_is_unique_per_tenant_and_app_among_live(app, tenant, other_tenant, operator_member):
    first = make(tenant, app, "Sales")
    second = make(tenant, app, "Support")
    make(other_tenant, app, "Ops")
    make(tenant, app, "Old", status=ConnectionStatus.REVOKED)
    with pytest.raises(ValidationError) as excinfo:
        connection_rename(connection=second, name="  sales ", actor=operator_member.user)
    assert excinfo.value.message_dict == {"name": ["You already have a Acme CRM connection named “sales”."]}
    connection_rename(connection=second, name="Ops", actor=operator_member.user)  # other tenant's name: fine
    connection_rename(connection=first, name="Old", actor=operator_member.user)  # a revoked one's name: fine
    first.refresh_from_db()
    assert first.name == "Old"
    event = Event.objects.for_tenant(tenant).get(connection=first, kind="renamed")
    assert event.detail == {"from": "Sales", "to": "Old"} and event.actor == operator_member.user
    with pytest.raises(ValidationError):
        connection_rename(connection=first, name="   ", actor=operator_member.user)


def test_rename_of_revoked_is_refused(app, tenant, operator_member):
    gone = make(tenant, app, "Gone", status=ConnectionStatus.REVOKED)
    with pytest.raises(ValidationError):
        connection_rename(connection=gone, name="Back", actor=operator_member.user)


@responses.activate
def test_revoke_revokes_at_provider_and_destroys_secret(app, tenant, operator_member):
    connection = make(tenant, app, "Sales")
    secret_id = connection.credentials_id
    responses.post(f"{AUTH}/revoke", status=200)
    revoked = connection_revoke(connection=connection, actor=operator_member.user)
    assert len(responses.calls) == 2
    assert revoked.status == ConnectionStatus.REVOKED and revoked.credentials_id is None
    assert not Secret.objects.filter(pk=secret_id).exists()
    event = Event.objects.for_tenant(tenant).get(connection=connection, kind="revoked")
    assert event.detail == {"provider_revocation": "revoked", "stored_credentials": "destroyed"}
    # Revoking twice changes nothing and calls nobody.
    connection_revoke(connection=revoked, actor=operator_member.user)
    assert len(responses.calls) == 2


def test_revoke_without_revoke_url_is_local(tenant, operator_member):
    app = make_app("oauth2", oauth2={**SPECS["oauth2"]["oauth2"], "revoke_url": None})
    connection = make(tenant, app, "Sales")
    with responses.RequestsMock() as mocked:
        revoked = connection_revoke(connection=connection, actor=operator_member.user)
        assert len(mocked.calls) == 0
    assert revoked.status == ConnectionStatus.REVOKED
    assert Event.objects.for_tenant(tenant).get(kind="revoked").detail["provider_revocation"] == "not_supported"


@responses.activate
def test_revoke_provider_failure_does_not_keep_connection_alive(app, tenant, operator_member):
    connection = make(tenant, app, "Sales")
    responses.post(f"{AUTH}/revoke", status=500)
    revoked = connection_revoke(connection=connection, actor=operator_member.user)
    assert revoked.status == ConnectionStatus.REVOKED
    assert revoked.revocation_warning
    event = Event.objects.for_tenant(tenant).get(kind="revoked")
    assert event.detail["provider_revocation"] == "failed" and "500" in event.detail["message"]


def test_revoke_with_global_copy_needs_confirmation_and_keeps_the_secret(app, tenant, operator_member):
    connection = make(tenant, app, "Sales")
    GlobalConnection.objects.create(app=app, name="Shared Sales", credentials=connection.credentials, source_connection=connection)
    with pytest.raises(ValidationError) as excinfo:
        connection_revoke(connection=connection, actor=operator_member.user)
    assert "Shared Sales" in excinfo.value.messages[0]
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    with responses.RequestsMock() as mocked:  # the grant stays alive for the global copy
        revoked = connection_revoke(connection=connection, actor=operator_member.user, confirm_shared=True)
        assert len(mocked.calls) == 0
    assert revoked.status == ConnectionStatus.REVOKED
    assert revoked.credentials_id is not None and Secret.objects.filter(pk=revoked.credentials_id).exists()
    event = Event.objects.for_tenant(tenant).get(kind="revoked")
    assert event.detail["stored_credentials"] == "kept_for_global" and event.detail["global_connections"] == ["Shared Sales"]


def test_event_record_refuses_secrets(app, tenant):
    connection = make(tenant, app, "Sales")
    with pytest.raises(ValueError):
        event_record(kind="x", connection=connection, detail={"nested": {"access_token": "at"}})
    event = event_record(kind="checked", connection=connection, detail={"ok": True})
    assert event.tenant == tenant and event.actor is None
