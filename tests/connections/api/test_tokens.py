"""API token scopes, expiry, connection lists and last use, as the JSON API enforces them."""

import json
import time
from datetime import timedelta

import pytest
import responses
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from connections.models import (
    ApiToken,
    Attempt,
    Connection,
    GlobalConnection,
    HealthCheck,
    TokenScope,
)
from connections.services.tokens import api_token_authenticate, api_token_create
from vault.services import secret_seal

from ..lifecycle_helpers import make_app

pytestmark = pytest.mark.django_db

ALL = [scope.value for scope in TokenScope]
KEY_URL = "https://acme.acme.test/v1/me"


@pytest.fixture
def key_app(db):
    return make_app("api_key")


def connection_for(tenant, app, name="Main", api_key="key-3f9a1c"):
    return Connection.all_objects.create(
        tenant=tenant,
        app=app,
        name=name,
        config={"subdomain": "acme"},
        account_label="ann@acme.test",
        credentials=secret_seal(payload={"api_key": api_key}, purpose="connection"),
    )


def token_for(tenant, member, **options):
    return api_token_create(tenant=tenant, name="flow", actor=member.user, **options)


def call(raw, method, url, body=None, **extra):
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}", **extra}
    if body is None:
        return getattr(client, method)(url, **headers)
    return getattr(client, method)(
        url, data=json.dumps(body), content_type="application/json", **headers
    )


def endpoints(connection, attempt):
    """Every endpoint with the one scope it needs."""
    return [
        ("get", "/api/connections", None, TokenScope.READ),
        ("get", f"/api/connections/{connection.id}", None, TokenScope.READ),
        ("post", "/api/connections", {"app": "acme-key"}, TokenScope.ATTEMPTS),
        ("get", f"/api/connections/{attempt.id}/test", None, TokenScope.ATTEMPTS),
        ("get", f"/api/connections/{connection.id}/check", None, TokenScope.CHECK),
        ("post", f"/api/connections/{connection.id}/check", None, TokenScope.CHECK),
        ("get", f"/api/connections/{connection.id}/credentials", None, TokenScope.CREDENTIALS),
        ("patch", f"/api/connections/{connection.id}", {"name": "Renamed"}, TokenScope.MANAGE),
        ("post", f"/api/connections/{connection.id}/revoke", None, TokenScope.MANAGE),
    ]


@responses.activate
def test_each_endpoint_needs_its_scope_and_nothing_else_runs(
    tenant, admin_member, operator_member, key_app
):
    connection = connection_for(tenant, key_app)
    attempt = Attempt.all_objects.create(
        tenant=tenant,
        app=key_app,
        name="x",
        expires_at=timezone.now() + timedelta(minutes=5),
        created_by=operator_member.user,
    )
    for method, url, body, scope in endpoints(connection, attempt):
        _, raw = token_for(tenant, admin_member, scopes=[s for s in ALL if s != scope.value])
        response = call(raw, method, url, body)
        assert response.status_code == 403, (method, url, response.content)
        error = response.json()["error"]
        assert error["code"] == "insufficient_scope", url
        assert error["required_scope"] == scope.value and f"“{scope.value}”" in error["message"]
    connection.refresh_from_db()
    assert connection.name == "Main" and connection.status == "active"
    assert not HealthCheck.objects.exists() and len(responses.calls) == 0
    assert Attempt.objects.for_tenant(tenant).count() == 1


def test_a_read_token_reads_and_does_nothing_else(client, tenant, admin_member, key_app):
    connection = connection_for(tenant, key_app)
    _, raw = token_for(tenant, admin_member)  # the default: read only
    assert ApiToken.objects.for_tenant(tenant).get().scopes == ["read"]
    assert call(raw, "get", "/api/connections").json()["count"] == 1
    body = call(raw, "get", f"/api/connections/{connection.id}").json()
    assert body["name"] == "Main" and "key-3f9a1c" not in json.dumps(body)
    assert call(raw, "get", f"/api/connections/{connection.id}/credentials").status_code == 403


def test_an_expired_token_is_401(tenant, admin_member):
    # The token is used (and so kept by the lookup cache) before its expiry passes.
    expires_at = timezone.now() + timedelta(seconds=1)
    token, raw = token_for(tenant, admin_member, expires_at=expires_at)
    assert call(raw, "get", "/api/connections").status_code == 200
    time.sleep(max(0.0, (expires_at - timezone.now()).total_seconds()) + 0.05)
    response = call(raw, "get", "/api/connections")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    assert "expired" in response.json()["error"]["message"]
    assert api_token_authenticate(raw) is None


def test_a_token_limited_to_connections_sees_only_those(tenant, admin_member, key_app):
    mine = connection_for(tenant, key_app, "Mine")
    other = connection_for(tenant, key_app, "Other", api_key="other-key-77")
    shared = GlobalConnection.objects.create(app=key_app, name="Shared one")
    unlisted_shared = GlobalConnection.objects.create(app=key_app, name="Shared two")
    _, raw = token_for(
        tenant, admin_member, scopes=ALL, connections=[mine], global_connections=[shared]
    )
    listing = call(raw, "get", "/api/connections").json()
    assert [row["name"] for row in listing["results"]] == ["Mine", "Shared one"] and listing[
        "count"
    ] == 2
    assert call(raw, "get", "/api/connections?kind=global").json()["count"] == 1
    assert call(raw, "get", f"/api/connections/{shared.id}").status_code == 200
    for url in (
        f"/api/connections/{other.id}",
        f"/api/connections/{unlisted_shared.id}",
        f"/api/connections/{other.id}/check",
        f"/api/connections/{other.id}/credentials",
        f"/api/connections/{unlisted_shared.id}/credentials",
    ):
        response = call(raw, "get", url)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", url
        assert "other-key-77" not in response.content.decode()
    assert call(raw, "patch", f"/api/connections/{other.id}", {"name": "Stolen"}).status_code == 404
    assert call(raw, "post", f"/api/connections/{other.id}/revoke").status_code == 404
    other.refresh_from_db()
    assert other.name == "Other" and other.status == "active"
    answer = call(raw, "get", f"/api/connections/{mine.id}/credentials")
    assert answer.status_code == 200 and answer.json()["credentials"] == {"api_key": "key-3f9a1c"}


def test_deleting_the_listed_connection_never_widens_the_token(tenant, admin_member, key_app):
    listed = connection_for(tenant, key_app, "Listed")
    connection_for(tenant, key_app, "Unlisted")
    _, raw = token_for(tenant, admin_member, connections=[listed])
    Connection.all_objects.filter(pk=listed.pk).delete()
    assert call(raw, "get", "/api/connections").json()["count"] == 0


def test_a_token_cannot_be_limited_to_another_tenants_connection(
    tenant, other_tenant, admin_member, key_app
):
    theirs = connection_for(other_tenant, key_app, "Theirs")
    with pytest.raises(ValidationError):
        token_for(tenant, admin_member, connections=[theirs])
    with pytest.raises(ValidationError):
        token_for(tenant, admin_member, scopes=["read", "root"])
    with pytest.raises(ValidationError):
        token_for(tenant, admin_member, scopes=[])
    with pytest.raises(ValidationError):
        token_for(tenant, admin_member, expires_at=timezone.now() - timedelta(days=1))
    assert not ApiToken.all_objects.exists()


def test_last_use_records_the_address(tenant, admin_member, settings):
    token, raw = token_for(tenant, admin_member)
    call(
        raw,
        "get",
        "/api/connections",
        REMOTE_ADDR="203.0.113.7",
        HTTP_X_FORWARDED_FOR="198.51.100.1",
    )
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert (
        token.last_used_from == "203.0.113.7"
    )  # not behind a proxy: X-Forwarded-For is the caller's claim
    settings.BEHIND_PROXY = True
    # Behind our proxy the last hop is what the proxy saw; the first is whatever the client sent.
    call(
        raw,
        "get",
        "/api/connections",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 2001:db8::5",
    )
    token.refresh_from_db()
    assert token.last_used_from == "2001:db8::5"
    call(
        raw,
        "get",
        "/api/connections",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="not-an-address",
    )
    token.refresh_from_db()
    assert token.last_used_from == "10.0.0.2"


def test_migration_keeps_what_existing_tokens_could_do(tenant, admin_member):
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "connections.migrations.0004_api_token_scopes_expiry_connections"
    )
    token, _ = token_for(tenant, admin_member)
    migration.keep_legacy_powers(apps, None)
    token.refresh_from_db()
    assert token.scopes == ["read", "check", "credentials", "attempts"]
    assert token.all_connections is True and token.expires_at is None


def test_list_queries_stay_flat_for_a_limited_token(
    tenant, admin_member, key_app, django_assert_max_num_queries
):
    rows = [connection_for(tenant, key_app, f"C{index:02}") for index in range(30)]
    shared = [
        GlobalConnection.objects.create(app=key_app, name=f"G{index:02}") for index in range(30)
    ]
    _, raw = token_for(tenant, admin_member, connections=rows[:20], global_connections=shared[:20])
    client = Client()
    client.get("/api/connections", HTTP_AUTHORIZATION=f"Bearer {raw}")
    with django_assert_max_num_queries(6):
        body = client.get(
            "/api/connections?page_size=100", HTTP_AUTHORIZATION=f"Bearer {raw}"
        ).json()
    assert body["count"] == 40 and len(body["results"]) == 40
