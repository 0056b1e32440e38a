"""Rename (PATCH /api/connections/<id>) and revoke (POST …/revoke): roles, scope, tenants."""

import json

import pytest
import responses
from django.test import Client

from connections.models import Connection, ConnectionStatus, Event, GlobalConnection, Role
from connections.services.tokens import api_token_create
from vault.models import Secret
from vault.services import secret_seal

from ..lifecycle_helpers import AUTH, make_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def key_app(db):
    return make_app("api_key")


def connection_for(tenant, app, *, by=None, name="Main"):
    return Connection.all_objects.create(
        tenant=tenant,
        app=app,
        name=name,
        created_by=by.user if by else None,
        config={"subdomain": "acme"},
        credentials=secret_seal(payload={"api_key": "k-5501"}, purpose="connection"),
    )


def rename(client, connection, name, **extra):
    return client.patch(
        f"/api/connections/{connection.id}",
        data=json.dumps({"name": name}),
        content_type="application/json",
        **extra,
    )


def revoke(client, connection, body=None, **extra):
    data = json.dumps(body) if body is not None else ""
    return client.post(
        f"/api/connections/{connection.id}/revoke",
        data=data,
        content_type="application/json",
        **extra,
    )


def bearer(tenant, member, scopes):
    return {
        "HTTP_AUTHORIZATION": "Bearer "
        + api_token_create(tenant=tenant, name="t", actor=member.user, scopes=scopes)[1]
    }


def test_admin_renames_any_connection_and_the_event_names_them(
    client_for, admin_member, operator_member, key_app, tenant
):
    connection = connection_for(tenant, key_app, by=operator_member)
    response = rename(client_for(admin_member), connection, "  Billing  ")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Billing"
    connection.refresh_from_db()
    assert connection.name == "Billing"
    event = Event.objects.for_tenant(tenant).get(connection=connection, kind="renamed")
    assert event.actor == admin_member.user and event.detail == {"from": "Main", "to": "Billing"}


def test_operator_manages_only_what_they_created(
    client_for, make_member, operator_member, key_app, tenant
):
    own = connection_for(tenant, key_app, by=operator_member, name="Own")
    colleague = make_member(tenant, Role.OPERATOR, username="colleague")
    theirs = connection_for(tenant, key_app, by=colleague, name="Theirs")
    client = client_for(operator_member)
    assert rename(client, own, "Own renamed").status_code == 200
    response = rename(client, theirs, "Taken over")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    response = revoke(client, theirs)
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    theirs.refresh_from_db()
    assert theirs.name == "Theirs" and theirs.status == ConnectionStatus.ACTIVE


def test_viewer_can_neither_rename_nor_revoke(
    client_for, viewer_member, admin_member, key_app, tenant
):
    connection = connection_for(tenant, key_app, by=admin_member)
    client = client_for(viewer_member)
    assert rename(client, connection, "X").json()["error"]["code"] == "forbidden"
    assert revoke(client, connection).status_code == 403
    connection.refresh_from_db()
    assert connection.name == "Main" and connection.status == ConnectionStatus.ACTIVE


def test_a_token_needs_the_manage_scope(client, admin_member, key_app, tenant):
    connection = connection_for(tenant, key_app)
    response = rename(
        client,
        connection,
        "X",
        **bearer(tenant, admin_member, ["read", "check", "credentials", "attempts"]),
    )
    assert response.status_code == 403 and response.json()["error"]["required_scope"] == "manage"
    headers = bearer(tenant, admin_member, ["manage"])
    assert rename(client, connection, "By a flow", **headers).status_code == 200
    response = revoke(client, connection, **headers)
    assert response.status_code == 200 and response.json()["connection"]["status"] == "revoked"


def test_rename_to_a_taken_name_is_400(client_for, admin_member, key_app, tenant):
    connection_for(tenant, key_app, name="Taken")
    connection = connection_for(tenant, key_app)
    response = rename(client_for(admin_member), connection, "taken")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["name"] == [
        "You already have a Acme Keys connection named “taken”."
    ]


def test_revoke_destroys_the_secret_keeps_the_row_and_twice_changes_nothing(
    client_for, admin_member, key_app, tenant
):
    connection = connection_for(tenant, key_app)
    secret_id = connection.credentials_id
    client = client_for(admin_member)
    response = revoke(client, connection)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["connection"]["status"] == "revoked" and body["connection"]["revoked_at"]
    assert body["revocation_warning"] == ""
    assert not Secret.objects.filter(pk=secret_id).exists()
    assert revoke(client, connection).status_code == 200
    assert (
        Event.objects.for_tenant(tenant).filter(connection=connection, kind="revoked").count() == 1
    )
    assert (
        rename(client, connection, "Back").status_code == 400
    )  # a revoked connection keeps its name


@responses.activate
def test_revoke_at_the_provider_and_a_shared_grant_needs_confirmation(
    client_for, admin_member, tenant
):
    app = make_app("oauth2")
    connection = Connection.all_objects.create(
        tenant=tenant,
        app=app,
        name="CRM",
        credentials=secret_seal(payload={"access_token": "at"}, purpose="connection"),
    )
    GlobalConnection.objects.create(
        app=app,
        name="CRM (global)",
        credentials=connection.credentials,
        source_connection=connection,
    )
    client = client_for(admin_member)
    response = revoke(client, connection)
    assert response.status_code == 409 and response.json()["error"]["code"] == "shared_with_global"
    assert "CRM (global)" in response.json()["error"]["message"]
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    response = revoke(client, connection, {"confirm_shared": True})
    assert response.status_code == 200 and response.json()["connection"]["status"] == "revoked"
    assert Secret.objects.filter(
        pk=connection.credentials_id
    ).exists()  # the global copy keeps working
    assert len(responses.calls) == 0  # its grant stays alive at the provider

    alone = Connection.all_objects.create(
        tenant=tenant,
        app=app,
        name="CRM 2",
        credentials=secret_seal(payload={"access_token": "at2"}, purpose="connection"),
    )
    responses.post(f"{AUTH}/revoke", status=200)
    assert revoke(client, alone).status_code == 200
    assert len(responses.calls) == 1


def test_global_connections_are_read_only(client_for, admin_member, key_app):
    shared = GlobalConnection.objects.create(app=key_app, name="Shared")
    client = client_for(admin_member)
    for response in (rename(client, shared, "Mine now"), revoke(client, shared)):
        assert response.status_code == 403 and response.json()["error"]["code"] == "read_only"
    shared.refresh_from_db()
    assert shared.name == "Shared" and shared.status == ConnectionStatus.ACTIVE


def test_rename_and_revoke_are_404_across_tenants(
    client_for, outsider_member, other_tenant, admin_member, key_app, tenant
):
    connection = connection_for(tenant, key_app, by=admin_member)
    client = client_for(outsider_member)
    for response in (rename(client, connection, "Ours"), revoke(client, connection)):
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    headers = bearer(other_tenant, outsider_member, ["read", "manage"])
    machine = Client()
    for response in (
        rename(machine, connection, "Ours", **headers),
        revoke(machine, connection, **headers),
    ):
        assert response.status_code == 404
    connection.refresh_from_db()
    assert connection.name == "Main" and connection.status == ConnectionStatus.ACTIVE


def test_rename_and_revoke_queries_are_bounded(
    client_for, admin_member, key_app, tenant, django_assert_max_num_queries
):
    connections = [connection_for(tenant, key_app, name=f"C{index}") for index in range(20)]
    client = client_for(admin_member)
    client.get("/api/connections")  # warm the session and membership caches
    with django_assert_max_num_queries(12):
        assert rename(client, connections[0], "Renamed").status_code == 200
    # Most are the service's: the revoke, destroying the Secret (and what points at it, a
    # company OAuth client's secret among them), the "revoked" Event and the "status_changed"
    # Event every change of status records.
    with django_assert_max_num_queries(27):
        assert revoke(client, connections[1]).status_code == 200
