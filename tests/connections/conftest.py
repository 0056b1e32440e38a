"""Fixtures shared by the connections tests: an API-key app answered by `responses` (the
publication and admin tests' "Pub API"), its connections, and staff users."""

import pytest
import responses
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from catalog.models import App
from connections.models import Connection, ConnectionStatus
from vault.services import secret_seal

from .publication_helpers import ACCOUNT, API_BASE, API_KEY, ME_URL


@pytest.fixture
def api_app(db):
    return App.objects.create(
        slug="pub-api",
        name="Pub API",
        category="crm",
        auth_mode="api_key",
        spec={
            "slug": "pub-api",
            "name": "Pub API",
            "category": "crm",
            "auth": "api_key",
            "base_url": API_BASE,
            "fields": [{"key": "api_key", "label": "API key", "secret": True, "required": True}],
            "apply": {"headers": {"X-API-Key": "{api_key}"}, "query": {}},
            "test": {"method": "GET", "path": "/me", "account": "account.email"},
        },
    )


@pytest.fixture
def api(db):
    """Mock the app's API: GET /me answers 200 for API_KEY; `api.fail(status)` makes it fail."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:

        def answer(request):
            if request.headers.get("X-API-Key") != API_KEY or mock.status != 200:
                return (mock.status if mock.status != 200 else 401, {}, '{"error": "nope"}')
            return (200, {"Content-Type": "application/json"}, '{"account": {"email": "%s"}}' % ACCOUNT)

        mock.status = 200
        mock.add_callback(responses.GET, ME_URL, callback=answer)

        def fail(status=401):
            mock.status = status

        mock.fail = fail
        yield mock


@pytest.fixture
def make_connection(api_app):
    def make(tenant, *, created_by=None, name="Support inbox", status=ConnectionStatus.ACTIVE, api_key=API_KEY):
        return Connection.all_objects.create(
            tenant=tenant,
            app=api_app,
            name=name,
            status=status,
            credentials=secret_seal(payload={"api_key": api_key}, purpose="connection"),
            scopes=["read", "profile"],
            account_label=ACCOUNT,
            created_by=created_by,
        )

    return make


@pytest.fixture
def connection(tenant, admin_member, make_connection):
    return make_connection(tenant, created_by=admin_member.user)


@pytest.fixture
def make_staff(db):
    def make(username, *, superuser=False, perms=()):
        user_model = get_user_model()
        if superuser:
            user = user_model.objects.create_superuser(username=username, password="pw-for-tests-only", email=f"{username}@ops.test")
        else:
            user = user_model.objects.create_user(
                username=username, password="pw-for-tests-only", email=f"{username}@ops.test", is_staff=True
            )
        for codename in perms:
            user.user_permissions.add(Permission.objects.get(content_type__app_label="connections", codename=codename))
        return user_model.objects.get(pk=user.pk)  # fresh permission cache

    return make


@pytest.fixture
def reviewer(make_staff):
    return make_staff("reviewer", perms=("view_publicationrequest", "review_publicationrequest", "view_connection"))


@pytest.fixture
def superuser(make_staff):
    return make_staff("root", superuser=True)
