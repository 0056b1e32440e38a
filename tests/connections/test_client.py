"""Use by flows: connections.use() and GET /api/connections/<id>/credentials, with usage recorded."""

import time

import pytest

import connections
from connections.models import ConnectionStatus, Usage
from connections.errors import ConnectionUnusable
from connections.services.tokens import api_token_create
from vault.services import secret_replace

from .bg_support import api_key_app, make_connection, make_global_copy, oauth2_app, oauth2_grant, stored

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def oauth_conn(sandbox, tenant):
    return make_connection(tenant, oauth2_app(sandbox), oauth2_grant(sandbox))


def usages(tenant):
    return list(Usage.objects.for_tenant(tenant).values_list("consumer", "count"))


def test_use_signs_requests_and_records_usage(sandbox, oauth_conn, tenant):
    session = connections.use(oauth_conn, consumer="Weekly report")
    answer = session.get(session.base_url + "/me")
    assert answer.status_code == 200 and answer.json()["account"]["email"] == sandbox.email
    connections.use(oauth_conn, consumer="Weekly report")
    connections.use(oauth_conn.pk, consumer="Board", tenant=tenant)
    assert sorted(usages(tenant)) == [("Board", 1), ("Weekly report", 2)]
    oauth_conn.refresh_from_db()
    assert oauth_conn.last_used_at is not None


def test_use_refreshes_first_when_due(sandbox, oauth_conn):
    creds = stored(oauth_conn)
    creds["expires_at"] = time.time() - 5  # already expired
    secret_replace(secret=oauth_conn.credentials, payload=creds)
    session = connections.use(oauth_conn, consumer="flow")
    assert session.get(session.base_url + "/me").status_code == 200
    assert sandbox.token_requests() == 2


def test_use_api_key_connection(sandbox, tenant):
    conn = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key})
    session = connections.use(conn, consumer="flow")
    assert session.get(session.base_url + "/me").status_code == 200


def test_use_refuses_another_tenants_connection(sandbox, oauth_conn, other_tenant):
    with pytest.raises(ConnectionUnusable):
        connections.use(oauth_conn, consumer="spy", tenant=other_tenant)
    with pytest.raises(ConnectionUnusable):
        connections.use(oauth_conn.pk, consumer="spy", tenant=other_tenant)
    assert usages(other_tenant) == []


def test_global_connection_is_usable_by_every_tenant(sandbox, oauth_conn, tenant, other_tenant):
    copy = make_global_copy(oauth_conn)
    session = connections.use(copy.pk, consumer="Globex flow", tenant=other_tenant)
    assert session.get(session.base_url + "/me").status_code == 200
    assert usages(other_tenant) == [("Globex flow", 1)]
    assert usages(tenant) == []
    with pytest.raises(ConnectionUnusable):
        connections.use(copy, consumer="no tenant named")


def test_expired_connection_is_refused(sandbox, oauth_conn):
    from connections.errors import ConnectionFailure

    type(oauth_conn).all_objects.filter(pk=oauth_conn.pk).update(status=ConnectionStatus.EXPIRED)
    oauth_conn.refresh_from_db()
    with pytest.raises(ConnectionFailure):
        connections.use(oauth_conn, consumer="flow")


# The credentials endpoint.

def get_credentials(client, connection_id, raw=None, **params):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"} if raw else {}
    return client.get(f"/api/connections/{connection_id}/credentials", params, **headers)


def test_credentials_endpoint_returns_fresh_token_without_refresh_token(client, sandbox, oauth_conn, tenant, admin_member):
    _, raw = api_token_create(tenant=tenant, name="Zapier-like", actor=admin_member.user, scopes=["credentials"])
    creds = stored(oauth_conn)
    creds["expires_at"] = time.time() - 5
    secret_replace(secret=oauth_conn.credentials, payload=creds)
    answer = get_credentials(client, oauth_conn.pk, raw, consumer="Nightly sync")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert answer["Cache-Control"] == "no-store"
    assert "refresh_token" not in body["credentials"]
    assert body["credentials"]["access_token"] == stored(oauth_conn)["access_token"]
    assert body["credentials"]["access_token"] != creds["access_token"]
    assert body["connection"]["id"] == str(oauth_conn.pk)
    assert usages(tenant) == [("Nightly sync", 1)]
    get_credentials(client, oauth_conn.pk, raw)
    assert sorted(usages(tenant)) == [("Nightly sync", 1), ("Zapier-like", 1)]


def test_credentials_endpoint_two_tenants(client, sandbox, oauth_conn, other_tenant, outsider_member):
    _, raw = api_token_create(tenant=other_tenant, name="Globex token", actor=outsider_member.user, scopes=["credentials"])
    answer = get_credentials(client, oauth_conn.pk, raw)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert "access_token" not in answer.content.decode()
    assert usages(other_tenant) == []


def test_credentials_endpoint_global_connection_is_proxy_only_unless_shared(client, sandbox, oauth_conn, other_tenant, outsider_member):
    copy = make_global_copy(oauth_conn)
    _, raw = api_token_create(tenant=other_tenant, name="Globex token", actor=outsider_member.user, scopes=["credentials"])
    answer = get_credentials(client, copy.pk, raw)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "use_proxy"
    assert f"/api/proxy/{copy.pk}/" in answer.json()["error"]["message"]
    assert "access_token" not in answer.content.decode()
    assert usages(other_tenant) == []
    type(copy).all_objects.filter(pk=copy.pk).update(allow_credential_sharing=True)
    answer = get_credentials(client, copy.pk, raw)
    assert answer.status_code == 200
    assert answer.json()["connection"]["kind"] == "global"
    assert usages(other_tenant) == [("Globex token", 1)]


def test_credentials_endpoint_global_connection_for_its_source_tenant(client, sandbox, oauth_conn, tenant, admin_member):
    copy = make_global_copy(oauth_conn)
    _, raw = api_token_create(tenant=tenant, name="Acme token", actor=admin_member.user, scopes=["credentials"])
    answer = get_credentials(client, copy.pk, raw)
    assert answer.status_code == 200 and "access_token" in answer.json()["credentials"]


def test_credentials_endpoint_refuses_sessions_and_missing_tokens(client, client_for, sandbox, oauth_conn, admin_member):
    assert get_credentials(client, oauth_conn.pk).status_code == 401
    assert get_credentials(client, oauth_conn.pk, "act_not-a-token").status_code == 401
    signed_in = client_for(admin_member)
    answer = get_credentials(signed_in, oauth_conn.pk)
    assert answer.status_code == 403 and "access_token" not in answer.content.decode()
