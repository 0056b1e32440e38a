"""The credential proxy, /api/proxy/<id>/<path> and connections.client.request, against the sandbox."""

import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection as db_connection

import connections.client
from catalog.schema import PROVIDERS_DIR
from catalog.services import catalog_sync
from connections.errors import ConnectionUnusable
from connections.models import Connection, ConnectionStatus, ProxyCall, Usage
from connections.services import lookups
from connections.services.attempts import attempt_start
from connections.services.connections import connection_revoke
from connections.services.proxy import ProxyRefused, answer_headers, forwarded_headers
from connections.services.tokens import api_token_create, api_token_revoke
from vault.services import secret_replace

from ..bg_support import (
    api_key_app,
    basic_app,
    make_connection,
    make_global_copy,
    oauth2_app,
    oauth2_grant,
    stored,
)
from ..lifecycle_helpers import make_request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(tenant, admin_member):
    def make(scopes=("proxy",), tenant_=None, member=None, **kw):
        owner = tenant_ or tenant
        _, raw = api_token_create(
            tenant=owner,
            name="Flow token",
            actor=(member or admin_member).user,
            scopes=scopes,
            **kw,
        )
        return raw

    return make


def call(client, connection_id, path, raw, method="get", **kw):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"} if raw else {}
    headers.update(kw.pop("headers", {}))
    return getattr(client, method)(f"/api/proxy/{connection_id}/{path}", **kw, **headers)


def body_of(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def custom_app():
    catalog_sync(paths=[PROVIDERS_DIR / "custom.yaml"])
    from catalog.models import App

    return App.objects.get(slug="custom-rest-api")


def oauth1_connection(sandbox, tenant, operator_member):
    """Link the sandbox's OAuth1 app through the real flow (request token, consent, access token)."""
    catalog_sync(paths=[PROVIDERS_DIR / "sandbox.yaml"])
    sandbox.register_catalog_clients()
    from catalog.models import App
    from connections.services.attempts import attempt_complete_callback

    app = App.objects.get(slug="sandbox-oauth1")
    request = make_request(operator_member.user)
    attempt, url = attempt_start(
        tenant=tenant, user=operator_member.user, app=app, name="Sandbox OAuth1 link", scopes=[],
        field_values={}, request=request,
    )  # fmt: skip
    back = sandbox.approve(url)
    params = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    attempt_complete_callback(request=request, slug="sandbox-oauth1", params=params)
    return Connection.objects.for_tenant(tenant).get(app=app)


@pytest.fixture
def key_conn(sandbox, tenant):
    return make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key})


@pytest.fixture
def oauth_conn(sandbox, tenant):
    return make_connection(tenant, oauth2_app(sandbox), oauth2_grant(sandbox))


# --- every auth mode ---------------------------------------------------------------------


@pytest.fixture(params=["oauth2", "oauth1", "api_key", "basic", "custom_header", "custom_query"])
def any_mode_conn(request, sandbox, tenant, operator_member):
    mode = request.param
    if mode == "oauth2":
        return mode, make_connection(tenant, oauth2_app(sandbox), oauth2_grant(sandbox))
    if mode == "oauth1":
        return mode, oauth1_connection(sandbox, tenant, operator_member)
    if mode == "api_key":
        return mode, make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key})
    if mode == "basic":
        app = basic_app()
        creds = {"password": sandbox.basic.password}
        return mode, make_connection(
            tenant, app, creds, config={"username": sandbox.basic.username}
        )
    rows = {"X-API-Key": sandbox.api_key} if mode == "custom_header" else {}
    query = {"api_key": sandbox.api_key} if mode == "custom_query" else {}
    config = {"base_url": f"{sandbox.url}/sandbox/api", "test_path": "/me"}
    return mode, make_connection(
        tenant, custom_app(), {"headers": rows, "query": query}, config=config
    )


def test_every_auth_mode_calls_the_app_with_its_credentials(client, sandbox, token, any_mode_conn):
    mode, conn = any_mode_conn
    raw = token()
    answer = call(
        client, conn.pk, "echo/items?limit=5&page=2", raw, headers={"HTTP_X_FLOW": "nightly"}
    )
    assert answer.status_code == 200, body_of(answer)
    echoed = answer.json()
    assert echoed["account"]["email"] == sandbox.email
    assert echoed["path"] == "/sandbox/api/echo/items"
    assert {"limit", "page"} <= set(echoed["query"])
    assert echoed["headers"]["X-Flow"] == "nightly"
    expected_scheme = {"oauth2": "Bearer", "oauth1": "OAuth", "basic": "Basic"}.get(mode, "")
    assert echoed["authorization_scheme"] == expected_scheme  # never our API token
    assert raw not in answer.content.decode()
    assert sandbox.api_key not in answer.content.decode()


def test_any_method_passes_the_body(client, sandbox, token, key_conn):
    raw = token()
    for method in ("post", "put", "patch", "delete"):
        answer = call(
            client, key_conn.pk, "echo/things", raw, method=method, data='{"name": "x"}',
            content_type="application/json",
        )  # fmt: skip
        assert answer.status_code == 200, (method, answer.content)
        assert answer.json()["method"] == method.upper()
        assert answer.json()["body"] == '{"name": "x"}'
        assert answer.json()["headers"]["Content-Type"] == "application/json"
    assert call(client, key_conn.pk, "echo/x", raw, method="head").status_code == 200


# --- path escapes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/evil.com/x",  # //evil.com/x after the id
        "../../admin/",
        "echo/../../../admin/",
        "%2e%2e/%2e%2e/admin/",
        "echo/%2E%2E/%2e./x",
        "%252e%252e/x",
        "..%2F..%2Fadmin",
        "@evil.com/x",
        "%40evil.com/x",
        "https://evil.com/x",
        "http:/evil.com/x",
        "javascript:alert(1)",
        "echo\\..\\x",
    ],
)
def test_a_path_can_never_leave_the_base_url(client, sandbox, token, key_conn, path):
    answer = call(client, key_conn.pk, path, token())
    assert answer.status_code == 400, (path, answer.status_code, body_of(answer)[:200])
    assert answer.json()["error"]["code"] == "path_refused"
    assert answer["X-Proxy-Refused"] == "path_refused"
    assert sandbox.count("api") == 0


def test_python_call_refuses_escapes_too(sandbox, key_conn):
    for path in ("//evil.com/x", "../x", "https://evil.com/", "@evil.com"):
        with pytest.raises(ProxyRefused) as refused:
            connections.client.request(key_conn, "GET", path, consumer="flow")
        assert refused.value.code == "path_refused"
    assert sandbox.count("api") == 0


# --- headers -----------------------------------------------------------------------------


def test_answer_headers_drop_cookies_hop_by_hop_and_credentials(client, sandbox, token, key_conn):
    answer = call(
        client, key_conn.pk, "echo/x?echo_key=1", token(), headers={"HTTP_COOKIE": "sessionid=abc"}
    )
    assert answer.status_code == 200
    assert answer["X-Sandbox"] == "yes"
    assert "sandbox_session" not in answer.cookies and "s3cr3t-session" not in str(answer.items())
    assert "X-Echo-Key" not in answer  # it carried the API key back
    assert "Cookie" not in answer.json()["headers"]  # the dashboard's cookie never leaves


def test_header_filters():
    sent = forwarded_headers(
        {
            "Authorization": "Bearer act_ours", "Cookie": "sessionid=1", "Connection": "close, X-Hop",
            "X-Hop": "1", "Keep-Alive": "5", "Transfer-Encoding": "chunked", "Host": "us",
            "X-API-Key": "forged", "Proxy-Authorization": "x", "X-CSRFToken": "t", "Accept": "a/b",
            "X-Forwarded-For": "1.2.3.4", "Content-Length": "3",
        },
        {"x-api-key", "authorization"},
    )  # fmt: skip
    assert sent == {"Accept": "a/b"}
    kept = answer_headers(
        {
            "Content-Type": "application/json", "Set-Cookie": "a=b", "Connection": "keep-alive, X-Hop",
            "X-Hop": "1", "Keep-Alive": "timeout=5", "Transfer-Encoding": "chunked", "Upgrade": "h2",
            "Proxy-Authenticate": "Basic", "Trailer": "X", "X-API-Key": "k", "ETag": '"1"',
            "Location": "https://app/?token=sekrit-token-value", "Retry-After": "7",
        },
        credential_names={"x-api-key"},
        secrets=["sekrit-token-value"],
    )  # fmt: skip
    assert dict(kept) == {"Content-Type": "application/json", "ETag": '"1"', "Retry-After": "7"}


# --- refresh -----------------------------------------------------------------------------


def test_refreshes_first_when_due(client, sandbox, token, oauth_conn):
    creds = stored(oauth_conn)
    creds["expires_at"] = time.time() - 5
    secret_replace(secret=oauth_conn.credentials, payload=creds)
    answer = call(client, oauth_conn.pk, "echo/x", token())
    assert answer.status_code == 200 and sandbox.token_requests() == 2


def test_refreshes_once_after_a_401_and_retries_once(client, sandbox, token, oauth_conn):
    raw = token()
    sandbox.set_switch("api", "invalid_grant", count=1)  # the API answers 401 once
    answer = call(client, oauth_conn.pk, "echo/x", raw)
    assert answer.status_code == 200 and sandbox.token_requests() == 2
    assert sandbox.count("api") == 2
    sandbox.set_switch("api", "invalid_grant", count=2)  # 401 again after the refresh: final
    answer = call(client, oauth_conn.pk, "echo/x", raw)
    assert answer.status_code == 401 and sandbox.token_requests() == 3
    assert sandbox.count("api") == 4


def test_the_specs_expired_status_also_refreshes_once(client, sandbox, token, oauth_conn):
    app = oauth_conn.app
    app.spec = {**app.spec, "oauth2": {**app.spec["oauth2"], "expired_status": 429}}
    app.save(update_fields=["spec"])
    sandbox.set_switch("api", "429", count=1)  # this app says "expired" with a 429
    answer = call(client, oauth_conn.pk, "echo/x", token())
    assert answer.status_code == 200 and sandbox.token_requests() == 2


def test_concurrent_401s_refresh_single_flight(sandbox, oauth_conn):
    creds = stored(oauth_conn)
    creds["access_token"] = "no-longer-valid-at-the-app"
    secret_replace(secret=oauth_conn.credentials, payload=creds)

    def one(_):
        try:
            loaded = Connection.objects.for_tenant(oauth_conn.tenant).get(pk=oauth_conn.pk)
            return connections.client.request(loaded, "GET", "echo/x", consumer="burst").status_code
        finally:
            db_connection.close()

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(one, range(4)))
    assert statuses == [200] * 4
    assert sandbox.token_requests() == 2  # the grant, then one refresh for all four


# --- caps, timeouts, Retry-After -----------------------------------------------------------


def test_response_size_cap_declared_and_streamed(client, sandbox, token, key_conn, settings):
    raw = token()
    settings.PROXY_MAX_RESPONSE_BYTES = 400_000
    big = call(client, key_conn.pk, "echo/x?size=300000&stream=1", raw)
    assert big.status_code == 200 and big.streaming and len(body_of(big)) == 300_000
    refused = call(client, key_conn.pk, "echo/x?size=500000", raw)
    assert refused.status_code == 502 and refused.json()["error"]["code"] == "response_too_large"
    cut = call(client, key_conn.pk, "echo/x?size=500000&stream=1", raw)
    assert len(body_of(cut)) < 500_000
    codes = list(
        ProxyCall.objects.for_tenant(key_conn.tenant)
        .order_by("id")
        .values_list("error_code", flat=True)
    )
    assert codes == ["", "response_too_large", "too_large"]


def test_request_body_cap(client, sandbox, token, key_conn, settings):
    settings.PROXY_MAX_REQUEST_BYTES = 1000
    answer = call(
        client,
        key_conn.pk,
        "echo/x",
        token(),
        method="post",
        data=b"x" * 1001,
        content_type="text/plain",
    )
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "body_too_large"
    assert sandbox.count("api") == 0


def test_timeout(client, sandbox, token, key_conn, settings):
    settings.PROXY_TIMEOUT = 1
    sandbox.set_switch("api", "hang", seconds=3)
    started = time.monotonic()
    answer = call(client, key_conn.pk, "echo/x", token())
    assert answer.status_code == 504 and answer.json()["error"]["code"] == "app_timeout"
    assert time.monotonic() - started < 2.5


def test_429_and_5xx_keep_the_apps_retry_after(client, sandbox, token, key_conn):
    raw = token()
    sandbox.set_switch("api", "429", retry_after=9)
    answer = call(client, key_conn.pk, "echo/x", raw)
    assert answer.status_code == 429 and answer["Retry-After"] == "9"
    assert "X-Proxy-Refused" not in answer  # the app's answer, not ours
    answer = call(client, key_conn.pk, "echo/x?status=503", raw)
    assert answer.status_code == 503 and answer["Retry-After"] == "7"


def test_rate_limit_per_token(client, sandbox, token, key_conn, settings):
    settings.PROXY_RATE_LIMIT = 3
    raw, other = token(), token()
    statuses = [call(client, key_conn.pk, "echo/x", raw).status_code for _ in range(3)]
    limited = call(client, key_conn.pk, "echo/x", raw)
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 61 and limited["X-Proxy-Refused"] == "rate_limited"
    assert sandbox.count("api") == 3
    assert call(client, key_conn.pk, "echo/x", other).status_code == 200  # per token


# --- usage -------------------------------------------------------------------------------


def test_every_call_is_recorded_without_bodies_headers_or_query_values(
    client, sandbox, token, key_conn, tenant
):
    raw = token()
    call(client, key_conn.pk, "echo/items?email=secret%40x.test&limit=5", raw, method="post",
         data="payload-value", content_type="text/plain", headers={"HTTP_X_CONSUMER": "Nightly sync"})  # fmt: skip
    call(client, key_conn.pk, "echo/x?status=404", raw)
    rows = list(ProxyCall.objects.for_tenant(tenant).order_by("id"))
    assert [(r.method, r.path, r.status, r.consumer) for r in rows] == [
        ("POST", "/echo/items?email=…&limit=…", 200, "Nightly sync"),
        ("GET", "/echo/x?status=…", 404, "Flow token"),
    ]
    first = rows[0]
    assert first.connection == key_conn and first.token.name == "Flow token"
    assert first.request_bytes == len("payload-value") and first.response_bytes > 0
    assert first.duration_ms >= 0
    stored_text = " ".join(str(v) for r in rows for v in r.__dict__.values())
    assert "secret" not in stored_text and "payload-value" not in stored_text
    assert sandbox.api_key not in stored_text and raw not in stored_text
    usage = dict(Usage.objects.for_tenant(tenant).values_list("consumer", "count"))
    assert usage == {"Nightly sync": 1, "Flow token": 1}


def test_a_proxied_call_costs_at_most_four_queries(
    client, sandbox, token, key_conn, other_tenant, outsider_member, django_assert_num_queries
):
    raw = token()
    assert call(client, key_conn.pk, "echo/x", raw).status_code == 200  # first use creates rows
    # The token and the connection come from the process's lookups (services/lookups.py): the
    # ProxyCall row with the Usage count is the call's one statement.
    with django_assert_num_queries(1):
        assert call(client, key_conn.pk, "echo/x", raw).status_code == 200
    # Any change drops the lookups: the token, the connection, the row.
    key_conn.name = "Renamed"
    key_conn.save(update_fields=["name"])
    with django_assert_num_queries(3):
        assert call(client, key_conn.pk, "echo/x", raw).status_code == 200
    copy = make_global_copy(key_conn)
    theirs = token(tenant_=other_tenant, member=outsider_member)
    assert call(client, copy.pk, "echo/x", theirs).status_code == 200
    with django_assert_num_queries(1):
        assert call(client, copy.pk, "echo/x", theirs).status_code == 200
    lookups.changed()
    with django_assert_num_queries(4):  # the token, the tenant's table, then the global one, the row
        assert call(client, copy.pk, "echo/x", theirs).status_code == 200
    assert ProxyCall.objects.for_tenant(key_conn.tenant).count() == 3
    assert dict(Usage.objects.for_tenant(other_tenant).values_list("consumer", "count")) == {
        "Flow token": 3
    }


def test_the_connection_is_touched_once_a_minute_not_on_every_call(client, sandbox, token, key_conn):
    raw = token()
    for _ in range(3):
        assert call(client, key_conn.pk, "echo/x", raw).status_code == 200
    touched = Connection.objects.for_tenant(key_conn.tenant).get(pk=key_conn.pk).last_used_at
    assert touched is not None
    for _ in range(3):
        assert call(client, key_conn.pk, "echo/x", raw).status_code == 200
    assert Connection.objects.for_tenant(key_conn.tenant).get(pk=key_conn.pk).last_used_at == touched


# --- who may use what --------------------------------------------------------------------


def test_global_connection_through_the_proxy_while_credentials_are_403(
    client, sandbox, token, oauth_conn, other_tenant, outsider_member
):
    copy = make_global_copy(oauth_conn)
    raw = token(scopes=("proxy", "credentials"), tenant_=other_tenant, member=outsider_member)
    answer = call(client, copy.pk, "echo/x", raw)
    assert answer.status_code == 200 and answer.json()["account"]["email"] == sandbox.email
    refused = client.get(
        f"/api/connections/{copy.pk}/credentials", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "use_proxy"
    assert "access_token" not in refused.content.decode()
    row = ProxyCall.objects.for_tenant(other_tenant).get()
    assert row.global_connection == copy and row.connection is None
    assert not ProxyCall.objects.for_tenant(oauth_conn.tenant).exists()


def test_another_tenants_connection_is_404(
    client, sandbox, token, key_conn, other_tenant, outsider_member
):
    raw = token(tenant_=other_tenant, member=outsider_member)
    answer = call(client, key_conn.pk, "echo/x", raw)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    assert call(client, "00000000-0000-0000-0000-000000000000", "echo/x", raw).status_code == 404
    assert sandbox.count("api") == 0
    assert not ProxyCall.objects.for_tenant(other_tenant).exists()


def test_unlisted_revoked_and_unpublished_are_404(client, sandbox, token, key_conn, tenant):
    other = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key}, name="Other")
    restricted = token(connections=[other])
    assert call(client, key_conn.pk, "echo/x", restricted).status_code == 404
    assert call(client, other.pk, "echo/x", restricted).status_code == 200
    copy = make_global_copy(
        key_conn, unpublished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    )
    assert call(client, copy.pk, "echo/x", token()).status_code == 404


def test_scope_and_auth(client, client_for, sandbox, token, key_conn, admin_member):
    assert (
        call(client, key_conn.pk, "echo/x", token(scopes=("read", "credentials"))).status_code
        == 403
    )
    assert call(client, key_conn.pk, "echo/x", None).status_code == 401
    assert call(client, key_conn.pk, "echo/x", "act_unknown").status_code == 401
    signed_in = client_for(admin_member)
    assert call(signed_in, key_conn.pk, "echo/x", None).status_code == 401  # tokens only
    assert sandbox.count("api") == 0


def test_revoking_during_a_stream_of_calls_refuses_the_very_next_call(
    client, sandbox, token, key_conn, admin_member
):
    raw = token()
    for number in range(10):
        if number == 5:
            connection_revoke(connection=key_conn, actor=admin_member.user)
        status = call(client, key_conn.pk, "echo/x", raw).status_code
        assert status == (200 if number < 5 else 404), number
    assert sandbox.count("api") == 5


def test_revoking_the_token_during_a_stream_refuses_the_very_next_call(
    client, sandbox, token, key_conn, tenant, admin_member
):
    raw = token()
    for number in range(6):
        if number == 3:
            from connections.models import ApiToken

            api_token_revoke(
                token=ApiToken.objects.for_tenant(tenant).get(), actor=admin_member.user
            )
        status = call(client, key_conn.pk, "echo/x", raw).status_code
        assert status == (200 if number < 3 else 401), number


def test_expired_connection_is_refused_with_what_to_do(client, sandbox, token, key_conn):
    Connection.all_objects.filter(pk=key_conn.pk).update(status=ConnectionStatus.EXPIRED)
    answer = call(client, key_conn.pk, "echo/x", token())
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "connection_expired"
    assert "re-authorize" in answer.json()["error"]["message"]


# --- the Python call ---------------------------------------------------------------------


def test_python_call(sandbox, key_conn, tenant, other_tenant):
    answer = connections.client.request(
        key_conn, "POST", "/echo/items", consumer="Report", params={"limit": 3}, json={"a": 1}
    )
    assert answer.status_code == 200 and answer.json()["body"] == '{"a": 1}'
    assert answer.json()["query"] == ["limit"] and "Set-Cookie" not in answer.headers
    row = ProxyCall.objects.for_tenant(tenant).get()
    assert (row.method, row.path, row.consumer, row.token) == (
        "POST",
        "/echo/items?limit=…",
        "Report",
        None,
    )
    by_id = connections.client.request(
        key_conn.pk, "GET", "echo/x", consumer="Report", tenant=tenant
    )
    assert by_id.status_code == 200
    with pytest.raises(ConnectionUnusable):
        connections.client.request(
            key_conn.pk, "GET", "echo/x", consumer="spy", tenant=other_tenant
        )
    copy = make_global_copy(key_conn)
    shared = connections.client.request(
        copy.pk, "GET", "echo/x", consumer="Globex", tenant=other_tenant
    )
    assert shared.status_code == 200
