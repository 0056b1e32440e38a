"""Tenant pages: switch, members, API tokens, settings; roles and two-tenant isolation."""

import hashlib

import pytest
from django.urls import reverse

from connections.models import ApiToken, Event, Member, Role, Tenant
from connections.services.tokens import api_token_authenticate, api_token_create, api_token_revoke
from vault.models import Secret
from vault.services import secret_open

pytestmark = pytest.mark.django_db


# ---- switch -------------------------------------------------------------------------------

def test_switch_to_a_tenant_of_the_user(client_for, tenant, other_tenant, make_member):
    member = make_member(tenant, Role.OPERATOR, username="multi")
    Member.objects.create(user=member.user, tenant=other_tenant, role=Role.ADMIN)
    client = client_for(member)
    response = client.post(reverse("tenants:switch"), {"tenant": other_tenant.pk})
    assert response.status_code == 302
    assert client.session["tenant_id"] == other_tenant.pk
    html = client.get(reverse("tenants:members")).content.decode()
    assert 'data-testid="tenant-name">Globex<' in html


def test_switch_to_a_tenant_of_someone_else_is_404(client_for, operator_member, other_tenant):
    client = client_for(operator_member)
    assert client.post(reverse("tenants:switch"), {"tenant": other_tenant.pk}).status_code == 404
    assert client.post(reverse("tenants:switch"), {"tenant": 999999}).status_code == 404
    assert client.post(reverse("tenants:switch"), {"tenant": "x"}).status_code == 404
    assert client.session["tenant_id"] == operator_member.tenant_id


def test_switch_is_post_only_and_ignores_foreign_next(client_for, tenant, other_tenant, make_member):
    member = make_member(tenant, Role.OPERATOR, username="multi2")
    Member.objects.create(user=member.user, tenant=other_tenant, role=Role.VIEWER)
    client = client_for(member)
    assert client.get(reverse("tenants:switch")).status_code == 405
    response = client.post(reverse("tenants:switch"), {"tenant": other_tenant.pk, "next": "https://evil.example/"})
    assert response["Location"] == reverse("connections:list")


def test_switch_requires_login(client, tenant):
    response = client.post(reverse("tenants:switch"), {"tenant": tenant.pk})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# ---- members ------------------------------------------------------------------------------

def test_members_lists_only_the_current_tenant(client_for, admin_member, operator_member, outsider_member):
    html = client_for(admin_member).get(reverse("tenants:members")).content.decode()
    assert operator_member.user.username in html
    assert admin_member.user.username in html
    assert outsider_member.user.username not in html
    assert 'data-role="operator"' in html  # admins see roles


def test_members_hides_roles_from_non_admins(client_for, viewer_member, admin_member):
    response = client_for(viewer_member).get(reverse("tenants:members"))
    assert response.status_code == 200
    html = response.content.decode()
    assert admin_member.user.username in html
    assert "data-role=" not in html


def test_outsider_sees_only_their_own_members(client_for, admin_member, outsider_member):
    html = client_for(outsider_member).get(reverse("tenants:members")).content.decode()
    assert outsider_member.user.username in html
    assert admin_member.user.username not in html
    assert "Acme" not in html


def test_members_requires_login(client):
    response = client.get(reverse("tenants:members"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# ---- token service --------------------------------------------------------------------------

def test_created_token_authenticates_and_only_its_hash_is_stored(tenant, admin_member):
    token, raw = api_token_create(tenant=tenant, name="Billing flow", actor=admin_member.user)
    assert raw.startswith("act_") and len(raw) > 40
    stored = ApiToken.all_objects.get(pk=token.pk)
    assert stored.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (stored.token_hash, stored.prefix, stored.name, str(stored))
    assert raw.startswith(stored.prefix)
    found = api_token_authenticate(raw)
    assert found.pk == token.pk and found.tenant == tenant
    assert ApiToken.all_objects.get(pk=token.pk).last_used_at is not None
    assert Event.all_objects.filter(tenant=tenant, kind="api_token_created").count() == 1
    assert not Event.all_objects.filter(detail__icontains=raw).exists()


def test_revoked_or_wrong_token_does_not_authenticate(tenant, admin_member):
    token, raw = api_token_create(tenant=tenant, name="Flow", actor=admin_member.user)
    assert api_token_authenticate(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert api_token_authenticate("") is None
    assert api_token_authenticate(None) is None
    api_token_revoke(token=token, actor=admin_member.user)
    assert api_token_authenticate(raw) is None
    api_token_revoke(token=token, actor=admin_member.user)
    assert Event.all_objects.filter(kind="api_token_revoked").count() == 1


# ---- token pages ----------------------------------------------------------------------------

def test_admin_creates_a_token_shown_once(client_for, admin_member):
    client = client_for(admin_member)
    created = client.post(reverse("tenants:tokens"), {"name": "Billing flow", "scopes": ["read"]})
    # Post/redirect/get: the plaintext comes on the next page, through the session.
    assert created.status_code == 302 and created["Location"] == reverse("tenants:tokens")
    response = client.get(created["Location"])
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    raw = response.context["created"]["plaintext"]
    html = response.content.decode()
    assert raw in html
    token = api_token_authenticate(raw)
    assert token is not None and token.tenant_id == admin_member.tenant_id and token.name == "Billing flow"
    listing = client.get(reverse("tenants:tokens")).content.decode()
    assert "Billing flow" in listing and token.prefix in listing
    assert raw not in listing


def test_token_name_is_required(client_for, admin_member):
    response = client_for(admin_member).post(reverse("tenants:tokens"), {"name": "  ", "scopes": ["read"]})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert ApiToken.all_objects.count() == 0


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_non_admins_see_tokens_but_cannot_create_or_revoke(client_for, make_member, tenant, admin_member, role):
    token, _ = api_token_create(tenant=tenant, name="Existing", actor=admin_member.user)
    client = client_for(make_member(tenant, role))
    page = client.get(reverse("tenants:tokens"))
    assert page.status_code == 200 and "Existing" in page.content.decode()
    assert 'name="name"' not in page.content.decode()
    assert client.post(reverse("tenants:tokens"), {"name": "Mine"}).status_code == 403
    assert client.post(reverse("tenants:token_revoke", args=[token.pk])).status_code == 403
    assert ApiToken.all_objects.count() == 1
    assert ApiToken.all_objects.get(pk=token.pk).revoked_at is None


def test_revoke_asks_for_confirmation_then_revokes(client_for, admin_member, tenant):
    token, raw = api_token_create(tenant=tenant, name="Old flow", actor=admin_member.user)
    client = client_for(admin_member)
    confirm = client.get(reverse("tenants:token_revoke", args=[token.pk]))
    assert confirm.status_code == 200
    assert "Revoke token" in confirm.content.decode()
    assert api_token_authenticate(raw) is not None  # GET changes nothing
    response = client.post(reverse("tenants:token_revoke", args=[token.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("tenants:tokens")
    assert api_token_authenticate(raw) is None
    listing = client.get(reverse("tenants:tokens")).content.decode()
    assert 'badge-revoked' in listing


def test_tokens_of_another_tenant_are_invisible_and_404(client_for, admin_member, outsider_member, tenant, other_tenant):
    mine, _ = api_token_create(tenant=tenant, name="Acme secret flow", actor=admin_member.user)
    theirs, their_raw = api_token_create(tenant=other_tenant, name="Globex flow", actor=outsider_member.user)
    client = client_for(admin_member)
    listing = client.get(reverse("tenants:tokens")).content.decode()
    assert "Acme secret flow" in listing and "Globex flow" not in listing
    assert client.get(reverse("tenants:token_revoke", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("tenants:token_revoke", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("tenants:token_revoke", args=[999999])).status_code == 404
    assert api_token_authenticate(their_raw) is not None
    # and the other way round
    outsider = client_for(outsider_member)
    assert outsider.post(reverse("tenants:token_revoke", args=[mine.pk])).status_code == 404
    assert ApiToken.all_objects.get(pk=mine.pk).revoked_at is None


# ---- settings --------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_settings_are_for_admins_only(client_for, make_member, tenant, role):
    client = client_for(make_member(tenant, role))
    assert client.get(reverse("tenants:settings")).status_code == 403
    assert client.post(reverse("tenants:settings"), {"webhook_url": "https://x.example/h"}).status_code == 403
    tenant.refresh_from_db()
    assert tenant.webhook_url == ""


def test_webhook_url_and_secret_shown_once_stored_in_vault(client_for, admin_member, tenant):
    client = client_for(admin_member)
    response = client.post(reverse("tenants:settings"), {"webhook_url": "https://hooks.example.com/ac"}, follow=True)
    assert response.status_code == 200
    secret_value = response.context["new_secret"]
    assert secret_value and secret_value in response.content.decode()
    tenant.refresh_from_db()
    assert tenant.webhook_url == "https://hooks.example.com/ac"
    assert tenant.webhook_secret.purpose == "webhook"
    assert secret_open(secret=tenant.webhook_secret, purpose="webhook") == {"secret": secret_value}
    assert secret_value.encode() not in bytes(Secret.objects.get(pk=tenant.webhook_secret_id).ciphertext)
    page = client.get(reverse("tenants:settings")).content.decode()
    assert secret_value not in page
    assert "https://hooks.example.com/ac" in page
    # Saving the URL again keeps the secret and shows nothing.
    response = client.post(reverse("tenants:settings"), {"webhook_url": "https://hooks.example.com/v2"}, follow=True)
    assert response.context["new_secret"] is None
    assert secret_open(secret=tenant.webhook_secret) == {"secret": secret_value}


def test_webhook_secret_rotation_and_removal(client_for, admin_member, tenant):
    client = client_for(admin_member)
    first = client.post(reverse("tenants:settings"), {"webhook_url": "https://hooks.example.com/ac"}, follow=True).context["new_secret"]
    second = client.post(reverse("tenants:settings"), {"action": "rotate_secret"}, follow=True).context["new_secret"]
    assert second and second != first
    tenant.refresh_from_db()
    assert secret_open(secret=tenant.webhook_secret) == {"secret": second}
    secret_id = tenant.webhook_secret_id
    client.post(reverse("tenants:settings"), {"action": "remove"})
    tenant.refresh_from_db()
    assert tenant.webhook_url == "" and tenant.webhook_secret_id is None
    assert not Secret.objects.filter(pk=secret_id).exists()


def test_invalid_webhook_url_is_refused(client_for, admin_member, tenant):
    response = client_for(admin_member).post(reverse("tenants:settings"), {"webhook_url": "not a url"})
    assert response.status_code == 200 and response.context["form"].errors
    tenant.refresh_from_db()
    assert tenant.webhook_url == ""


def test_settings_change_only_the_current_tenant(client_for, admin_member, outsider_member, tenant, other_tenant):
    client_for(outsider_member).post(reverse("tenants:settings"), {"webhook_url": "https://globex.example/h"})
    tenant.refresh_from_db()
    other_tenant.refresh_from_db()
    assert tenant.webhook_url == "" and tenant.webhook_secret_id is None
    assert other_tenant.webhook_url == "https://globex.example/h"
    page = client_for(admin_member).get(reverse("tenants:settings")).content.decode()
    assert "globex.example" not in page


def test_a_tenant_chosen_in_the_session_without_membership_is_ignored(client, admin_member, other_tenant):
    client.force_login(admin_member.user)
    session = client.session
    session["tenant_id"] = other_tenant.pk
    session.save()
    html = client.get(reverse("tenants:members")).content.decode()
    assert 'data-testid="tenant-name">Acme<' in html
    assert isinstance(Tenant.objects.get(pk=other_tenant.pk), Tenant)


def test_token_from_the_page_works_on_the_api_until_revoked(client_for, admin_member, tenant):
    from django.test import Client

    client = client_for(admin_member)
    client.post(reverse("tenants:tokens"), {"name": "Flow", "scopes": ["read"]})
    raw = client.get(reverse("tenants:tokens")).context["created"]["plaintext"]
    api = Client()
    response = api.get("/api/connections", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    token = ApiToken.objects.for_tenant(tenant).get()
    client.post(reverse("tenants:token_revoke", args=[token.pk]))
    response = api.get("/api/connections", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
