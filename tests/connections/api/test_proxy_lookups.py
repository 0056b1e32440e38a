"""The proxy's cached lookups (services/lookups.py) never outlive a change: the very next call sees it.

Each test streams calls through the proxy (so the token and the connection are kept by the
process), makes one change the way the product makes it, and asserts what the next call
answers. The last test changes things in this process while another process (gunicorn) serves
the calls: the generation in Redis is what tells it.
"""

import pytest
import requests
from django.utils import timezone

from connections.errors import ConnectionFailure
from connections.models import ApiToken, ConnectionStatus, ErrorCode, HealthCheck
from connections.services import lookups
from connections.services.connections import connection_revoke
from connections.services.health import record_outcome
from connections.services.publication import global_unpublish
from connections.services.tokens import api_token_create, api_token_revoke
from sandbox import services as sandbox_services
from tests.bench.test_proxy_bench import Gunicorn
from vault.services import secret_replace

from ..bg_support import api_key_app, make_connection, make_global_copy, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key_conn(sandbox, tenant):
    return make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key})


@pytest.fixture
def flow_token(tenant, admin_member):
    token, raw = api_token_create(tenant=tenant, name="Flow", actor=admin_member.user, scopes=["proxy"])
    return token, raw


def status(client, connection_id, raw) -> int:
    return client.get(f"/api/proxy/{connection_id}/echo/x", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code


def stream(client, connection_id, raw, calls=5):
    assert [status(client, connection_id, raw) for _ in range(calls)] == [200] * calls


def test_a_revoked_token_is_refused_by_the_next_call(client, key_conn, flow_token):
    token, raw = flow_token
    stream(client, key_conn.pk, raw)
    api_token_revoke(token=token, actor=None)
    assert status(client, key_conn.pk, raw) == 401


def test_a_token_given_an_expiry_in_the_past_is_refused_by_the_next_call(client, key_conn, flow_token):
    token, raw = flow_token
    stream(client, key_conn.pk, raw)
    token.expires_at = timezone.now()
    token.save(update_fields=["expires_at"])
    assert status(client, key_conn.pk, raw) == 401


def test_a_revoked_connection_is_404_on_the_next_call(client, key_conn, flow_token, admin_member):
    _token, raw = flow_token
    stream(client, key_conn.pk, raw)
    connection_revoke(connection=key_conn, actor=admin_member.user)
    assert status(client, key_conn.pk, raw) == 404


def test_a_token_restricted_to_another_connection_loses_this_one_at_once(client, sandbox, tenant, key_conn, flow_token):
    token, raw = flow_token
    other = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key}, name="Other")
    stream(client, key_conn.pk, raw)
    token.all_connections = False
    token.save(update_fields=["all_connections"])
    token.connections.set([other])
    assert status(client, key_conn.pk, raw) == 404
    assert status(client, other.pk, raw) == 200


def test_an_expired_connection_is_refused_by_the_next_call(client, key_conn, flow_token):
    _token, raw = flow_token
    stream(client, key_conn.pk, raw)
    for _ in range(10):  # failures until the status table says expired
        record_outcome(
            key_conn, kind=HealthCheck.Kind.REFRESH,
            failure=ConnectionFailure(ErrorCode.CONNECTION_EXPIRED, "The grant was withdrawn."),
        )  # fmt: skip
        key_conn.refresh_from_db()
        if key_conn.status == ConnectionStatus.EXPIRED:
            break
    assert key_conn.status == ConnectionStatus.EXPIRED
    answer = status(client, key_conn.pk, raw)
    assert answer == 422


def test_new_credentials_are_used_by_the_next_call(client, sandbox, key_conn, flow_token):
    _token, raw = flow_token
    stream(client, key_conn.pk, raw)
    secret_replace(secret=key_conn.credentials, payload={"api_key": "not-a-sandbox-key"})
    assert status(client, key_conn.pk, raw) == 401  # the sandbox refuses the new key at once


def test_an_unpublished_global_connection_is_404_on_the_next_call(
    client, key_conn, other_tenant, outsider_member, admin_member
):
    copy = make_global_copy(key_conn)
    _token, theirs = api_token_create(tenant=other_tenant, name="Theirs", actor=outsider_member.user, scopes=["proxy"])
    stream(client, copy.pk, theirs)
    global_unpublish(global_connection=copy, actor=admin_member.user)
    assert status(client, copy.pk, theirs) == 404


def test_another_tenant_never_gets_a_kept_connection(client, key_conn, flow_token, other_tenant, outsider_member):
    _token, raw = flow_token
    stream(client, key_conn.pk, raw)
    _other, theirs = api_token_create(tenant=other_tenant, name="Theirs", actor=outsider_member.user, scopes=["proxy"])
    assert status(client, key_conn.pk, theirs) == 404


def test_without_a_readable_generation_nothing_is_kept(client, key_conn, flow_token, monkeypatch, django_assert_num_queries):
    _token, raw = flow_token
    stream(client, key_conn.pk, raw)
    monkeypatch.setattr(lookups, "generation", lambda: None)
    with django_assert_num_queries(3):  # the token, the connection, the usage row
        assert status(client, key_conn.pk, raw) == 200


def test_a_change_here_is_seen_by_the_next_call_another_process_serves(sandbox, tenant, admin_member, settings):
    """gunicorn keeps its own lookups; the revocation below happens in this process."""
    api_key = sandbox_services.create_api_key(sandbox_services.DEFAULT_EMAIL)
    conn = make_connection(tenant, api_key_app(), {"api_key": api_key}, name="Served elsewhere")
    _one, first = api_token_create(tenant=tenant, name="One", actor=admin_member.user, scopes=["proxy"])
    _two, second = api_token_create(tenant=tenant, name="Two", actor=admin_member.user, scopes=["proxy"])
    env = {**subprocess_env(sandbox.url), "SANDBOX_ENABLED": "true", "DEBUG": "false", "PROXY_RATE_LIMIT": "0"}
    web = Gunicorn("lookups", env)
    try:
        web.wait()
        url = f"{web.url}/api/proxy/{conn.pk}/echo/x"
        with requests.Session() as session:

            def call(raw):
                return session.get(url, headers={"Authorization": f"Bearer {raw}"}, timeout=30).status_code

            assert [call(first) for _ in range(10)] == [200] * 10
            api_token_revoke(token=ApiToken.objects.for_tenant(tenant).get(name="One"), actor=None)
            assert call(first) == 401
            assert [call(second) for _ in range(10)] == [200] * 10
            connection_revoke(connection=conn, actor=admin_member.user)
            assert call(second) == 404
    finally:
        web.stop()
