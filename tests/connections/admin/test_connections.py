"""The Django admin of every connections model: it loads, it searches, it never shows a secret."""

import datetime as dt
import hashlib

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from connections.models import ApiToken, Attempt, HealthCheck, ProxyCall, Usage
from connections.services.events import event_record
from vault.services import secret_seal

from ..publication_helpers import API_KEY, publish

pytestmark = pytest.mark.django_db

TOKEN = "act_live_Qw3rTy-plaintext-token-000111222"
TOKEN_HASH = hashlib.sha256(TOKEN.encode()).hexdigest()
WEBHOOK_SECRET = "whsec-very-secret-webhook-key-9876543210"
PKCE_VERIFIER = "pkce-verifier-secret-abcdefghijklmnopqrstuvwxyz"
STATE_HASH = hashlib.sha256(b"state").hexdigest()

MODELS = ("tenant", "member", "apitoken", "attempt", "connection", "globalconnection", "publicationrequest", "event", "healthcheck", "usage", "proxycall")


@pytest.fixture
def everything(tenant, admin_member, connection, reviewer, api, api_app):
    tenant.webhook_secret = secret_seal(payload={"secret": WEBHOOK_SECRET}, purpose="webhook")
    tenant.save()
    ApiToken.all_objects.create(tenant=tenant, name="CI flows", token_hash=TOKEN_HASH, prefix=TOKEN[:8], created_by=admin_member.user)
    Attempt.all_objects.create(
        tenant=tenant, app=api_app, name="Try", created_by=admin_member.user, state_hash=STATE_HASH,
        pending_secret=secret_seal(payload={"code_verifier": PKCE_VERIFIER}, purpose="attempt"),
        expires_at=timezone.now() + dt.timedelta(minutes=10),
    )
    HealthCheck.objects.create(connection=connection, kind="check", ok=True)
    event_record(kind="checked", connection=connection)
    Usage.all_objects.create(tenant=tenant, connection=connection, consumer="flow:daily-report", count=3)
    ProxyCall.all_objects.create(
        tenant=tenant, connection=connection, consumer="flow:daily-report", method="GET",
        path="/users?email=…", status=200, duration_ms=12, response_bytes=345,
    )
    global_connection = publish(connection, reviewer=reviewer)
    return {"connection": connection, "global": global_connection}


def assert_no_secret(body):
    for secret in (API_KEY, TOKEN, TOKEN_HASH, WEBHOOK_SECRET, PKCE_VERIFIER, STATE_HASH):
        assert secret not in body


@pytest.mark.parametrize("model", MODELS)
def test_every_changelist_and_change_page_loads_without_secrets(client, superuser, everything, model):
    client.force_login(superuser)

    changelist = client.get(reverse(f"admin:connections_{model}_changelist"))
    assert changelist.status_code == 200
    assert_no_secret(changelist.content.decode())
    assert "ciphertext" not in changelist.content.decode()

    search = client.get(reverse(f"admin:connections_{model}_changelist") + "?q=Acme")
    assert search.status_code == 200

    model_class = changelist.context["cl"].model
    manager = getattr(model_class, "all_objects", model_class.objects)
    obj = manager.order_by("pk").first()
    change = client.get(reverse(f"admin:connections_{model}_change", args=[obj.pk]))
    assert change.status_code == 200
    body = change.content.decode()
    assert_no_secret(body)
    assert "ciphertext" not in body
    assert 'name="credentials"' not in body and 'name="token_hash"' not in body and 'name="pending_secret"' not in body


def test_connection_change_page_shows_health_and_timeline_not_the_secret_id(client, superuser, everything):
    connection = everything["connection"]
    client.force_login(superuser)

    body = client.get(reverse("admin:connections_connection_change", args=[connection.pk])).content.decode()

    assert "Health (latest checks)" in body and "Timeline" in body and "published" in body
    assert str(connection.credentials_id) not in body


def test_connection_changelist_queries_do_not_grow(client, superuser, tenant, admin_member, make_connection):
    client.force_login(superuser)
    for index in range(3):
        make_connection(tenant, created_by=admin_member.user, name=f"A{index}")
    with CaptureQueriesContext(db) as few:
        assert client.get(reverse("admin:connections_connection_changelist")).status_code == 200
    for index in range(3, 30):
        make_connection(tenant, created_by=admin_member.user, name=f"A{index}")
    with CaptureQueriesContext(db) as many:
        client.get(reverse("admin:connections_connection_changelist"))
    assert len(many) == len(few)


def test_connections_are_read_only_in_the_admin(client, superuser, connection):
    client.force_login(superuser)

    assert client.get(reverse("admin:connections_connection_add")).status_code == 403
    response = client.post(
        reverse("admin:connections_connection_change", args=[connection.pk]), {"name": "Changed", "status": "revoked"}
    )
    assert response.status_code == 403
    connection.refresh_from_db()
    assert connection.name == "Support inbox" and connection.status == "active"
    assert client.post(reverse("admin:connections_connection_delete", args=[connection.pk]), {"post": "yes"}).status_code == 403


def test_non_staff_user_is_sent_to_the_admin_login(client_for, admin_member):
    response = client_for(admin_member).get(reverse("admin:connections_connection_changelist"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
