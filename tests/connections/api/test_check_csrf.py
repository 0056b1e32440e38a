"""The check changes state: a session needs the CSRF header on GET as on POST; tokens do not."""

import pytest
import responses
from django.conf import settings
from django.test import Client
from django.utils.crypto import get_random_string

from connections.models import Connection, HealthCheck
from connections.services.tokens import api_token_create
from vault.services import secret_seal

from ..lifecycle_helpers import make_app

pytestmark = pytest.mark.django_db

KEY_URL = "https://acme.acme.test/v1/me"


@pytest.fixture
def connection(tenant, operator_member):
    app = make_app("api_key")
    return Connection.all_objects.create(
        tenant=tenant,
        app=app,
        name="Main",
        config={"subdomain": "acme"},
        created_by=operator_member.user,
        credentials=secret_seal(payload={"api_key": "k"}, purpose="connection"),
    )


@pytest.fixture
def browser(operator_member):
    """A browser that really enforces CSRF, signed in, holding the CSRF cookie a page would set."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator_member.user)
    browser.csrf = get_random_string(32)
    browser.cookies[settings.CSRF_COOKIE_NAME] = browser.csrf
    return browser


@responses.activate
def test_cross_site_navigation_to_the_check_runs_nothing(browser, connection):
    responses.get(KEY_URL, json={"account": {"email": "ann@acme.test"}})
    # What a link on another site produces: a top-level GET with the session cookie, no header.
    response = browser.get(
        f"/api/connections/{connection.id}/check",
        HTTP_SEC_FETCH_SITE="cross-site",
        HTTP_SEC_FETCH_MODE="navigate",
        HTTP_REFERER="https://evil.example/",
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"
    response = browser.post(f"/api/connections/{connection.id}/check")
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"
    assert (
        len(responses.calls) == 0 and not HealthCheck.objects.filter(connection=connection).exists()
    )
    connection.refresh_from_db()
    assert connection.last_checked_at is None


@responses.activate
@pytest.mark.parametrize("method", ["get", "post"])
def test_session_check_with_the_csrf_header_runs(browser, connection, method):
    responses.get(KEY_URL, json={"account": {"email": "ann@acme.test"}})
    response = getattr(browser, method)(
        f"/api/connections/{connection.id}/check", HTTP_X_CSRFTOKEN=browser.csrf
    )
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True
    assert HealthCheck.objects.filter(connection=connection).count() == 1


@responses.activate
@pytest.mark.parametrize("method", ["get", "post"])
def test_token_check_needs_no_csrf(tenant, admin_member, connection, method):
    responses.get(KEY_URL, json={"account": {"email": "ann@acme.test"}})
    raw = api_token_create(tenant=tenant, name="flow", actor=admin_member.user, scopes=["check"])[1]
    machine = Client(enforce_csrf_checks=True)
    response = getattr(machine, method)(
        f"/api/connections/{connection.id}/check", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert response.status_code == 200, response.content
    assert HealthCheck.objects.filter(connection=connection).count() == 1


def test_reads_need_no_csrf_header(browser, connection):
    assert browser.get("/api/connections").status_code == 200
    assert browser.get(f"/api/connections/{connection.id}").status_code == 200
