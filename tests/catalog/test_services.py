import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import App, OAuthClient
from catalog.schema import CatalogError
from catalog.services import oauth_client_secret, oauth_client_set
from vault.models import Secret


@pytest.fixture
def oauth_app(db):
    return App.objects.create(slug="slack", name="Slack", category="communication", auth_mode="oauth2")


@pytest.fixture
def key_app(db):
    return App.objects.create(slug="stripe", name="Stripe", category="payments", auth_mode="api_key")


def test_client_secret_is_sealed_and_replaced_in_place(oauth_app):
    client = oauth_client_set(app=oauth_app, client_id="id-1", client_secret="secret-1")
    assert client.client_secret.purpose == "oauth_client"
    assert b"secret-1" not in bytes(client.client_secret.ciphertext)
    secret_id = client.client_secret_id
    again = oauth_client_set(app=oauth_app, client_id="id-2", client_secret="secret-2", scopes_override=["a"])
    assert again.pk == client.pk and again.client_secret_id == secret_id
    again.refresh_from_db()
    assert (again.client_id, again.scopes_override) == ("id-2", ["a"])
    assert oauth_client_secret(again) == "secret-2"
    assert Secret.objects.count() == 1


def test_blank_secret_keeps_current(oauth_app):
    oauth_client_set(app=oauth_app, client_id="id-1", client_secret="secret-1")
    client = oauth_client_set(app=oauth_app, client_id="id-9", client_secret="")
    assert oauth_client_secret(client) == "secret-1" and client.client_id == "id-9"


def test_new_registration_needs_secret(oauth_app):
    with pytest.raises(CatalogError, match="client secret: required"):
        oauth_client_set(app=oauth_app, client_id="id", client_secret="")
    assert not OAuthClient.objects.exists()


def test_non_oauth_app_refused(key_app):
    with pytest.raises(CatalogError, match="not OAuth"):
        oauth_client_set(app=key_app, client_id="id", client_secret="s")


def run(*args, stdin=""):
    out = io.StringIO()
    call_command("set_oauth_client", *args, stdin=io.StringIO(stdin), stdout=out)
    return out.getvalue()


def test_set_oauth_client_reads_secret_from_stdin(oauth_app, settings):
    settings.BASE_URL = "https://connect.example.com"
    output = run("slack", "--client-id", "abc", stdin="top-secret\n")
    client = OAuthClient.objects.get(app=oauth_app)
    assert client.client_id == "abc" and oauth_client_secret(client) == "top-secret"
    assert "https://connect.example.com/connections/callback/slack/" in output
    assert "top-secret" not in output


@pytest.mark.parametrize(
    "slug, stdin, message",
    [
        ("nope", "s\n", "Unknown app 'nope'"),
        ("stripe", "s\n", "App 'stripe' uses API key: only OAuth apps have a client."),
        ("slack", "\n", "Empty client secret"),
    ],
)
def test_set_oauth_client_errors(oauth_app, key_app, slug, stdin, message):
    with pytest.raises(CommandError, match=message):
        run(slug, "--client-id", "abc", stdin=stdin)
    assert not OAuthClient.objects.exists()
