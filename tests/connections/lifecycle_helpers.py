"""Small builders shared by the lifecycle tests (apps with specs, requests with sessions)."""

from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from catalog.models import App
from catalog.schema import normalize_app
from catalog.services import oauth_client_set

BASE = "https://api.acme.test/v1"
AUTH = "https://auth.acme.test"

SPECS = {
    "oauth2": {
        "slug": "acme-oauth2", "name": "Acme CRM", "category": "crm", "auth": "oauth2",
        "base_url": BASE,
        "oauth2": {
            "authorize_url": f"{AUTH}/authorize", "token_url": f"{AUTH}/token", "revoke_url": f"{AUTH}/revoke",
            "scopes": ["profile", "read"], "optional_scopes": ["write"],
            "authorize_params": {"access_type": "offline"},
        },
        "test": {"method": "GET", "path": "/me", "account": "account.email"},
    },
    "oauth1": {
        "slug": "acme-oauth1", "name": "Acme Old", "category": "crm", "auth": "oauth1",
        "base_url": BASE,
        "oauth1": {
            "request_token_url": f"{AUTH}/oauth1/request_token",
            "authorize_url": f"{AUTH}/oauth1/authorize",
            "access_token_url": f"{AUTH}/oauth1/access_token",
        },
        "test": {"method": "GET", "path": "/me", "account": "account.email"},
    },
    "api_key": {
        "slug": "acme-key", "name": "Acme Keys", "category": "crm", "auth": "api_key",
        "base_url": "https://{subdomain}.acme.test/v1",
        "fields": [
            {"key": "subdomain", "label": "Subdomain", "format": "subdomain"},
            {"key": "api_key", "label": "API key", "secret": True},
        ],
        "apply": {"headers": {"X-API-Key": "{api_key}"}, "query": {"client": "{subdomain}"}},
        "test": {"method": "GET", "path": "/me", "account": "account.email"},
    },
    "basic": {
        "slug": "acme-basic", "name": "Acme Basic", "category": "crm", "auth": "basic",
        "base_url": BASE,
        "fields": [
            {"key": "username", "label": "Username"},
            {"key": "password", "label": "Password", "secret": True},
        ],
        "basic": {"username": "{username}", "password": "{password}"},
        "test": {"method": "GET", "path": "/me", "account": "account.email"},
    },
    "custom": {
        "slug": "acme-custom", "name": "Any REST API", "category": "custom", "auth": "custom",
        "base_url": "{base_url}",
        "fields": [
            {"key": "base_url", "label": "Base URL", "format": "url"},
            {"key": "test_path", "label": "Test path"},
        ],
        "test": {"method": "GET", "path": "{test_path}"},
    },
}


def make_app(mode: str, *, client: bool = True, **changes) -> App:
    spec = normalize_app({**SPECS[mode], **changes})
    app = App.objects.create(
        slug=spec["slug"], name=spec["name"], category=spec["category"], auth_mode=spec["auth"], spec=spec
    )
    if client and mode in ("oauth2", "oauth1"):
        oauth_client_set(app=app, client_id="client-123", client_secret="client-secret-xyz")
        app.refresh_from_db()
    return app


def make_request(user=None, session=None):
    request = RequestFactory().get("/")
    request.session = session if session is not None else SessionStore()
    request.user = user or AnonymousUser()
    return request
