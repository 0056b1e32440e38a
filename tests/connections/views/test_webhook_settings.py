"""The settings page's webhook: secret shown once, "Send test event", the delivery log."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from connections.models import Role, WebhookDelivery
from connections.services.tenants import tenant_webhook_set
from connections.services.webhooks import webhook_secret_value
from connections.views.tenant import WEBHOOK_SECRET_KEY

from ..webhook_support import Receiver

pytestmark = pytest.mark.django_db

SETTINGS = "tenants:settings"


@pytest.fixture
def receiver(settings):
    started = Receiver()
    settings.OUTBOUND_ALLOW = f"127.0.0.1:{started.port}"
    yield started
    started.close()


def log_rows(tenant, count, *, url="https://hooks.example.com/ac/…?…"):
    now = timezone.now()
    WebhookDelivery.all_objects.bulk_create(
        WebhookDelivery(
            tenant=tenant,
            message_id=f"msg_{tenant.slug}_{i:03d}",
            event_type="connection.status_changed",
            url=url,
            status_code=200 if i % 3 else 503,
            duration_ms=40 + i,
            retry=i % 4,
            created_at=now - timedelta(minutes=count - i),
        )
        for i in range(count)
    )


def test_the_secret_is_shown_once_after_saving_and_after_rotating(client_for, admin_member, tenant):
    client = client_for(admin_member)
    response = client.post(reverse(SETTINGS), {"webhook_url": "https://hooks.example.com/ac"})
    assert response.status_code == 302 and response.url == reverse(SETTINGS)  # post/redirect/get
    tenant.refresh_from_db()
    secret = webhook_secret_value(tenant)
    assert secret.startswith("whsec_") and secret not in response.url
    first = client.get(reverse(SETTINGS)).content.decode()
    assert secret in first and "shown only this once" in first
    assert WEBHOOK_SECRET_KEY not in client.session
    assert secret not in client.get(reverse(SETTINGS)).content.decode()  # reload: gone

    response = client.post(reverse(SETTINGS), {"action": "rotate_secret"})
    assert response.status_code == 302
    tenant.refresh_from_db()
    rotated = webhook_secret_value(tenant)
    assert rotated != secret
    page = client.get(reverse(SETTINGS)).content.decode()
    assert rotated in page and secret not in page
    assert rotated not in client.get(reverse(SETTINGS)).content.decode()


def test_send_test_event_delivers_one_verified_message_and_logs_it(
    client_for, admin_member, tenant, receiver
):
    client = client_for(admin_member)
    tenant_webhook_set(tenant=tenant, url=receiver.url, actor=admin_member.user)
    tenant.refresh_from_db()
    secret = webhook_secret_value(tenant)
    response = client.post(reverse(SETTINGS), {"action": "send_test"}, follow=True)
    assert response.redirect_chain == [(reverse(SETTINGS), 302)]
    page = response.content.decode()
    assert "Test event delivered: the receiver answered 200" in page
    [(headers, body)] = receiver.received
    message = Webhook(secret).verify(body, headers)
    assert message["type"] == "webhook.test" and message["tenant"] == tenant.slug
    [delivery] = response.context["deliveries"]
    assert (delivery.event_type, delivery.status_code, delivery.retry) == ("webhook.test", 200, 0)
    assert delivery.message_id == headers["webhook-id"]
    log = page[page.index('data-testid="delivery-log"') :]
    assert "webhook.test" in log and f"127.0.0.1:{receiver.port}/hooks/…?…" in log
    # The log masks the address (its own form field still shows the admin what was typed).
    assert "hook-path-secret" not in log and "/hooks/appconn" not in log and secret not in page
    # At once again: refused, nothing sent twice.
    page = client.post(reverse(SETTINGS), {"action": "send_test"}, follow=True).content.decode()
    assert "Wait a few seconds" in page and len(receiver.received) == 1


def test_a_test_event_the_receiver_refuses_says_so(client_for, admin_member, tenant, settings):
    refusing = Receiver(status=401)
    settings.OUTBOUND_ALLOW = f"127.0.0.1:{refusing.port}"
    try:
        tenant_webhook_set(tenant=tenant, url=refusing.url, actor=admin_member.user)
        page = client_for(admin_member).post(
            reverse(SETTINGS), {"action": "send_test"}, follow=True
        )
    finally:
        refusing.close()
    assert "Test event not accepted: the receiver answered 401" in page.content.decode()
    assert WebhookDelivery.objects.for_tenant(tenant).get().status_code == 401


def test_a_test_event_without_a_webhook_asks_for_one(client_for, admin_member, tenant):
    page = client_for(admin_member).post(reverse(SETTINGS), {"action": "send_test"}, follow=True)
    assert "Set a webhook URL first." in page.content.decode()
    assert not WebhookDelivery.objects.for_tenant(tenant).exists()


def test_the_log_shows_the_last_50_newest_first_in_bounded_queries(
    client_for, admin_member, tenant, django_assert_max_num_queries
):
    tenant.webhook_url = "https://hooks.example.com/ac"
    tenant.save()
    client = client_for(admin_member)
    client.get(reverse(SETTINGS))  # warm the session
    log_rows(tenant, 10)
    # session, user, member, log; the alert-recipients panel: members (2) and its settings
    with django_assert_max_num_queries(7) as few:
        client.get(reverse(SETTINGS))
    log_rows(tenant, 60)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse(SETTINGS))
    deliveries = response.context["deliveries"]
    assert len(deliveries) == 50
    assert [d.created_at for d in deliveries] == sorted(
        (d.created_at for d in deliveries), reverse=True
    )
    page = response.content.decode()
    assert page.count("<tr>") == 51  # the head and 50 rows
    assert "503" in page and "ms</td>" in page


def test_an_empty_log_says_what_to_do(client_for, admin_member):
    page = client_for(admin_member).get(reverse(SETTINGS)).content.decode()
    assert "No deliveries yet" in page and "Save a webhook URL" in page


def test_a_second_tenant_sees_nothing_of_the_first_tenants_log(
    client_for, admin_member, outsider_member, tenant, other_tenant, receiver
):
    tenant_webhook_set(tenant=tenant, url=receiver.url, actor=admin_member.user)
    log_rows(tenant, 5)
    outsider = client_for(outsider_member)
    response = outsider.get(reverse(SETTINGS))
    assert response.context["deliveries"] == []
    assert f"msg_{tenant.slug}_" not in response.content.decode()
    page = outsider.post(reverse(SETTINGS), {"action": "send_test"}, follow=True).content.decode()
    assert "Set a webhook URL first." in page
    assert receiver.received == []
    assert not WebhookDelivery.objects.for_tenant(other_tenant).exists()
    assert WebhookDelivery.objects.for_tenant(tenant).count() == 5


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_only_admins_rotate_the_secret_or_send_test_events(
    client_for, make_member, admin_member, tenant, receiver, role
):
    tenant_webhook_set(tenant=tenant, url=receiver.url, actor=admin_member.user)
    tenant.refresh_from_db()
    before = webhook_secret_value(tenant)
    client = client_for(make_member(tenant, role))
    assert client.post(reverse(SETTINGS), {"action": "rotate_secret"}).status_code == 403
    assert client.post(reverse(SETTINGS), {"action": "send_test"}).status_code == 403
    assert client.get(reverse(SETTINGS)).status_code == 403
    tenant.refresh_from_db()
    assert webhook_secret_value(tenant) == before
    assert receiver.received == [] and not WebhookDelivery.objects.for_tenant(tenant).exists()
    assert WEBHOOK_SECRET_KEY not in client.session
