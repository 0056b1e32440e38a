"""JSON API: session and token auth, roles, CSRF, create/test/check/list/item, two-tenant 404s."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.test import Client

from connections.models import Attempt, Connection, ConnectionStatus, GlobalConnection
from connections.services.attempts import attempt_complete_callback, attempt_confirm_link
from connections.services.tokens import api_token_create

from ..lifecycle_helpers import AUTH, BASE, make_app, make_request

pytestmark = pytest.mark.django_db

KEY_URL = "https://acme.acme.test/v1/me"
# What a flow's token could do before tokens had scopes (and what the migration gives old ones).
FLOW_SCOPES = ["read", "check", "credentials", "attempts"]


@pytest.fixture
def key_app(db):
    return make_app("api_key")


@pytest.fixture
def oauth_app(db):
    return make_app("oauth2")


@pytest.fixture
def token(tenant, admin_member):
    return api_token_create(tenant=tenant, name="flows", actor=admin_member.user, scopes=FLOW_SCOPES)[1]


def bearer(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def post_json(client, url, data, **extra):
    return client.post(url, data=json.dumps(data), content_type="application/json", **extra)


def make_connection(tenant, app, name="Main", **kwargs):
    return Connection.all_objects.create(tenant=tenant, app=app, name=name, account_label="ann@acme.test", **kwargs)


@responses.activate
def test_create_key_based_with_session_is_tested_at_once(client_for, operator_member, key_app, tenant):
    responses.get(KEY_URL, json={"account": {"email": "key@acme.test"}})
    client = client_for(operator_member)
    response = post_json(client, "/api/connections", {"app": key_app.slug, "fields": {"subdomain": "acme", "api_key": "key-7f3e9a"}})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "succeeded"
    connection = Connection.objects.for_tenant(tenant).get()
    assert body["connection"]["id"] == str(connection.id)
    assert body["connection"]["account_label"] == "key@acme.test"
    assert "key-7f3e9a" not in response.content.decode()


@responses.activate
def test_create_key_based_wrong_key_is_422_and_nothing_created(client_for, operator_member, key_app, tenant):
    responses.get(KEY_URL, status=401)
    response = post_json(client_for(operator_member), "/api/connections", {"app": key_app.slug, "fields": {"subdomain": "acme", "api_key": "bad"}})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "test_failed"
    assert response.json()["attempt"]["status"] == "failed"
    assert Connection.objects.for_tenant(tenant).count() == 0


@responses.activate
def test_create_key_based_app_down_is_503(client_for, operator_member, key_app):
    responses.get(KEY_URL, status=500)
    response = post_json(client_for(operator_member), "/api/connections", {"app": key_app.slug, "fields": {"subdomain": "acme", "api_key": "k"}})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "app_unavailable"


def test_create_validation_errors_are_400(client_for, operator_member, key_app):
    client = client_for(operator_member)
    response = post_json(client, "/api/connections", {"app": "nope"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"
    response = post_json(client, "/api/connections", {"app": key_app.slug, "fields": {"subdomain": "acme"}})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"api_key": ["API key is required."]}
    response = client.post("/api/connections", data="{not json", content_type="application/json")
    assert response.status_code == 400


@responses.activate
def test_create_oauth_with_token_returns_authorize_url_then_callback_completes(client, token, oauth_app, tenant, admin_member):
    response = post_json(client, "/api/connections", {"app": oauth_app.slug, "scopes": ["profile", "write"]}, **bearer(token))
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending"
    assert body["authorize_url"].startswith(f"{AUTH}/authorize?")
    assert parse_qs(urlsplit(body["authorize_url"]).query)["scope"] == ["profile write"]
    state = parse_qs(urlsplit(body["authorize_url"]).query)["state"][0]
    responses.post(f"{AUTH}/token", json={"access_token": "at", "token_type": "Bearer", "expires_in": 60})
    responses.get(f"{BASE}/me", json={"account": {"email": "ann@acme.test"}})
    # Started with a token, the callback may arrive in any browser (no session binding), but
    # only a signed-in operator or admin of the company finishes it, after a confirmation.
    attempt = attempt_complete_callback(
        request=make_request(admin_member.user), slug=oauth_app.slug, params={"code": "c", "state": state}
    )
    attempt_confirm_link(attempt=attempt, actor=admin_member.user)
    report = client.get(f"/api/connections/{body['id']}/test", **bearer(token))
    assert report.status_code == 200
    assert report.json()["status"] == "succeeded"
    assert report.json()["connection"]["account_label"] == "ann@acme.test"


def test_attempt_test_reports_pending_and_failed(client_for, operator_member, oauth_app, tenant):
    client = client_for(operator_member)
    body = post_json(client, "/api/connections", {"app": oauth_app.slug}).json()
    report = client.get(f"/api/connections/{body['id']}/test")
    assert report.status_code == 200 and report.json()["status"] == "pending"
    Attempt.all_objects.filter(pk=body["id"]).update(status="failed", error_code="authorization_rejected", error_message="Denied.")
    report = client.get(f"/api/connections/{body['id']}/test")
    assert report.status_code == 422
    assert report.json()["error"] == {"code": "authorization_rejected", "message": "Denied."}


def test_viewer_reads_but_cannot_create_or_check(client_for, viewer_member, key_app, tenant):
    connection = make_connection(tenant, key_app)
    client = client_for(viewer_member)
    assert client.get("/api/connections").status_code == 200
    assert client.get(f"/api/connections/{connection.id}").status_code == 200
    response = post_json(client, "/api/connections", {"app": key_app.slug})
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert client.get(f"/api/connections/{connection.id}/check").status_code == 403
    assert Attempt.objects.for_tenant(tenant).count() == 0


def test_unauthenticated_and_bad_token_are_401(client, key_app):
    response = client.get("/api/connections")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    assert client.get("/api/connections", **bearer("act_nope")).status_code == 401
    assert client.get("/api/connections", HTTP_AUTHORIZATION="Basic abc").status_code == 401


def test_revoked_token_is_401(client, tenant, admin_member):
    from connections.services.tokens import api_token_revoke

    token, raw = api_token_create(tenant=tenant, name="t", actor=admin_member.user)
    assert client.get("/api/connections", **bearer(raw)).status_code == 200
    api_token_revoke(token=token, actor=admin_member.user)
    assert client.get("/api/connections", **bearer(raw)).status_code == 401


def test_token_use_updates_last_used_at(client, tenant, admin_member):
    token, raw = api_token_create(tenant=tenant, name="t", actor=admin_member.user)
    client.get("/api/connections", **bearer(raw))
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_session_post_needs_csrf_but_token_post_does_not(operator_member, token, key_app):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator_member.user)
    response = post_json(browser, "/api/connections", {"app": key_app.slug})
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"
    machine = Client(enforce_csrf_checks=True)
    response = post_json(machine, "/api/connections", {"app": key_app.slug}, **bearer(token))
    assert response.status_code == 400  # past CSRF; the fields are missing


def test_wrong_method_is_405(client_for, operator_member, key_app, tenant):
    client = client_for(operator_member)
    connection = make_connection(tenant, key_app)
    response = client.delete("/api/connections")
    assert response.status_code == 405 and response["Allow"] == "GET, POST"
    assert client.post(f"/api/connections/{connection.id}").status_code == 405


def test_list_paginates_tenant_then_global_and_filters(client_for, viewer_member, key_app, oauth_app, tenant, other_tenant):
    for i in range(3):
        make_connection(tenant, key_app, name=f"Key {i}")
    make_connection(tenant, oauth_app, name="OAuth", status=ConnectionStatus.EXPIRED)
    make_connection(tenant, key_app, name="Gone", status=ConnectionStatus.REVOKED)
    make_connection(other_tenant, key_app, name="Theirs")
    GlobalConnection.objects.create(app=key_app, name="Shared key")
    client = client_for(viewer_member)
    body = client.get("/api/connections?page_size=3").json()
    assert body["count"] == 5 and body["pages"] == 2
    assert [r["name"] for r in body["results"]] == ["Key 0", "Key 1", "Key 2"]
    body = client.get("/api/connections?page_size=3&page=2").json()
    assert [(r["name"], r["kind"]) for r in body["results"]] == [("OAuth", "tenant"), ("Shared key", "global")]
    body = client.get("/api/connections?status=expired").json()
    assert [r["name"] for r in body["results"]] == ["OAuth"]
    body = client.get(f"/api/connections?app={oauth_app.slug}&kind=tenant").json()
    assert [r["name"] for r in body["results"]] == ["OAuth"]
    body = client.get("/api/connections?kind=global").json()
    assert [r["name"] for r in body["results"]] == ["Shared key"] and body["count"] == 1
    body = client.get("/api/connections?q=key%201").json()
    assert [r["name"] for r in body["results"]] == ["Key 1"]
    assert "Theirs" not in json.dumps(client.get("/api/connections?page_size=100").json())


def test_item_shows_tenant_and_global_connections(client_for, viewer_member, key_app, tenant):
    connection = make_connection(tenant, key_app)
    shared = GlobalConnection.objects.create(app=key_app, name="Shared key")
    client = client_for(viewer_member)
    assert client.get(f"/api/connections/{connection.id}").json()["name"] == "Main"
    body = client.get(f"/api/connections/{shared.id}").json()
    assert body["kind"] == "global" and body["read_only"] is True


@responses.activate
def test_check_runs_now(client, token, key_app, tenant):
    from vault.services import secret_seal

    connection = make_connection(
        tenant, key_app, config={"subdomain": "acme"},
        credentials=secret_seal(payload={"api_key": "k"}, purpose="connection"),
    )
    responses.get(KEY_URL, json={"account": {"email": "ann@acme.test"}})
    response = client.get(f"/api/connections/{connection.id}/check", **bearer(token))
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True
    assert response.json()["connection"]["status"] == "active"
    responses.replace(responses.GET, KEY_URL, status=503)
    response = client.get(f"/api/connections/{connection.id}/check", **bearer(token))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "app_unavailable"


def test_check_of_revoked_connection_is_409(client, token, key_app, tenant):
    connection = make_connection(tenant, key_app, status=ConnectionStatus.REVOKED)
    response = client.get(f"/api/connections/{connection.id}/check", **bearer(token))
    assert response.status_code == 409


def test_every_endpoint_is_404_across_tenants(client_for, outsider_member, other_tenant, make_member, key_app, oauth_app, tenant, operator_member):
    connection = make_connection(tenant, key_app)
    attempt = Attempt.all_objects.create(
        tenant=tenant, app=oauth_app, name="x", expires_at=connection.created_at, created_by=operator_member.user
    )
    client = client_for(outsider_member)
    for url in (
        f"/api/connections/{connection.id}",
        f"/api/connections/{attempt.id}/test",
        f"/api/connections/{connection.id}/check",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
    assert client.get("/api/connections").json()["count"] == 0
    outsider_token = api_token_create(tenant=other_tenant, name="t", actor=outsider_member.user, scopes=FLOW_SCOPES)[1]
    anonymous = Client()
    for url in (f"/api/connections/{connection.id}", f"/api/connections/{attempt.id}/test", f"/api/connections/{connection.id}/check"):
        assert anonymous.get(url, **bearer(outsider_token)).status_code == 404, url


def test_list_queries_do_not_grow_with_rows(client_for, viewer_member, key_app, oauth_app, tenant, django_assert_max_num_queries):
    client = client_for(viewer_member)
    for i in range(40):
        make_connection(tenant, key_app if i % 2 else oauth_app, name=f"C{i:02}")
        GlobalConnection.objects.create(app=key_app, name=f"G{i:02}")
    client.get("/api/connections")  # warm the session and membership caches
    with django_assert_max_num_queries(8):
        body = client.get("/api/connections?page_size=100").json()
    assert len(body["results"]) == 80
