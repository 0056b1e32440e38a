"""The tenant's alert webhook, on the Standard Webhooks spec (https://www.standardwebhooks.com/).

`webhook_payload` builds the message for a status change (connections/receivers.py enqueues
its delivery after commit); `webhook_deliver` POSTs it from a Celery task retried with backoff
(connections/tasks.py); `webhook_test_send` POSTs one test message at once, for the settings
page. Every request goes through connections/outbound.py: POST JSON with the headers
  webhook-id: the message's id, the same on every retry (receivers dedupe on it)
  webhook-timestamp: unix seconds of this attempt
  webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">
signed by the `standardwebhooks` package under the tenant's `whsec_<base64 key>` secret
(sealed in the vault, services/tenants.py), so a receiver verifies with the same package:
`standardwebhooks.Webhook(secret).verify(body, headers)`.

Every attempt is one WebhookDelivery row, the settings page's delivery log: time, event, HTTP
status or why it was not sent, duration and retry number; the URL only as display_url shows
it; never the body, the headers or the secret. A tenant keeps its last DELIVERIES_KEPT rows.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import time
import uuid
from datetime import datetime
from datetime import timezone as dt_timezone

import requests
from django.conf import settings
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from standardwebhooks import Webhook

from vault.services import secret_open

from .. import locks, outbound
from ..models import WEBHOOK_PURPOSE, GlobalConnection, Tenant, WebhookDelivery
from .alerts import is_alerting_transition

WEBHOOK_EVENT = "connection.status_changed"
TEST_EVENT = "webhook.test"
SECRET_PREFIX = "whsec_"
SECRET_KEY_BYTES = 32
DELIVERIES_KEPT = 200
TEST_EVENT_EVERY = 5.0  # seconds between two test events of a tenant

NO_SECRET = "Not sent: the webhook has no signing secret. Generate one on the settings page."
OLD_SECRET = (
    "Not sent: this signing secret predates Standard Webhooks. Generate a new one on the "
    "settings page and give it to the receiver."
)
UNREACHABLE = "The receiver could not be reached."

logger = logging.getLogger(__name__)


class WebhookNotDelivered(requests.RequestException):
    """An attempt failed in a way worth retrying (no answer, or an answer other than 2xx)."""


class WebhookTestTooSoon(Exception):
    """A test event was sent to this tenant's webhook a moment ago."""


def secret_generate() -> str:
    """Return a new signing secret in the Standard Webhooks form: whsec_<base64 of 32 bytes>."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_KEY_BYTES)).decode()


def secret_is_standard(value: str) -> bool:
    """Return whether a secret is whsec_ + standard base64 (what every Standard Webhooks library reads)."""
    if not value.startswith(SECRET_PREFIX):
        return False
    key = value[len(SECRET_PREFIX) :]
    try:
        return len(base64.b64decode(key + "=" * (-len(key) % 4), validate=True)) >= 24
    except (binascii.Error, ValueError):
        return False


def payload_for(connection, *, old_status: str, new_status: str, event_id=None) -> dict:
    """Return the JSON body sent to webhooks (never a secret)."""
    is_global = isinstance(connection, GlobalConnection)
    return {
        "id": f"msg_{uuid.uuid4().hex}",
        "type": WEBHOOK_EVENT,
        "created_at": timezone.now().isoformat(),
        "event_id": event_id,
        "connection": {
            "id": str(connection.pk),
            "global": is_global,
            "name": connection.name,
            "app": connection.app.slug,
            "status": new_status,
            "previous_status": old_status,
            "error_code": connection.last_error_code or None,
            "error_message": connection.last_error_message or None,
            "url": settings.BASE_URL + connection.get_absolute_url(),
        },
    }


def webhook_payload(*, connection, old_status: str, new_status: str, event=None) -> dict | None:
    """Return the message to send the tenant's webhook for a status change, or None."""
    if not is_alerting_transition(old_status, new_status):
        return None
    tenant = getattr(connection, "tenant", None)
    if tenant is None or not tenant.webhook_url:
        return None
    return payload_for(
        connection,
        old_status=old_status,
        new_status=new_status,
        event_id=getattr(event, "pk", None),
    )


@sensitive_variables("payload", "value")
def webhook_secret_value(tenant: Tenant) -> str | None:
    """Return the tenant's webhook signing secret, or None when none is set."""
    if tenant.webhook_secret_id is None:
        return None
    payload = secret_open(secret=tenant.webhook_secret, purpose=WEBHOOK_PURPOSE)
    value = payload.get("secret") or next(iter(payload.values()), None)
    return str(value) if value else None


def _record(*, tenant, payload, retry, started=None, status_code=None, error="") -> WebhookDelivery:
    """Write one delivery log row, and forget the tenant's rows beyond DELIVERIES_KEPT."""
    duration = round((time.monotonic() - started) * 1000) if started is not None else 0
    delivery = WebhookDelivery.objects.create(
        tenant=tenant,
        message_id=str(payload.get("id", ""))[:64],
        event_type=str(payload.get("type", WEBHOOK_EVENT))[:64],
        url=outbound.display_url(tenant.webhook_url)[:300],
        status_code=status_code,
        error=error[:200],
        duration_ms=max(duration, 0),
        retry=min(int(retry), 32767),
    )
    old = WebhookDelivery.objects.for_tenant(tenant).order_by("-created_at", "-id")
    stale = list(old.values_list("pk", flat=True)[DELIVERIES_KEPT : DELIVERIES_KEPT + 500])
    if stale:
        WebhookDelivery.objects.for_tenant(tenant).filter(pk__in=stale).delete()
    return delivery


@sensitive_variables("secret", "signer", "headers")
def webhook_send(*, tenant: Tenant, payload: dict, retry: int = 0) -> WebhookDelivery | None:
    """POST one signed message to the tenant's webhook; log and return the attempt (None: no URL).

    The returned row's `retryable` says whether trying again later may help.
    """
    if not tenant.webhook_url:
        return None
    secret = webhook_secret_value(tenant)
    if not secret or not secret_is_standard(secret):
        delivery = _record(
            tenant=tenant, payload=payload, retry=retry, error=OLD_SECRET if secret else NO_SECRET
        )
        delivery.retryable = False
        logger.warning("Webhook of tenant %s not sent: %s", tenant.pk, delivery.error)
        return delivery
    signer = Webhook(secret)
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True)  # ASCII: ensure_ascii
    message_id = str(payload["id"])
    sent_at = datetime.fromtimestamp(int(time.time()), tz=dt_timezone.utc)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "AppConnections-Webhook/2",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signer.sign(msg_id=message_id, timestamp=sent_at, data=text),
    }
    started = time.monotonic()
    try:
        with outbound.session() as http:
            response = http.post(tenant.webhook_url, data=text.encode(), headers=headers)
            response.close()
    except outbound.OutboundRefused as refused:
        delivery = _record(
            tenant=tenant, payload=payload, retry=retry, started=started, error=refused.message
        )
        # Too slow or unreachable may pass; an address the policy refuses will not.
        delivery.retryable = isinstance(refused, requests.RequestException)
        if not delivery.retryable:
            logger.warning(
                "Webhook of tenant %s not sent to %s: %s",
                tenant.pk,
                outbound.display_url(tenant.webhook_url),
                refused.message,
            )
        return delivery
    except requests.RequestException:
        delivery = _record(
            tenant=tenant, payload=payload, retry=retry, started=started, error=UNREACHABLE
        )
        delivery.retryable = True
        return delivery
    delivery = _record(
        tenant=tenant,
        payload=payload,
        retry=retry,
        started=started,
        status_code=response.status_code,
    )
    delivery.retryable = not delivery.ok
    return delivery


def webhook_deliver(*, tenant: Tenant, payload: dict, retry: int = 0) -> int:
    """Deliver a message for the retrying task: return the HTTP status, or raise to retry."""
    delivery = webhook_send(tenant=tenant, payload=payload, retry=retry)
    if delivery is None:
        return 0
    if delivery.retryable:
        raise WebhookNotDelivered(
            f"Webhook delivery {delivery.pk} failed: {delivery.status_code or delivery.error}"
        )
    return delivery.status_code or 0


def test_event_payload(tenant: Tenant) -> dict:
    """Return the body of a test event (says what it is; no secret, no connection)."""
    return {
        "id": f"msg_{uuid.uuid4().hex}",
        "type": TEST_EVENT,
        "created_at": timezone.now().isoformat(),
        "tenant": tenant.slug,
        "message": "A test event from App Connections: this webhook receives and verifies alerts.",
    }


def webhook_test_send(*, tenant: Tenant) -> WebhookDelivery | None:
    """Send one test event now (one attempt, no retry) and return its log row."""
    if not tenant.webhook_url:
        return None
    if not locks.mark_once(f"webhook-test:{tenant.pk}", ttl=TEST_EVENT_EVERY):
        raise WebhookTestTooSoon
    return webhook_send(tenant=tenant, payload=test_event_payload(tenant))
