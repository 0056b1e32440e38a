"""Bad input is a 400 in the error shape, never a 500; unknown paths and methods answer it too."""

import json

import pytest
import responses

from catalog.models import OAuthClient
from connections.models import Attempt, Connection
from connections.services.tokens import api_token_create

from ..lifecycle_helpers import make_app

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["read", "check", "credentials", "attempts", "manage", "proxy"]


@pytest.fixture
def key_app(db):
    return make_app("api_key")


@pytest.fixture
def custom_app(db):
    return make_app("custom")


@pytest.fixture
def raw_token(tenant, admin_member):
    return api_token_create(
        tenant=tenant, name="flows", actor=admin_member.user, scopes=ALL_SCOPES
    )[1]


@pytest.fixture
def api(client, raw_token):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw_token}"
    return client


def assert_error(response, status=400, code="invalid"):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and isinstance(error["message"], str) and error["message"]
    return error


def post(api, body, path="/api/connections"):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return api.post(path, data=data, content_type="application/json")


def test_hundred_thousand_nested_brackets_is_400(api):
    error = assert_error(post(api, "[" * 100_000 + "]" * 100_000))
    assert "nests deeper" in error["message"]
    error = assert_error(post(api, '{"app": ' + "[" * 100_000))
    assert_error(post(api, '{"fields": ' + '{"a": ' * 40 + "1" + "}" * 41))


@pytest.mark.parametrize(
    "body, field",
    [
        ({"app": "acme-key", "scopes": 5}, "scopes"),
        ({"app": "acme-key", "scopes": [{"x": 1}]}, "scopes"),
        ({"app": "acme-key", "fields": {"api_key": "a\u0000b"}}, "fields.api_key"),
        ({"app": "acme-key", "fields": ["not", "an", "object"]}, "fields"),
        ({"app": "acme-key", "name": "bad\u0000name"}, "name"),
        ({"app": "acme-custom", "headers": ["abc"]}, "headers"),
        ({"app": "acme-custom", "headers": 5}, "headers"),
        ({"app": "acme-custom", "fields": {"headers": ["abc"]}}, "headers"),
        ({"app": "acme-custom", "fields": {"query": 5}}, "query"),
        ({"app": "acme-custom", "headers": [["only-a-name"]]}, "headers"),
        ({"app": "acme-custom", "headers": {"X-Token": 5}}, "headers"),
        ({"app": "x" * 65}, "app"),
        ({"app": "acme-key", "name": "n" * 201}, "name"),
    ],
)
def test_bad_create_bodies_are_400_naming_the_field(api, key_app, custom_app, tenant, body, field):
    error = assert_error(post(api, body))
    assert any(key == field or key.startswith(field + ".") for key in error.get("fields", {})), (
        error
    )
    assert Attempt.objects.for_tenant(tenant).count() == 0


def test_lone_surrogate_in_a_name_is_400(api, key_app, tenant):
    # json.dumps would escape it as \ud800: write the body by hand, as an attacker would.
    body = (
        '{"app": "acme-key", "name": "bad \\ud800 name", '
        '"fields": {"subdomain": "acme", "api_key": "k"}}'
    )
    error = assert_error(post(api, body))
    assert "surrogate" in error["message"]
    body = '{"app": "acme-key", "fields": {"\\udfff": "x"}}'
    assert_error(post(api, body))
    assert Attempt.objects.for_tenant(tenant).count() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe not utf-8",
        b"[1, 2]",
        b'"a string"',
        b"NaN",
        b'{"app": NaN}',
        b'{"app": 1' + b"0" * 5000 + b"}",
        b"{",
    ],
)
def test_bodies_that_are_no_json_object_are_400(api, body):
    assert_error(post(api, body))


def test_a_form_body_still_works_and_is_checked(api, key_app, tenant):
    response = api.post("/api/connections", {"app": "nope\u0000"})
    assert_error(response)
    response = api.post("/api/connections", {"app": "nope"})
    assert assert_error(response)["fields"] == {"app": ["There is no app “nope” in the catalog."]}


@pytest.mark.parametrize(
    "query",
    [
        "q=%00",
        "status=%00",
        "app=%00",
        "kind=%00",
        "status=nope",
        "kind=everything",
        "page=99999999999999999999",
        "page=0",
        "page=-1",
        "page=abc",
        "page_size=abc",
        "page_size=0",
        "q=" + "x" * 201,
    ],
)
def test_bad_list_queries_are_400(api, query):
    assert_error(api.get(f"/api/connections?{query}"))


def test_huge_page_sizes_are_capped_not_refused(api):
    body = api.get("/api/connections?page_size=99999999999999999999").json()
    assert body["page_size"] == 100


def test_bad_consumer_is_400(api, key_app, tenant):
    connection = Connection.all_objects.create(tenant=tenant, app=key_app, name="Main")
    assert_error(api.get(f"/api/connections/{connection.id}/credentials?consumer=%00"))
    assert_error(api.get(f"/api/connections/{connection.id}/credentials?consumer=" + "c" * 201))


def test_bad_rename_bodies_are_400(api, key_app, tenant):
    connection = Connection.all_objects.create(tenant=tenant, app=key_app, name="Main")
    url = f"/api/connections/{connection.id}"
    for body in (
        '{"name": "a\\u0000"}',
        '{"name": "\\ud800"}',
        '{"name": 5}',
        "{}",
        '{"name": ""}',
        "[" * 5000,
    ):
        assert_error(api.patch(url, data=body, content_type="application/json"))
    assert_error(
        api.post(
            f"{url}/revoke", data='{"confirm_shared": "maybe"}', content_type="application/json"
        )
    )
    connection.refresh_from_db()
    assert connection.name == "Main" and connection.status == "active"


def test_unknown_paths_and_bad_ids_are_json_404(api):
    for path in (
        "/api/nope",
        "/api/connections/not-a-uuid",
        "/api/connections/",
        "/api/",
        "/api/connections/1/check",
    ):
        assert_error(api.get(path), 404, "not_found")


def test_wrong_methods_are_json_405_with_allow(api, key_app, tenant):
    connection = Connection.all_objects.create(tenant=tenant, app=key_app, name="Main")
    response = api.put(f"/api/connections/{connection.id}")
    assert_error(response, 405, "method_not_allowed")
    assert set(response["Allow"].split(", ")) == {"GET", "PATCH"}
    response = api.delete(f"/api/connections/{connection.id}/check")
    assert_error(response, 405, "method_not_allowed")
    assert set(response["Allow"].split(", ")) == {"GET", "POST"}


def test_oauth_app_without_client_is_409_app_not_configured(api, tenant):
    app = make_app("oauth2", client=False)
    assert not OAuthClient.objects.filter(app=app).exists()
    error = assert_error(post(api, {"app": app.slug}), 409, "app_not_configured")
    assert "system administrator" in error["message"]
    assert Attempt.objects.for_tenant(tenant).count() == 0


@responses.activate
def test_custom_rows_in_every_accepted_shape_reach_the_vault(api, custom_app, tenant):
    from vault.services import secret_open

    responses.get("https://api.example.com/me", json={})
    shapes = [
        {"headers": [{"name": "X-Token", "value": "t1"}]},
        {"headers": [["X-Token", "t1"]]},
        {"headers": {"X-Token": "t1"}},
        {"fields": {"headers": {"X-Token": "t1"}}},
    ]
    for index, shape in enumerate(shapes):
        fields = {
            "base_url": "https://api.example.com",
            "test_path": "/me",
            **shape.pop("fields", {}),
        }
        response = post(
            api, {"app": custom_app.slug, "name": f"Custom {index}", "fields": fields, **shape}
        )
        assert response.status_code == 201, response.content
        connection = Connection.objects.for_tenant(tenant).get(
            pk=response.json()["connection"]["id"]
        )
        assert secret_open(secret=connection.credentials)["headers"] == {"X-Token": "t1"}
