"""A 500 inside the API shows no bearer token and no typed secret in the error report's locals.

The report is what Django renders for an uncaught exception (technical_500_response, the same
ExceptionReporter that fills error mails), with DEBUG off as in production.
"""

import json

import pytest
from django.test import Client
from django.views.debug import technical_500_response

from connections.services.tokens import api_token_create

from ..lifecycle_helpers import make_app

pytestmark = pytest.mark.django_db

TYPED_SECRET = "typed-secret-8c41f0d2e7"


class Boom(RuntimeError):
    pass


def explode(*args, **kwargs):
    raise Boom("inside the API")


@pytest.fixture
def raw(tenant, admin_member):
    scopes = ["read", "attempts", "credentials"]
    return api_token_create(tenant=tenant, name="flow", actor=admin_member.user, scopes=scopes)[1]


def report_of(response) -> str:
    """Return the HTML technical 500 report of the exception the request raised."""
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    exc_type, exc, tb = response.exc_info
    assert exc_type is Boom or isinstance(exc.__cause__, Boom)  # ninja wraps a parser's exception
    html = technical_500_response(response.wsgi_request, exc_type, exc, tb).content.decode()
    assert "inside the API" in html and "Local vars" in html  # the report really shows locals
    return html


def request(raw, method="get", path="/api/connections", body=None):
    client = Client(raise_request_exception=False)
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(path, **kwargs)


@pytest.mark.parametrize(
    "target",
    [
        "connections.api.auth.client_address",  # in the bearer auth, the raw header in its locals
        "connections.services.tokens._address",  # in api_token_authenticate: the raw token
    ],
)
def test_a_crash_in_token_auth_hides_the_token(monkeypatch, raw, target):
    monkeypatch.setattr(target, explode)
    html = report_of(request(raw))
    assert raw not in html and raw[len("act_") :] not in html


def test_a_crash_in_the_body_parser_hides_the_typed_secret(monkeypatch, raw):
    monkeypatch.setattr("connections.api.parser.check_body", explode)
    html = report_of(
        request(raw, "post", body={"app": "acme-key", "fields": {"api_key": TYPED_SECRET}})
    )
    assert TYPED_SECRET not in html and raw not in html


def test_a_crash_in_the_create_view_hides_the_typed_secret(monkeypatch, raw):
    make_app("api_key")
    monkeypatch.setattr("connections.api.endpoints.attempt_services.attempt_start", explode)
    body = {"app": "acme-key", "fields": {"subdomain": "acme", "api_key": TYPED_SECRET}}
    html = report_of(request(raw, "post", body=body))
    assert TYPED_SECRET not in html and raw not in html


def test_a_crash_after_fetching_credentials_hides_them(monkeypatch, raw, tenant):
    from connections.models import Connection
    from vault.services import secret_seal

    app = make_app("api_key")
    connection = Connection.all_objects.create(
        tenant=tenant,
        app=app,
        name="Main",
        config={"subdomain": "acme"},
        credentials=secret_seal(payload={"api_key": TYPED_SECRET}, purpose="connection"),
    )
    monkeypatch.setattr("connections.api.endpoints.serialize_connection", explode)
    html = report_of(request(raw, path=f"/api/connections/{connection.id}/credentials"))
    assert TYPED_SECRET not in html and raw not in html
