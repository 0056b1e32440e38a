import pytest
import yaml
from django.urls import reverse

from catalog.models import App, OAuthClient
from catalog.services import oauth_client_secret, oauth_client_set

SPEC = {
    "slug": "acme-api",
    "name": "Acme API",
    "category": "crm",
    "description": "Acme.",
    "docs_url": "https://acme.example.com/docs",
    "auth": "api_key",
    "base_url": "https://api.acme.example.com",
    "fields": [{"key": "api_key", "label": "API key", "secret": True}],
    "apply": {"headers": {"Authorization": "Bearer {api_key}"}},
    "test": {"method": "GET", "path": "/me", "account": "email"},
    "setup_steps": "1. Create a key.",
}


@pytest.fixture
def staff(admin_client):
    return admin_client


@pytest.fixture
def oauth_app(db):
    return App.objects.create(slug="slack", name="Slack", category="communication", auth_mode="oauth2")


def test_app_changelist_search_and_filters(staff, oauth_app):
    url = reverse("admin:catalog_app_changelist")
    assert staff.get(url, {"q": "slack"}).status_code == 200
    for params in ({"category__exact": "crm"}, {"auth_mode__exact": "oauth2"}, {"enabled__exact": "1"},
                   {"source__exact": "file"}, {"oauth_client": "no"}):
        response = staff.get(url, params)
        assert response.status_code == 200, params


def test_add_app_from_yaml_spec(staff):
    response = staff.post(reverse("admin:catalog_app_add"), {
        "spec": yaml.safe_dump(SPEC), "enabled": "on", "source": "admin",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    app = App.objects.get(slug="acme-api")
    assert (app.name, app.category, app.auth_mode, app.source) == ("Acme API", "crm", "api_key", "admin")
    assert app.spec["fields"][0]["required"] is True  # normalized like sync_catalog


def test_spec_errors_use_the_schema_messages(staff):
    bad = dict(SPEC, base_url="api.acme.example.com", auth="oauth2")
    response = staff.post(reverse("admin:catalog_app_add"), {"spec": yaml.safe_dump(bad), "source": "admin"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["spec"]
    assert "app 'acme-api': base_url: not a URL" in errors
    assert "app 'acme-api': oauth2: required for auth oauth2" in errors
    assert not App.objects.exists()


def test_spec_accepts_json_and_reports_bad_yaml(staff):
    import json

    response = staff.post(reverse("admin:catalog_app_add"), {"spec": json.dumps(SPEC), "source": "admin"})
    assert response.status_code == 302
    response = staff.post(reverse("admin:catalog_app_add"), {"spec": "slug: [x", "source": "admin"})
    assert "invalid YAML" in str(response.context["adminform"].form.errors["spec"])


def test_change_page_shows_redirect_uri(staff, oauth_app, settings):
    settings.BASE_URL = "https://connect.example.com"
    html = staff.get(reverse("admin:catalog_app_change", args=[oauth_app.pk])).content.decode()
    assert "https://connect.example.com/connections/callback/slack/" in html


def test_oauth_client_add_with_write_only_secret(staff, oauth_app, settings):
    settings.BASE_URL = "https://connect.example.com"
    response = staff.post(reverse("admin:catalog_oauthclient_add"), {
        "app": oauth_app.pk, "client_id": "cid", "client_secret_value": "very-secret-value",
        "scopes_override_text": "a b",
    })
    assert response.status_code == 302
    client = OAuthClient.objects.get(app=oauth_app)
    assert client.client_id == "cid" and client.scopes_override == ["a", "b"]
    assert oauth_client_secret(client) == "very-secret-value"
    page = staff.get(reverse("admin:catalog_oauthclient_change", args=[client.pk]))
    html = page.content.decode()
    assert "very-secret-value" not in html
    assert "https://connect.example.com/connections/callback/slack/" in html
    assert "Stored encrypted (write-only)" in html


def test_oauth_client_blank_secret_keeps_current(staff, oauth_app):
    client = oauth_client_set(app=oauth_app, client_id="cid", client_secret="keep-me")
    secret_id = client.client_secret_id
    response = staff.post(reverse("admin:catalog_oauthclient_change", args=[client.pk]), {
        "client_id": "cid-2", "client_secret_value": "", "scopes_override_text": "",
    })
    assert response.status_code == 302
    client.refresh_from_db()
    assert client.client_id == "cid-2" and client.client_secret_id == secret_id
    assert oauth_client_secret(client) == "keep-me"
    staff.post(reverse("admin:catalog_oauthclient_change", args=[client.pk]), {
        "client_id": "cid-2", "client_secret_value": "new-one", "scopes_override_text": "",
    })
    client.refresh_from_db()
    assert client.client_secret_id == secret_id and oauth_client_secret(client) == "new-one"


def test_oauth_client_requires_secret_and_oauth_app(staff, oauth_app):
    key_app = App.objects.create(slug="stripe", name="Stripe", category="payments", auth_mode="api_key")
    response = staff.post(reverse("admin:catalog_oauthclient_add"), {"app": oauth_app.pk, "client_id": "cid"})
    assert "Required for a new registration." in str(response.context["adminform"].form.errors)
    response = staff.post(reverse("admin:catalog_oauthclient_add"), {
        "app": key_app.pk, "client_id": "cid", "client_secret_value": "s"})
    assert response.status_code == 200
    assert not OAuthClient.objects.exists()
