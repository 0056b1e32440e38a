"""The dashboard pages of the connection lifecycle: pages, POSTs, roles and tenant isolation."""

import re
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from catalog.models import App
from catalog.services import oauth_client_set
from connections.models import (
    Attempt,
    Connection,
    ConnectionStatus,
    ErrorCode,
    Event,
    GlobalConnection,
    HealthCheck,
    Role,
    Usage,
)
from vault.services import secret_seal

API = "https://api.keyed.test"
AUTH = "https://auth.oauthy.test"
GOOD_KEY = "good-key-0123456789"
BAD_KEY = "wrong-key-9876543210"


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def key_app(db):
    spec = {
        "slug": "keyed",
        "name": "Keyed",
        "category": "developer-tools",
        "description": "An API-key app for tests.",
        "auth": "api_key",
        "base_url": API,
        "fields": [
            {"key": "api_key", "label": "API key", "secret": True, "help": "From the settings page", "required": True}
        ],
        "apply": {"headers": {"X-API-Key": "{api_key}"}, "query": {}},
        "test": {"method": "GET", "path": "/me", "account": "account.email"},
        "setup_steps": "1. Open Settings → API.\n2. Copy the key.",
    }
    return App.objects.create(
        slug="keyed", name="Keyed", category="developer-tools", auth_mode="api_key", spec=spec,
        setup_steps=spec["setup_steps"], description=spec["description"],
    )


def _oauth_spec(slug, name):
    return {
        "slug": slug,
        "name": name,
        "category": "communication",
        "auth": "oauth2",
        "base_url": f"{API}/v1",
        "fields": [],
        "oauth2": {
            "authorize_url": f"{AUTH}/authorize",
            "token_url": f"{AUTH}/token",
            "revoke_url": None,
            "scopes": ["profile", "read"],
            "optional_scopes": ["write"],
            "scope_separator": " ",
            "pkce": True,
            "client_auth": "body",
            "authorize_params": {},
        },
        "test": {"method": "GET", "path": "/me", "account": "account.email"},
    }


@pytest.fixture
def oauth_app(db):
    app = App.objects.create(
        slug="oauthy", name="Oauthy", category="communication", auth_mode="oauth2", spec=_oauth_spec("oauthy", "Oauthy")
    )
    oauth_client_set(app=app, client_id="client-123", client_secret="client-secret-xyz")
    return app


@pytest.fixture
def unconfigured_app(db):
    return App.objects.create(
        slug="lonely", name="Lonely", category="communication", auth_mode="oauth2", spec=_oauth_spec("lonely", "Lonely")
    )


@pytest.fixture
def make_connection(db):
    def make(member, app, name="Main", status=ConnectionStatus.ACTIVE, **extra):
        credentials = secret_seal(payload={"api_key": GOOD_KEY}, purpose="connection")
        return Connection.all_objects.create(
            tenant=member.tenant, app=app, name=name, status=status, created_by=member.user,
            credentials=credentials, account_label=extra.pop("account_label", "ops@acme.test"),
            authorized_at=extra.pop("authorized_at", timezone.now()), **extra,
        )

    return make


@pytest.fixture
def own_connection(operator_member, key_app, make_connection):
    return make_connection(operator_member, key_app, name="Ops key")


@pytest.fixture
def others_connection(tenant, make_member, key_app, make_connection):
    return make_connection(make_member(tenant, Role.OPERATOR, username="other-op"), key_app, name="Other key")


def _messages(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def _mock_me(status=200, email="ops@acme.test"):
    body = {"account": {"id": 1, "email": email, "name": "Ops"}} if status == 200 else {"error": "unauthorized"}
    responses.add(responses.GET, f"{API}/me", json=body, status=status)
    responses.add(responses.GET, f"{API}/v1/me", json=body, status=status)


# --- list -----------------------------------------------------------------------------------


def test_list_shows_the_tenants_connections_with_badges(client_for, operator_member, own_connection, key_app, make_connection):
    make_connection(operator_member, key_app, name="Old one", status=ConnectionStatus.REVOKED)
    make_connection(operator_member, key_app, name="Broken", status=ConnectionStatus.EXPIRED)
    make_connection(operator_member, key_app, name="Down", status=ConnectionStatus.ERROR)
    response = client_for(operator_member).get(reverse("connections:list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Ops key" in html and "Broken" in html and "Down" in html
    assert "Old one" not in html  # revoked ones only under History
    assert "Connection expired" in html and "App unavailable" in html and "Active" in html
    assert "ops@acme.test" in html
    assert "+ New Connection" in html
    assert reverse("connections:detail", args=[own_connection.pk]) in html


def test_list_history_filter_shows_revoked(client_for, operator_member, key_app, make_connection, own_connection):
    make_connection(operator_member, key_app, name="Old one", status=ConnectionStatus.REVOKED)
    html = client_for(operator_member).get(reverse("connections:list"), {"status": "history"}).content.decode()
    assert "Old one" in html and "Revoked" in html
    assert "Ops key" not in html


def test_list_filters_by_app_status_and_search(client_for, operator_member, key_app, oauth_app, make_connection):
    make_connection(operator_member, key_app, name="Billing key")
    make_connection(operator_member, oauth_app, name="Team chat")
    make_connection(operator_member, oauth_app, name="Team expired", status=ConnectionStatus.EXPIRED)
    client = client_for(operator_member)
    html = client.get(reverse("connections:list"), {"app": "oauthy"}).content.decode()
    assert "Team chat" in html and "Team expired" in html and "Billing key" not in html
    html = client.get(reverse("connections:list"), {"status": "expired"}).content.decode()
    assert "Team expired" in html and "Team chat" not in html and "Billing key" not in html
    html = client.get(reverse("connections:list"), {"q": "billing"}).content.decode()
    assert "Billing key" in html and "Team chat" not in html


def test_list_paginates_by_25(client_for, operator_member, key_app, make_connection):
    for index in range(30):
        make_connection(operator_member, key_app, name=f"Key {index:02d}")
    client = client_for(operator_member)
    first = client.get(reverse("connections:list")).content.decode()
    assert "Key 00" in first and "Key 24" in first and "Key 25" not in first
    assert "Page 1 of 2" in first
    second = client.get(reverse("connections:list"), {"page": 2}).content.decode()
    assert "Key 25" in second and "Key 29" in second and "Key 00" not in second


def test_list_empty_state_leads_to_new_connection(client_for, operator_member, viewer_member):
    html = client_for(operator_member).get(reverse("connections:list")).content.decode()
    assert "No connections yet" in html
    assert reverse("connections:new") in html


def test_list_viewer_sees_no_create_button(client_for, viewer_member, own_connection):
    html = client_for(viewer_member).get(reverse("connections:list")).content.decode()
    assert "Ops key" in html
    assert "+ New Connection" not in html


def test_list_rotation_due_badge(client_for, operator_member, key_app, make_connection, settings):
    settings.ROTATION_PERIOD_DAYS = 90
    make_connection(operator_member, key_app, name="Fresh")
    make_connection(operator_member, key_app, name="Ancient", authorized_at=timezone.now() - timedelta(days=91))
    make_connection(operator_member, key_app, name="Flagged", rotation_flagged_at=timezone.now())
    html = client_for(operator_member).get(reverse("connections:list")).content.decode()
    assert html.count("Rotation due") == 2
    rows = {name: row for name, row in re.findall(r'<tr>\s*<td>.*?>([A-Z][a-z]+)</a>(.*?)</tr>', html, re.S)}
    assert "Rotation due" in rows["Ancient"] and "Rotation due" in rows["Flagged"]
    assert "Rotation due" not in rows["Fresh"]


def test_list_shows_global_connections_read_only(client_for, operator_member, oauth_app):
    GlobalConnection.objects.create(app=oauth_app, name="Shared Slack", account_label="bot@shared.test")
    GlobalConnection.objects.create(app=oauth_app, name="Gone", unpublished_at=timezone.now())
    html = client_for(operator_member).get(reverse("connections:list")).content.decode()
    assert "Global connections" in html
    assert "Shared Slack" in html and "bot@shared.test" in html
    assert "Gone" not in html


def test_list_never_shows_another_tenants_connections(client_for, outsider_member, own_connection):
    html = client_for(outsider_member).get(reverse("connections:list")).content.decode()
    assert "Ops key" not in html
    assert "No connections yet" in html


def test_list_requires_login(client):
    response = client.get(reverse("connections:list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- new and the connection window ----------------------------------------------------------


def test_new_shows_the_picker(client_for, operator_member, key_app):
    response = client_for(operator_member).get(reverse("connections:new"))
    assert response.status_code == 200
    assert reverse("connections:create", args=["keyed"]) in response.content.decode()


def test_viewer_cannot_create(client_for, viewer_member, key_app):
    client = client_for(viewer_member)
    assert client.get(reverse("connections:new")).status_code == 403
    assert client.get(reverse("connections:create", args=["keyed"])).status_code == 403
    response = client.post(reverse("connections:create", args=["keyed"]), {"name": "x", "field_api_key": GOOD_KEY})
    assert response.status_code == 403
    assert not Connection.objects.for_tenant(viewer_member.tenant).exists()


def test_window_for_key_app(client_for, operator_member, key_app):
    response = client_for(operator_member).get(reverse("connections:create", args=["keyed"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="My first Keyed account"' in html
    assert re.search(r'<input type="password" name="field_api_key"[^>]*autocomplete="off"', html)
    assert "Copy the key." in html  # setup steps
    assert "Link an account" in html


def test_window_name_counts_existing_connections(client_for, operator_member, key_app, own_connection):
    html = client_for(operator_member).get(reverse("connections:create", args=["keyed"])).content.decode()
    assert 'value="My second Keyed account"' in html


def test_window_for_oauth_app_offers_scopes(client_for, operator_member, oauth_app):
    html = client_for(operator_member).get(reverse("connections:create", args=["oauthy"])).content.decode()
    assert re.search(r'<input type="checkbox" name="scopes" value="profile"[^>]*checked', html)
    assert re.search(r'<input type="checkbox" name="scopes" value="read"[^>]*checked', html)
    write = re.search(r'<input type="checkbox" name="scopes" value="write"[^>]*>', html).group(0)
    assert "checked" not in write
    assert "Link an account" in html


def test_window_for_unconfigured_oauth_app_has_no_link_button(client_for, operator_member, unconfigured_app):
    client = client_for(operator_member)
    html = client.get(reverse("connections:create", args=["lonely"])).content.decode()
    assert "not configured" in html
    assert "Link an account" not in html
    client.post(reverse("connections:create", args=["lonely"]), {"name": "Try", "scopes": ["read"]})
    assert not Attempt.objects.for_tenant(operator_member.tenant).exists()


def test_window_unknown_app_is_404(client_for, operator_member):
    assert client_for(operator_member).get(reverse("connections:create", args=["nope"])).status_code == 404


@responses.activate
def test_link_key_app_success_creates_active_connection(client_for, operator_member, key_app):
    _mock_me(200, email="keyed@acme.test")
    response = client_for(operator_member).post(
        reverse("connections:create", args=["keyed"]), {"name": "Billing", "field_api_key": GOOD_KEY}
    )
    connection = Connection.objects.for_tenant(operator_member.tenant).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("connections:detail", args=[connection.pk])
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.name == "Billing" and connection.account_label == "keyed@acme.test"
    assert responses.calls[0].request.headers["X-API-Key"] == GOOD_KEY
    assert any("Billing" in message for message in _messages(response))


@responses.activate
def test_link_key_app_failure_shows_error_and_creates_nothing(client_for, operator_member, key_app):
    _mock_me(401)
    response = client_for(operator_member).post(
        reverse("connections:create", args=["keyed"]), {"name": "Billing", "field_api_key": BAD_KEY}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Test failed" in html
    assert "What to do" in html
    assert BAD_KEY not in html  # a typed secret is never echoed back
    assert "This field is required." not in html
    assert 'value="Billing"' in html
    assert not Connection.objects.for_tenant(operator_member.tenant).exists()
    attempt = Attempt.objects.for_tenant(operator_member.tenant).get()
    assert attempt.status == Attempt.Status.FAILED and attempt.error_code == ErrorCode.TEST_FAILED


def test_link_duplicate_name_is_a_form_error(client_for, operator_member, key_app, own_connection):
    response = client_for(operator_member).post(
        reverse("connections:create", args=["keyed"]), {"name": "Ops key", "field_api_key": GOOD_KEY}
    )
    assert response.status_code == 400
    assert "You already have a Keyed connection named" in response.content.decode()
    assert not Attempt.objects.for_tenant(operator_member.tenant).exists()


def test_link_missing_required_field_is_a_form_error(client_for, operator_member, key_app):
    response = client_for(operator_member).post(reverse("connections:create", args=["keyed"]), {"name": "X"})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_link_oauth_app_redirects_to_the_provider(client_for, operator_member, oauth_app):
    response = client_for(operator_member).post(
        reverse("connections:create", args=["oauthy"]), {"name": "Team", "scopes": ["profile", "write"]}
    )
    assert response.status_code == 302
    location = urlparse(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{AUTH}/authorize"
    query = parse_qs(location.query)
    assert query["client_id"] == ["client-123"]
    assert query["scope"] == ["profile write"]
    assert query["code_challenge_method"] == ["S256"] and query["state"][0]
    attempt = Attempt.objects.for_tenant(operator_member.tenant).get()
    assert attempt.status == Attempt.Status.PENDING and attempt.name == "Team"
    assert not Connection.objects.for_tenant(operator_member.tenant).exists()


# --- callback and attempts ------------------------------------------------------------------


def _start_oauth(client, name="Team"):
    response = client.post(reverse("connections:create", args=["oauthy"]), {"name": name, "scopes": ["profile", "read"]})
    return parse_qs(urlparse(response["Location"]).query)["state"][0]


@responses.activate
def test_callback_success_lands_on_the_connection(client_for, operator_member, oauth_app):
    client = client_for(operator_member)
    state = _start_oauth(client)
    responses.add(
        responses.POST, f"{AUTH}/token",
        json={"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-1", "scope": "profile read"},
    )
    _mock_me(200, email="team@acme.test")
    response = client.get(reverse("connections:callback", args=["oauthy"]), {"code": "c0de", "state": state})
    connection = Connection.objects.for_tenant(operator_member.tenant).get()
    assert response.status_code == 302 and response["Location"] == connection.get_absolute_url()
    assert connection.account_label == "team@acme.test" and connection.status == ConnectionStatus.ACTIVE


def test_callback_denied_consent_shows_a_clear_page(client_for, operator_member, oauth_app):
    client = client_for(operator_member)
    state = _start_oauth(client)
    with responses.RequestsMock() as mock:  # no HTTP call at all may be made
        response = client.get(reverse("connections:callback", args=["oauthy"]), {"error": "access_denied", "state": state})
        assert len(mock.calls) == 0
    assert response.status_code == 400
    html = response.content.decode()
    assert "Authorization rejected" in html and "What to do" in html and "Try again" in html
    assert not Connection.objects.for_tenant(operator_member.tenant).exists()


def test_callback_with_a_bad_state_shows_a_clear_page(client_for, operator_member, oauth_app):
    client = client_for(operator_member)
    _start_oauth(client)
    with responses.RequestsMock() as mock:
        response = client.get(reverse("connections:callback", args=["oauthy"]), {"code": "c0de", "state": "forged"})
        missing = client.get(reverse("connections:callback", args=["oauthy"]), {"code": "c0de"})
        assert len(mock.calls) == 0
    for answer in (response, missing):
        assert answer.status_code == 400
        assert "Authorization rejected" in answer.content.decode()
    assert not Connection.objects.for_tenant(operator_member.tenant).exists()


def test_callback_is_get_only(client_for, operator_member, oauth_app):
    assert client_for(operator_member).post(reverse("connections:callback", args=["oauthy"])).status_code == 405


@pytest.fixture
def failed_attempt(operator_member, key_app):
    return Attempt.objects.create(
        tenant=operator_member.tenant, app=key_app, name="Billing", created_by=operator_member.user,
        status=Attempt.Status.FAILED, error_code=ErrorCode.TEST_FAILED, error_message="Keyed refused the key (HTTP 401).",
        expires_at=timezone.now() + timedelta(minutes=10),
    )


def test_attempt_page_shows_the_error_and_a_retry(client_for, operator_member, failed_attempt):
    response = client_for(operator_member).get(failed_attempt.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert "Test failed" in html and "Keyed refused the key (HTTP 401)." in html and "What to do" in html
    assert "Try again" in html


def test_attempt_retry_of_a_key_app_leads_back_to_the_window(client_for, operator_member, failed_attempt):
    response = client_for(operator_member).post(failed_attempt.get_absolute_url())
    assert response.status_code == 302
    assert response["Location"] == reverse("connections:create", args=["keyed"]) + "?name=Billing"
    html = client_for(operator_member).get(response["Location"]).content.decode()
    assert 'value="Billing"' in html


def test_attempt_retry_of_an_oauth_app_starts_a_new_attempt(client_for, operator_member, oauth_app):
    old = Attempt.objects.create(
        tenant=operator_member.tenant, app=oauth_app, name="Team", scopes=["profile", "write"],
        created_by=operator_member.user, status=Attempt.Status.FAILED, error_code=ErrorCode.AUTHORIZATION_REJECTED,
        expires_at=timezone.now(),
    )
    response = client_for(operator_member).post(old.get_absolute_url())
    assert response.status_code == 302 and response["Location"].startswith(f"{AUTH}/authorize")
    assert parse_qs(urlparse(response["Location"]).query)["scope"] == ["profile write"]
    new = Attempt.objects.for_tenant(operator_member.tenant).exclude(pk=old.pk).get()
    assert new.name == "Team" and new.status == Attempt.Status.PENDING


def test_viewer_cannot_retry(client_for, viewer_member, failed_attempt):
    client = client_for(viewer_member)
    assert "Try again" not in client.get(failed_attempt.get_absolute_url()).content.decode()
    assert client.post(failed_attempt.get_absolute_url()).status_code == 403


def test_attempt_confirm_without_a_different_account_is_404(client_for, operator_member, failed_attempt):
    url = reverse("connections:attempt_confirm", args=[failed_attempt.pk])
    assert client_for(operator_member).get(url).status_code == 404


# --- the connection page --------------------------------------------------------------------


def test_detail_shows_everything(client_for, operator_member, own_connection):
    HealthCheck.objects.create(connection=own_connection, kind="check", ok=True, duration_ms=42)
    HealthCheck.objects.create(
        connection=own_connection, kind="check", ok=False, error_code=ErrorCode.APP_UNAVAILABLE, http_status=503,
        duration_ms=7,
    )
    Usage.all_objects.create(tenant=operator_member.tenant, connection=own_connection, consumer="flow:invoices", count=12)
    Event.all_objects.create(
        tenant=operator_member.tenant, connection=own_connection, actor=operator_member.user, kind="created"
    )
    Event.all_objects.create(
        tenant=operator_member.tenant, connection=own_connection, actor=operator_member.user, kind="renamed",
        detail={"from": "Old name", "to": "Ops key"},
    )
    response = client_for(operator_member).get(own_connection.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Ops key", "ops@acme.test", "Keyed", "42 ms", "HTTP 503", "flow:invoices", "Created",
                 "Renamed", "“Old name” → “Ops key”", operator_member.user.username):
        assert text in html, text
    for button in ("Check", "Re-authorize", "Rename", "Revoke"):
        assert f">{button}<" in html, button


def test_detail_explains_the_last_error(client_for, operator_member, key_app, make_connection):
    connection = make_connection(
        operator_member, key_app, name="Expired", status=ConnectionStatus.EXPIRED,
        last_error_code=ErrorCode.CONNECTION_EXPIRED, last_error_message="The app rejected the stored credentials.",
    )
    html = client_for(operator_member).get(connection.get_absolute_url()).content.decode()
    assert "Connection expired" in html and "The app rejected the stored credentials." in html
    assert "What to do" in html


@pytest.mark.parametrize(
    "role, check, manage",
    [(Role.VIEWER, False, False), (Role.OPERATOR, True, False), (Role.ADMIN, True, True)],
)
def test_detail_buttons_by_role_on_someone_elses_connection(client_for, tenant, make_member, others_connection, role, check, manage):
    html = client_for(make_member(tenant, role, username=f"u-{role}")).get(others_connection.get_absolute_url()).content.decode()
    assert (">Check<" in html) is check
    assert (">Re-authorize<" in html) is manage
    assert (">Revoke<" in html) is manage
    assert (">Rename<" in html) is manage


def test_detail_of_a_revoked_connection_has_no_actions(client_for, admin_member, key_app, make_connection):
    connection = make_connection(admin_member, key_app, name="Gone", status=ConnectionStatus.REVOKED)
    html = client_for(admin_member).get(connection.get_absolute_url()).content.decode()
    assert "Revoked" in html
    for button in (">Check<", ">Re-authorize<", ">Revoke<", ">Rename<"):
        assert button not in html


def test_detail_includes_the_publication_panel_hook(client_for, admin_member, key_app, make_connection):
    connection = make_connection(admin_member, key_app)
    response = client_for(admin_member).get(connection.get_absolute_url())
    assert "connections/publication_panel.html" in [t.name for t in response.templates]


# --- check ----------------------------------------------------------------------------------


@responses.activate
def test_check_records_a_health_check(client_for, operator_member, others_connection):
    _mock_me(200)
    response = client_for(operator_member).post(reverse("connections:check", args=[others_connection.pk]))
    assert response.status_code == 302 and response["Location"] == others_connection.get_absolute_url()
    check = HealthCheck.objects.get(connection=others_connection)
    assert check.ok and check.kind == "check"
    others_connection.refresh_from_db()
    assert others_connection.last_checked_at is not None
    assert any("Check passed" in message for message in _messages(response))


@responses.activate
def test_check_failure_is_reported(client_for, admin_member, key_app, make_connection):
    connection = make_connection(admin_member, key_app)
    _mock_me(401)
    response = client_for(admin_member).post(reverse("connections:check", args=[connection.pk]))
    assert response.status_code == 302
    assert not HealthCheck.objects.get(connection=connection).ok
    assert any("Check failed" in message for message in _messages(response))


def test_viewer_cannot_check(client_for, viewer_member, own_connection):
    assert client_for(viewer_member).post(reverse("connections:check", args=[own_connection.pk])).status_code == 403
    assert not HealthCheck.objects.filter(connection=own_connection).exists()


def test_check_is_post_only(client_for, operator_member, own_connection):
    assert client_for(operator_member).get(reverse("connections:check", args=[own_connection.pk])).status_code == 405


# --- rename ---------------------------------------------------------------------------------


def test_operator_renames_own_connection(client_for, operator_member, own_connection):
    response = client_for(operator_member).post(reverse("connections:rename", args=[own_connection.pk]), {"name": "Billing key"})
    assert response.status_code == 302
    own_connection.refresh_from_db()
    assert own_connection.name == "Billing key"
    assert Event.objects.for_tenant(own_connection.tenant).filter(connection=own_connection, kind="renamed").exists()
    assert any("Billing key" in message for message in _messages(response))


def test_operator_cannot_rename_someone_elses(client_for, operator_member, others_connection):
    response = client_for(operator_member).post(reverse("connections:rename", args=[others_connection.pk]), {"name": "Mine"})
    assert response.status_code == 403
    others_connection.refresh_from_db()
    assert others_connection.name == "Other key"


def test_admin_renames_any_connection(client_for, admin_member, others_connection):
    response = client_for(admin_member).post(reverse("connections:rename", args=[others_connection.pk]), {"name": "Renamed"})
    assert response.status_code == 302
    others_connection.refresh_from_db()
    assert others_connection.name == "Renamed"


def test_viewer_cannot_rename(client_for, viewer_member, own_connection):
    response = client_for(viewer_member).post(reverse("connections:rename", args=[own_connection.pk]), {"name": "X"})
    assert response.status_code == 403


def test_rename_to_a_taken_name_is_a_form_error(client_for, admin_member, own_connection, others_connection):
    response = client_for(admin_member).post(reverse("connections:rename", args=[own_connection.pk]), {"name": "Other key"})
    assert response.status_code == 400
    assert "You already have a Keyed connection named" in response.content.decode()
    own_connection.refresh_from_db()
    assert own_connection.name == "Ops key"


def test_rename_is_post_only(client_for, operator_member, own_connection):
    assert client_for(operator_member).get(reverse("connections:rename", args=[own_connection.pk])).status_code == 405


# --- revoke ---------------------------------------------------------------------------------


def test_revoke_confirmation_names_what_stops_working(client_for, operator_member, own_connection):
    Usage.all_objects.create(tenant=operator_member.tenant, connection=own_connection, consumer="flow:invoices", count=3)
    Usage.all_objects.create(
        tenant=operator_member.tenant, connection=own_connection, consumer="board:old",
        last_used_at=timezone.now() - timedelta(days=90),
    )
    response = client_for(operator_member).get(reverse("connections:revoke", args=[own_connection.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "flow:invoices" in html and "board:old" not in html
    assert "already fetched" in html
    own_connection.refresh_from_db()
    assert own_connection.status == ConnectionStatus.ACTIVE  # GET changes nothing


def test_revoke_post_revokes(client_for, operator_member, own_connection):
    response = client_for(operator_member).post(reverse("connections:revoke", args=[own_connection.pk]))
    assert response.status_code == 302 and response["Location"] == own_connection.get_absolute_url()
    own_connection.refresh_from_db()
    assert own_connection.status == ConnectionStatus.REVOKED
    html = client_for(operator_member).get(own_connection.get_absolute_url()).content.decode()
    assert "Revoked" in html


def test_revoke_with_a_global_copy_needs_confirmation(client_for, admin_member, own_connection):
    GlobalConnection.objects.create(
        app=own_connection.app, name="Shared", source_connection=own_connection, credentials=own_connection.credentials
    )
    client = client_for(admin_member)
    html = client.get(reverse("connections:revoke", args=[own_connection.pk])).content.decode()
    assert 'name="confirm_shared"' in html
    assert client.post(reverse("connections:revoke", args=[own_connection.pk])).status_code == 400
    own_connection.refresh_from_db()
    assert own_connection.status == ConnectionStatus.ACTIVE
    response = client.post(reverse("connections:revoke", args=[own_connection.pk]), {"confirm_shared": "on"})
    assert response.status_code == 302
    own_connection.refresh_from_db()
    assert own_connection.status == ConnectionStatus.REVOKED


def test_operator_cannot_revoke_someone_elses(client_for, operator_member, others_connection):
    client = client_for(operator_member)
    assert client.get(reverse("connections:revoke", args=[others_connection.pk])).status_code == 403
    assert client.post(reverse("connections:revoke", args=[others_connection.pk])).status_code == 403
    others_connection.refresh_from_db()
    assert others_connection.status == ConnectionStatus.ACTIVE


def test_admin_revokes_any(client_for, admin_member, others_connection):
    assert client_for(admin_member).post(reverse("connections:revoke", args=[others_connection.pk])).status_code == 302
    others_connection.refresh_from_db()
    assert others_connection.status == ConnectionStatus.REVOKED


def test_viewer_cannot_revoke(client_for, viewer_member, own_connection):
    assert client_for(viewer_member).post(reverse("connections:revoke", args=[own_connection.pk])).status_code == 403


# --- re-authorize ---------------------------------------------------------------------------


def test_reauthorize_page_for_oauth_offers_the_scope_picker(client_for, operator_member, oauth_app, make_connection):
    connection = make_connection(operator_member, oauth_app, name="Team", scopes=["profile", "read"])
    response = client_for(operator_member).get(reverse("connections:reauthorize", args=[connection.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="scopes" value="write"' in html and 'name="name"' not in html


def test_reauthorize_oauth_redirects_to_the_provider_with_new_scopes(client_for, operator_member, oauth_app, make_connection):
    connection = make_connection(operator_member, oauth_app, name="Team", scopes=["profile", "read"])
    response = client_for(operator_member).post(
        reverse("connections:reauthorize", args=[connection.pk]), {"scopes": ["profile", "read", "write"]}
    )
    assert response.status_code == 302
    assert parse_qs(urlparse(response["Location"]).query)["scope"] == ["profile read write"]
    attempt = Attempt.objects.for_tenant(operator_member.tenant).get()
    assert attempt.connection_id == connection.pk and attempt.is_reauthorization


@responses.activate
def test_reauthorize_key_app_replaces_the_credentials_in_place(client_for, operator_member, own_connection):
    _mock_me(200, email="ops@acme.test")
    response = client_for(operator_member).post(
        reverse("connections:reauthorize", args=[own_connection.pk]), {"field_api_key": GOOD_KEY}
    )
    assert response.status_code == 302 and response["Location"] == own_connection.get_absolute_url()
    assert Connection.objects.for_tenant(operator_member.tenant).count() == 1


def test_operator_cannot_reauthorize_someone_elses(client_for, operator_member, others_connection):
    client = client_for(operator_member)
    assert client.get(reverse("connections:reauthorize", args=[others_connection.pk])).status_code == 403
    assert client.post(reverse("connections:reauthorize", args=[others_connection.pk])).status_code == 403


# --- tenant isolation: another tenant's ids are 404 everywhere ------------------------------


@pytest.mark.parametrize(
    "name, method",
    [
        ("connections:detail", "get"),
        ("connections:check", "post"),
        ("connections:reauthorize", "get"),
        ("connections:reauthorize", "post"),
        ("connections:rename", "post"),
        ("connections:revoke", "get"),
        ("connections:revoke", "post"),
    ],
)
def test_other_tenants_connection_is_404(client_for, outsider_member, own_connection, name, method):
    client = client_for(outsider_member)
    url = reverse(name, args=[own_connection.pk])
    response = getattr(client, method)(url, {"name": "Stolen"} if method == "post" else None)
    assert response.status_code == 404
    own_connection.refresh_from_db()
    assert own_connection.status == ConnectionStatus.ACTIVE and own_connection.name == "Ops key"


@pytest.mark.parametrize(
    "name, method",
    [("connections:attempt", "get"), ("connections:attempt", "post"), ("connections:attempt_confirm", "get"),
     ("connections:attempt_confirm", "post")],
)
def test_other_tenants_attempt_is_404(client_for, outsider_member, failed_attempt, name, method):
    response = getattr(client_for(outsider_member), method)(reverse(name, args=[failed_attempt.pk]))
    assert response.status_code == 404
    assert Attempt.all_objects.count() == 1


@pytest.mark.parametrize(
    "name", ["connections:detail", "connections:revoke", "connections:attempt", "connections:reauthorize"]
)
def test_missing_ids_are_404(client_for, admin_member, name):
    assert client_for(admin_member).get(reverse(name, args=[uuid.uuid4()])).status_code == 404


def test_other_tenant_callback_state_is_rejected(client_for, operator_member, outsider_member, oauth_app):
    state = _start_oauth(client_for(operator_member))
    with responses.RequestsMock() as mock:
        response = client_for(outsider_member).get(
            reverse("connections:callback", args=["oauthy"]), {"code": "c0de", "state": state}
        )
        assert len(mock.calls) == 0
    assert response.status_code in (400, 404)
    assert not Connection.all_objects.exists()


# --- custom REST APIs -----------------------------------------------------------------------


@pytest.fixture
def custom_app(db):
    spec = {
        "slug": "custom-rest", "name": "Custom REST API", "category": "custom", "auth": "custom",
        "base_url": "{base_url}",
        "fields": [
            {"key": "base_url", "label": "Base URL", "format": "url", "secret": False, "required": True},
            {"key": "test_path", "label": "Test path", "secret": False, "required": True},
        ],
        "test": {"method": "GET", "path": "{test_path}"},
    }
    return App.objects.create(slug="custom-rest", name="Custom REST API", category="custom", auth_mode="custom", spec=spec)


def test_window_for_custom_app_has_header_and_query_rows(client_for, operator_member, custom_app):
    html = client_for(operator_member).get(reverse("connections:create", args=["custom-rest"])).content.decode()
    assert 'name="field_base_url"' in html and 'name="header_name"' in html and 'name="query_name"' in html
    assert "+ Add header" in html


@responses.activate
def test_link_custom_app_stores_header_rows_in_the_vault(client_for, operator_member, custom_app):
    from vault.services import secret_open

    responses.add(responses.GET, "https://rest.example.test/v1/ping", json={"ok": True})
    response = client_for(operator_member).post(
        reverse("connections:create", args=["custom-rest"]),
        {
            "name": "Internal API", "field_base_url": "https://rest.example.test/v1", "field_test_path": "/ping",
            "header_name": ["Authorization", ""], "header_value": ["Bearer s3cr3t-token-value", ""],
            "query_name": ["tenant"], "query_value": ["acme"],
        },
    )
    assert response.status_code == 302
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == "Bearer s3cr3t-token-value" and "tenant=acme" in sent.url
    connection = Connection.objects.for_tenant(operator_member.tenant).get()
    stored = secret_open(secret=connection.credentials)
    assert stored["headers"] == {"Authorization": "Bearer s3cr3t-token-value"} and stored["query"] == {"tenant": "acme"}
    assert connection.config == {"base_url": "https://rest.example.test/v1", "test_path": "/ping"}


@responses.activate
def test_failed_custom_link_keeps_row_names_but_not_values(client_for, operator_member, custom_app):
    responses.add(responses.GET, "https://rest.example.test/v1/ping", status=403, json={})
    response = client_for(operator_member).post(
        reverse("connections:create", args=["custom-rest"]),
        {
            "name": "Internal API", "field_base_url": "https://rest.example.test/v1", "field_test_path": "/ping",
            "header_name": ["Authorization"], "header_value": ["Bearer s3cr3t-token-value"],
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "s3cr3t-token-value" not in html
    assert 'value="Authorization"' in html and 'value="https://rest.example.test/v1"' in html
    assert "This field is required." not in html
    assert not Connection.objects.for_tenant(operator_member.tenant).exists()


# --- revoked connections: link again, remove from the history (issue 13, item 9) -------------


def test_revoked_connection_offers_link_again_and_removal_but_no_publication_panel(client_for, admin_member, key_app, make_connection):
    connection = make_connection(admin_member, key_app, name="Gone", status=ConnectionStatus.REVOKED, revoked_at=timezone.now())
    response = client_for(admin_member).get(connection.get_absolute_url())
    html = response.content.decode()
    assert f'href="{reverse("connections:create", args=["keyed"])}?name=Gone"' in html
    assert reverse("connections:remove", args=[connection.pk]) in html
    assert "connections/publication_panel.html" not in [t.name for t in response.templates]
    live = make_connection(admin_member, key_app, name="Alive")
    response = client_for(admin_member).get(live.get_absolute_url())
    assert "connections/publication_panel.html" in [t.name for t in response.templates]
    assert reverse("connections:remove", args=[live.pk]) not in response.content.decode()


@responses.activate
def test_a_revoked_connection_is_linked_again_under_its_name(client_for, operator_member, key_app, make_connection):
    make_connection(operator_member, key_app, name="Billing", status=ConnectionStatus.REVOKED, revoked_at=timezone.now())
    client = client_for(operator_member)
    html = client.get(reverse("connections:create", args=["keyed"]) + "?name=Billing").content.decode()
    assert 'value="Billing"' in html
    _mock_me(200)
    response = client.post(reverse("connections:create", args=["keyed"]), {"name": "Billing", "field_api_key": GOOD_KEY})
    assert response.status_code == 302
    live = Connection.objects.for_tenant(operator_member.tenant).exclude(status=ConnectionStatus.REVOKED).get()
    assert live.name == "Billing" and live.status == ConnectionStatus.ACTIVE


def test_remove_from_history_asks_then_deletes_and_keeps_one_audit_line(client_for, operator_member, key_app, make_connection):
    connection = make_connection(operator_member, key_app, name="Old", status=ConnectionStatus.REVOKED, revoked_at=timezone.now())
    client = client_for(operator_member)
    url = reverse("connections:remove", args=[connection.pk])
    page = client.get(url)
    assert page.status_code == 200 and "This cannot be undone" in page.content.decode()
    assert Connection.objects.for_tenant(operator_member.tenant).filter(pk=connection.pk).exists()
    response = client.post(url)
    assert response.status_code == 302 and response["Location"].endswith("?status=history")
    assert not Connection.objects.for_tenant(operator_member.tenant).filter(pk=connection.pk).exists()
    event = Event.objects.for_tenant(operator_member.tenant).get(kind="connection_removed")
    assert event.detail == {"name": "Old", "app": "keyed"} and event.actor == operator_member.user


def test_a_live_connection_is_not_removed(client_for, operator_member, own_connection):
    response = client_for(operator_member).post(reverse("connections:remove", args=[own_connection.pk]))
    assert response.status_code == 302
    assert Connection.objects.for_tenant(operator_member.tenant).filter(pk=own_connection.pk).exists()


def test_only_its_managers_remove_a_revoked_connection_and_another_tenant_gets_404(
    client_for, viewer_member, make_member, tenant, outsider_member, key_app, make_connection
):
    creator = make_member(tenant, Role.OPERATOR, username="creator")
    connection = make_connection(creator, key_app, name="Old", status=ConnectionStatus.REVOKED, revoked_at=timezone.now())
    url = reverse("connections:remove", args=[connection.pk])
    assert client_for(viewer_member).post(url).status_code == 403
    assert client_for(make_member(tenant, Role.OPERATOR, username="someone-else")).post(url).status_code == 403
    assert client_for(outsider_member).post(url).status_code == 404
    assert client_for(outsider_member).get(url).status_code == 404
    assert Connection.objects.for_tenant(tenant).filter(pk=connection.pk).exists()


def test_every_breadcrumb_uses_the_same_separator(client_for, admin_member, key_app, make_connection, make_member):
    from connections.services.tokens import api_token_create  # only this test needs a token

    connection = make_connection(admin_member, key_app, name="Main")
    gone = make_connection(admin_member, key_app, name="Gone", status=ConnectionStatus.REVOKED, revoked_at=timezone.now())
    token, _plain = api_token_create(tenant=admin_member.tenant, name="Flow", actor=admin_member.user)
    other = make_member(admin_member.tenant, Role.VIEWER, username="crumbs")
    client = client_for(admin_member)
    paths = [
        connection.get_absolute_url(),
        reverse("connections:revoke", args=[connection.pk]),
        reverse("connections:remove", args=[gone.pk]),
        reverse("connections:create", args=["keyed"]),
        reverse("connections:new"),
        reverse("catalog:app", args=["keyed"]),
        reverse("tenants:token_revoke", args=[token.pk]),
        reverse("tenants:member_remove", args=[other.pk]),
    ]
    separators = set()
    for path in paths:
        html = client.get(path).content.decode()
        nav = re.search(r'<nav class="breadcrumbs" aria-label="Breadcrumb">(.*?)</nav>', html, re.S)
        assert nav, path
        separators.update(re.findall(r"</a>(.*?)<(?:a|span) ", nav.group(1), re.S))
    assert len(separators) == 1, separators
