"""/api/openapi.json describes every endpoint, its schemas and both auths; /api/docs is local."""

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    ("/api/connections", "get"): "read",
    ("/api/connections", "post"): "attempts",
    ("/api/connections/{pk}", "get"): "read",
    ("/api/connections/{pk}", "patch"): "manage",
    ("/api/connections/{pk}/revoke", "post"): "manage",
    ("/api/connections/{pk}/test", "get"): "attempts",
    ("/api/connections/{pk}/check", "get"): "check",
    ("/api/connections/{pk}/check", "post"): "check",
    ("/api/connections/{pk}/credentials", "get"): "credentials",
}
PROXY = {
    ("/api/proxy/{pk}/{path}", method)
    for method in ("get", "post", "put", "patch", "delete", "head", "options")
}
BODIES = {
    ("/api/connections", "post"): "AttemptIn",
    ("/api/connections/{pk}", "patch"): "RenameIn",
    ("/api/connections/{pk}/revoke", "post"): "RevokeIn",
}


@pytest.fixture
def schema(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def refs(node) -> set:
    """Return every $ref name below a node of the schema."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.add(value.rsplit("/", 1)[-1])
            else:
                found |= refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= refs(value)
    return found


def test_every_endpoint_is_described_with_both_auths_and_its_scope(schema):
    assert schema["openapi"].startswith("3.")
    described = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert described == set(ENDPOINTS) | PROXY
    schemes = schema["components"]["securitySchemes"]
    assert (
        schemes["ApiTokenAuth"]["type"] == "http" and schemes["ApiTokenAuth"]["scheme"] == "bearer"
    )
    assert schemes["SessionAuth"] == {
        **schemes["SessionAuth"],
        "type": "apiKey",
        "in": "cookie",
        "name": "sessionid",
    }
    for (path, method), scope in ENDPOINTS.items():
        operation = schema["paths"][path][method]
        assert operation["security"] == [{"ApiTokenAuth": []}, {"SessionAuth": []}], (path, method)
        assert f"Token scope: `{scope}`" in operation["description"], (path, method)
    operation_ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(set(operation_ids)) == len(ENDPOINTS) + len(PROXY)
    assert "connection_list" in operation_ids and "proxy_get" in operation_ids


def test_the_proxy_is_described_for_every_method_with_tokens_only(schema):
    for path, method in PROXY:
        operation = schema["paths"][path][method]
        assert operation["security"] == [{"ApiTokenAuth": []}], method
        assert "Token scope: `proxy`" in operation["description"]
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert names == {"pk", "path"}
        for code in ("400", "401", "403", "404", "413", "429", "502", "504"):
            assert refs(operation["responses"][code]) == {"ErrorOut"}, (method, code)


def test_every_endpoint_has_typed_bodies_and_the_error_shape(schema):
    components = schema["components"]["schemas"]
    for path, method in ENDPOINTS:
        operation = schema["paths"][path][method]
        success = {
            code: answer for code, answer in operation["responses"].items() if code.startswith("2")
        }
        assert success and all(refs(answer) for answer in success.values()), (path, method)
        for code in ("400", "401", "403", "404"):
            assert refs(operation["responses"][code]) == {"ErrorOut"}, (path, method, code)
        if (path, method) in BODIES:
            assert refs(operation["requestBody"]) == {BODIES[(path, method)]}
    assert set(components["ErrorBody"]["required"]) == {"code", "message"}
    assert {"app", "name", "scopes", "fields", "headers", "query"} <= set(
        components["AttemptIn"]["properties"]
    )
    assert set(components["ConnectionStatus"]["enum"]) == {"active", "expired", "error", "revoked"}


def test_docs_load_only_local_files(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(asset.startswith("/static/ninja/") for asset in assets), assets
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset
    assert '"validatorUrl": null' in html  # no badge from validator.swagger.io
    assert "cdn" not in html.lower() and "http://" not in html and "https://" not in html
