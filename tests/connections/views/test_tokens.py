"""The API tokens page: scopes (read preselected), expiry, connections, last use; shown once."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalog.models import App
from connections.models import ApiToken, Connection, GlobalConnection
from connections.services.tokens import api_token_create
from connections.views.tenant import CREATED_TOKEN_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(db):
    return App.objects.create(
        slug="acme-key", name="Acme Keys", category="crm", auth_mode="api_key", spec={}
    )


def checked_scopes(html: str) -> set:
    tags = re.findall(r'<input type="checkbox" name="scopes"[^>]*>', html)
    return {re.search(r'value="(\w+)"', tag).group(1) for tag in tags if " checked" in tag}


def row_of(page: str, name: str) -> str:
    """Return the table row of the token named name."""
    row = page[page.index(f"<td><strong>{name}</strong>") :]
    return row[: row.index("</tr>")]


def test_least_privilege_is_preselected(client_for, admin_member):
    html = client_for(admin_member).get(reverse("tenants:tokens")).content.decode()
    assert checked_scopes(html) == {"read"}
    for scope in ("check", "credentials", "attempts", "manage", "proxy"):
        assert f'value="{scope}"' in html
    assert '<option value="" selected>Never</option>' in html


def test_create_with_scopes_expiry_and_connections(
    client_for, admin_member, tenant, other_tenant, app
):
    billing = Connection.all_objects.create(tenant=tenant, app=app, name="Billing key")
    Connection.all_objects.create(tenant=tenant, app=app, name="Other key")
    Connection.all_objects.create(tenant=other_tenant, app=app, name="Globex key")
    shared = GlobalConnection.objects.create(app=app, name="Shared key")
    client = client_for(admin_member)
    form = client.get(reverse("tenants:tokens")).content.decode()
    assert "Billing key" in form and "Shared key" in form and "Globex key" not in form
    response = client.post(
        reverse("tenants:tokens"),
        {
            "name": "Billing flow",
            "scopes": ["read", "credentials"],
            "expires_in": "30",
            "connections": [str(billing.pk)],
            "global_connections": [str(shared.pk)],
        },
    )
    assert response.status_code == 302
    token = ApiToken.objects.for_tenant(tenant).get()
    assert token.scopes == ["read", "credentials"] and token.all_connections is False
    assert list(token.connections.all()) == [billing] and list(token.global_connections.all()) == [
        shared
    ]
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    page = client.get(reverse("tenants:tokens")).content.decode()
    row = row_of(page, "Billing flow")
    assert (
        "read" in row
        and "credentials" in row
        and "Billing key" in row
        and "Shared key (global)" in row
    )
    assert "Other key" not in row and token.expires_at.strftime("%b %-d, %Y") in row


def test_reloading_after_create_mints_no_second_token_and_shows_it_once(
    client_for, admin_member, tenant
):
    client = client_for(admin_member)
    created = client.post(reverse("tenants:tokens"), {"name": "Nightly", "scopes": ["read"]})
    assert created.status_code == 302 and created["Location"] == reverse("tenants:tokens")
    first = client.get(created["Location"])
    raw = first.context["created"]["plaintext"]
    assert raw.startswith("act_") and raw in first.content.decode()
    assert raw not in created["Location"]
    assert CREATED_TOKEN_KEY not in client.session  # popped on first display
    reload = client.get(created["Location"])
    assert reload.context["created"] is None and raw not in reload.content.decode()
    assert ApiToken.objects.for_tenant(tenant).count() == 1


def test_scopes_are_required_and_foreign_connections_refused(
    client_for, admin_member, tenant, other_tenant, app
):
    theirs = Connection.all_objects.create(tenant=other_tenant, app=app, name="Globex key")
    client = client_for(admin_member)
    response = client.post(reverse("tenants:tokens"), {"name": "No scope"})
    assert response.status_code == 200 and response.context["form"].errors["scopes"] == [
        "Choose at least one scope."
    ]
    response = client.post(
        reverse("tenants:tokens"),
        {"name": "Sneaky", "scopes": ["read"], "connections": [str(theirs.pk)]},
    )
    assert response.status_code == 200 and response.context["form"].errors["connections"]
    response = client.post(reverse("tenants:tokens"), {"name": "Root", "scopes": ["read", "root"]})
    assert response.status_code == 200 and response.context["form"].errors["scopes"]
    assert not ApiToken.all_objects.exists()


def test_the_list_shows_last_use_with_its_address_and_expired_tokens(
    client_for, admin_member, tenant
):
    _, raw = api_token_create(tenant=tenant, name="Used flow", actor=admin_member.user)
    Client().get("/api/connections", HTTP_AUTHORIZATION=f"Bearer {raw}", REMOTE_ADDR="203.0.113.9")
    old, _ = api_token_create(tenant=tenant, name="Old flow", actor=admin_member.user)
    ApiToken.all_objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=1))
    page = client_for(admin_member).get(reverse("tenants:tokens")).content.decode()
    assert "203.0.113.9" in row_of(page, "Used flow")
    assert "badge-expired" in row_of(page, "Old flow") and "badge-expired" not in row_of(
        page, "Used flow"
    )
