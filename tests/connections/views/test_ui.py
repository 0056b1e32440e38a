"""The theme switch and the live partials of the connection pages (connections/views_ui.py)."""

import pytest
from django.test import Client
from django.urls import reverse

from catalog.models import App
from connections.models import (
    SESSION_THEME,
    Connection,
    ConnectionStatus,
    GlobalConnection,
    HealthCheck,
    UiPreference,
)

pytestmark = pytest.mark.django_db

THEME_URL = "/connections/preferences/theme/"


@pytest.fixture
def app(db):
    return App.objects.create(
        slug="acme-api", name="Acme API", category="developer-tools", auth_mode="api_key"
    )


@pytest.fixture
def connection(app, tenant, operator_member):
    return Connection.all_objects.create(
        tenant=tenant,
        app=app,
        name="Main",
        status=ConnectionStatus.ACTIVE,
        created_by=operator_member.user,
    )


def test_theme_is_stored_and_rendered_on_the_next_page(client_for, operator_member):
    client = client_for(operator_member)
    response = client.post(THEME_URL, {"theme": "dark", "next": "/catalog/"})
    assert response.status_code == 302 and response["Location"] == "/catalog/"
    assert UiPreference.objects.get(user=operator_member.user).theme == "dark"
    page = client.get("/connections/").content.decode()
    assert '<html lang="en" data-theme="dark">' in page
    assert '<meta name="color-scheme" content="dark">' in page
    assert 'value="dark" aria-pressed="true"' in page


def test_system_theme_leaves_the_choice_to_the_browser(client_for, operator_member):
    client = client_for(operator_member)
    client.post(THEME_URL, {"theme": "light"})
    client.post(THEME_URL, {"theme": "system"})
    page = client.get("/connections/").content.decode()
    assert '<html lang="en">' in page and 'content="light dark"' in page


def test_theme_comes_back_at_the_next_sign_in(operator_member):
    UiPreference.objects.create(user=operator_member.user, theme="dark")
    client = Client()
    client.post(
        "/accounts/login/",
        {"username": operator_member.user.username, "password": "pw-for-tests-only"},
    )
    assert client.session[SESSION_THEME] == "dark"
    assert 'data-theme="dark"' in client.get("/connections/").content.decode()


def test_scripts_get_204(client_for, operator_member):
    response = client_for(operator_member).post(
        THEME_URL, {"theme": "light"}, headers={"X-Requested-With": "fetch"}
    )
    assert response.status_code == 204


def test_unknown_theme_is_refused_and_nothing_stored(client_for, operator_member):
    response = client_for(operator_member).post(THEME_URL, {"theme": "neon"})
    assert response.status_code == 400 and b"system, light or dark" in response.content
    assert not UiPreference.objects.exists()


def test_next_to_another_site_is_ignored(client_for, operator_member):
    response = client_for(operator_member).post(
        THEME_URL, {"theme": "dark", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("connections:list")


def test_theme_needs_csrf_a_post_and_a_signed_in_user(operator_member):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(operator_member.user)
    assert csrf_client.post(THEME_URL, {"theme": "dark"}).status_code == 403
    assert not UiPreference.objects.exists()
    assert csrf_client.get(THEME_URL).status_code == 405
    anonymous = Client().post(THEME_URL, {"theme": "dark"})
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_live_partial_shows_what_a_check_changed(client_for, viewer_member, connection):
    url = reverse("connections:live", args=[connection.pk])
    client = client_for(viewer_member)
    assert "Active" in client.get(url).content.decode()
    Connection.all_objects.filter(pk=connection.pk).update(
        status=ConnectionStatus.ERROR, consecutive_failures=2
    )
    HealthCheck.objects.create(
        connection=connection, kind="check", ok=False, error_code="app_unavailable", http_status=503
    )
    response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert 'data-live="status"' in html and "App unavailable" in html
    assert "2 failed checks in a row" in html and "HTTP 503" in html
    assert "Click “Check”" not in html  # a viewer has no Check button
    assert "<html" not in html  # a fragment, not a page


def test_live_partial_of_another_tenant_is_404(client_for, outsider_member, connection):
    response = client_for(outsider_member).get(reverse("connections:live", args=[connection.pk]))
    assert response.status_code == 404


def test_live_partial_needs_a_member(client, connection):
    response = client.get(reverse("connections:live", args=[connection.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_global_live_partial_for_every_tenant_but_not_unpublished(client_for, outsider_member, app):
    from django.utils import timezone

    published = GlobalConnection.objects.create(
        app=app, name="Shared", status=ConnectionStatus.ACTIVE
    )
    hidden = GlobalConnection.objects.create(
        app=app, name="Gone", status=ConnectionStatus.ACTIVE, unpublished_at=timezone.now()
    )
    client = client_for(outsider_member)
    html = client.get(reverse("connections:global_live", args=[published.pk])).content.decode()
    assert "Active" in html and 'data-live="health"' in html
    assert client.get(reverse("connections:global_live", args=[hidden.pk])).status_code == 404


def test_detail_page_polls_its_partial(client_for, operator_member, connection):
    html = client_for(operator_member).get(connection.get_absolute_url()).content.decode()
    assert f'data-live-url="{reverse("connections:live", args=[connection.pk])}"' in html
    assert 'data-busy-label="Checking…"' in html
