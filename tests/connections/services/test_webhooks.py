"""Alert webhooks on the Standard Webhooks spec: a receiver verifies them with `standardwebhooks`."""

import json
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from connections.models import WebhookDelivery
from connections.outbound import PRIVATE_ADDRESS_MESSAGE
from connections.services import webhooks
from connections.services.tenants import tenant_webhook_secret_rotate, tenant_webhook_set
from vault.services import secret_seal

from ..webhook_support import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings):
    started = Receiver()
    settings.OUTBOUND_ALLOW = f"127.0.0.1:{started.port}"  # an on-premise receiver
    yield started
    started.close()


@pytest.fixture
def hooked(tenant, admin_member, receiver):
    """The tenant's webhook points at the receiver; return the secret shown once."""
    secret = tenant_webhook_set(tenant=tenant, url=receiver.url, actor=admin_member.user)
    tenant.refresh_from_db()
    return secret


def alert(connection):
    return webhooks.payload_for(connection, old_status="active", new_status="expired")


def test_new_secrets_are_standard_whsec_keys(tenant, admin_member):
    secret = tenant_webhook_secret_rotate(tenant=tenant, actor=admin_member.user)
    assert secret.startswith("whsec_") and webhooks.secret_is_standard(secret)
    assert len(Webhook(secret)._whsecret) == 32
    assert tenant_webhook_secret_rotate(tenant=tenant, actor=admin_member.user) != secret


def test_a_receiver_verifies_a_real_delivery_with_standardwebhooks(
    tenant, connection, receiver, hooked
):
    payload = alert(connection)
    assert webhooks.webhook_deliver(tenant=tenant, payload=payload) == 200
    [(headers, body)] = receiver.received
    assert Webhook(hooked).verify(body, headers) == payload
    assert headers["webhook-id"] == payload["id"]
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 10
    assert headers["webhook-signature"].startswith("v1,")
    assert not {"X-AppConnections-Signature", "X-AppConnections-Timestamp"} & set(headers)
    assert hooked not in body.decode() and hooked not in json.dumps(headers)
    delivery = WebhookDelivery.objects.for_tenant(tenant).get()
    assert (delivery.status_code, delivery.event_type, delivery.retry) == (
        200,
        "connection.status_changed",
        0,
    )
    assert delivery.message_id == payload["id"]
    assert delivery.url == f"http://127.0.0.1:{receiver.port}/hooks/…?…"  # no path secret, no query


def test_a_tampered_body_a_wrong_secret_or_an_old_timestamp_fail_verification(
    tenant, connection, receiver, hooked
):
    webhooks.webhook_deliver(tenant=tenant, payload=alert(connection))
    [(headers, body)] = receiver.received
    tampered = body.replace(b'"expired"', b'"active"')
    assert tampered != body
    with pytest.raises(WebhookVerificationError):
        Webhook(hooked).verify(tampered, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.secret_generate()).verify(body, headers)
    replayed = {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 3600)}
    with pytest.raises(WebhookVerificationError):
        Webhook(hooked).verify(body, replayed)
    assert Webhook(hooked).verify(body, headers)["type"] == "connection.status_changed"


def test_a_failed_attempt_raises_for_the_retry_which_keeps_the_message_id(
    tenant, connection, receiver, hooked
):
    receiver.fail_first = 1
    payload = alert(connection)
    with pytest.raises(requests.RequestException):  # what the Celery task retries on
        webhooks.webhook_deliver(tenant=tenant, payload=payload)
    assert webhooks.webhook_deliver(tenant=tenant, payload=payload, retry=1) == 200
    first, second = receiver.received
    assert first[0]["webhook-id"] == second[0]["webhook-id"] == payload["id"]
    assert Webhook(hooked).verify(second[1], second[0]) == payload
    log = list(WebhookDelivery.objects.for_tenant(tenant).values_list("retry", "status_code"))
    assert log == [(1, 200), (0, 500)]


def test_an_unreachable_receiver_is_logged_and_retried(tenant, admin_member, connection, settings):
    tenant_webhook_set(tenant=tenant, url="https://hooks.example.com/ac", actor=admin_member.user)
    with pytest.raises(requests.RequestException):
        webhooks.webhook_deliver(tenant=tenant, payload=alert(connection), retry=3)
    delivery = WebhookDelivery.objects.for_tenant(tenant).get()
    assert delivery.status_code is None and delivery.retry == 3 and delivery.error


def test_a_private_address_is_refused_logged_and_not_retried(tenant, admin_member, connection):
    receiver = Receiver()  # no OUTBOUND_ALLOW for it
    try:
        tenant_webhook_set(tenant=tenant, url=receiver.url, actor=admin_member.user)
        assert webhooks.webhook_deliver(tenant=tenant, payload=alert(connection)) == 0
    finally:
        receiver.close()
    assert receiver.received == []
    delivery = WebhookDelivery.objects.for_tenant(tenant).get()
    assert delivery.error == PRIVATE_ADDRESS_MESSAGE and delivery.status_code is None


@pytest.mark.parametrize("stored", [None, "whsec_old-style_urlsafe-token_abcdefghijklmnopqrstu"])
def test_nothing_is_sent_unsigned_or_signed_with_a_pre_standard_secret(
    tenant, connection, receiver, stored
):
    tenant.webhook_url = receiver.url
    if stored:
        tenant.webhook_secret = secret_seal(payload={"secret": stored}, purpose="webhook")
    tenant.save()
    assert webhooks.webhook_deliver(tenant=tenant, payload=alert(connection)) == 0
    assert receiver.received == []
    delivery = WebhookDelivery.objects.for_tenant(tenant).get()
    assert delivery.error == (webhooks.OLD_SECRET if stored else webhooks.NO_SECRET)
    assert "settings page" in delivery.error


def test_the_log_keeps_only_the_last_deliveries(tenant, connection, receiver, hooked, monkeypatch):
    monkeypatch.setattr(webhooks, "DELIVERIES_KEPT", 3)
    payloads = [alert(connection) for _ in range(5)]
    for payload in payloads:
        webhooks.webhook_deliver(tenant=tenant, payload=payload)
    kept = list(WebhookDelivery.objects.for_tenant(tenant).values_list("message_id", flat=True))
    assert kept == [p["id"] for p in reversed(payloads[2:])]


def test_no_webhook_url_sends_and_logs_nothing(tenant, connection):
    assert webhooks.webhook_deliver(tenant=tenant, payload=alert(connection)) == 0
    assert not WebhookDelivery.objects.for_tenant(tenant).exists()


def test_the_readme_receiver_verifies_a_delivery_and_refuses_a_tampered_one(
    tenant, connection, receiver, hooked, monkeypatch
):
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    section = readme[readme.index("## Webhooks") :]
    code = section[section.index("```python\n") + len("```python\n") : section.index("```\n\n")]
    assert len([line for line in code.splitlines() if line.strip()]) == 5
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    monkeypatch.setenv("APP_CONNECTIONS_WEBHOOK_SECRET", hooked)
    payload = alert(connection)
    webhooks.webhook_deliver(tenant=tenant, payload=payload)
    [(headers, body)] = receiver.received
    assert namespace["receive"](body, headers) == payload
    with pytest.raises(WebhookVerificationError):
        namespace["receive"](body.replace(b'"expired"', b'"revoked"'), headers)
