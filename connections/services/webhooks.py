"""The tenant's alert webhook: a signed JSON message for every alerting status change.

`webhook_payload` builds the message for a status change (connections/receivers.py enqueues
its delivery after commit); `webhook_deliver` POSTs it, from a Celery task retried with
backoff. Requests: POST JSON, headers
  X-AppConnections-Timestamp: <unix seconds>
  X-AppConnections-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>
  X-AppConnections-Event: connection.status_changed
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid

import requests
from django.conf import settings
from django.utils import timezone

from vault.services import secret_open

from .. import outbound
from ..models import WEBHOOK_PURPOSE, GlobalConnection, Tenant
from .alerts import is_alerting_transition

SIGNATURE_HEADER = "X-AppConnections-Signature"
TIMESTAMP_HEADER = "X-AppConnections-Timestamp"
EVENT_HEADER = "X-AppConnections-Event"
WEBHOOK_EVENT = "connection.status_changed"

logger = logging.getLogger(__name__)


def payload_for(connection, *, old_status: str, new_status: str, event_id=None) -> dict:
    """Return the JSON body sent to webhooks (never a secret)."""
    is_global = isinstance(connection, GlobalConnection)
    return {
        "id": str(uuid.uuid4()),
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
        connection, old_status=old_status, new_status=new_status, event_id=getattr(event, "pk", None)
    )


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """Return the signature header value for body sent at timestamp."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(*, secret: str, timestamp: str, body: bytes, signature: str, tolerance: int = 300) -> bool:
    """Return whether a received webhook is authentic and recent (for receivers and tests)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret=secret, timestamp=ts, body=body), signature or "")


def webhook_secret_value(tenant: Tenant) -> str | None:
    """Return the tenant's webhook signing secret, or None when none is set."""
    if tenant.webhook_secret_id is None:
        return None
    payload = secret_open(secret=tenant.webhook_secret, purpose=WEBHOOK_PURPOSE)
    value = payload.get("secret") or next(iter(payload.values()), None)
    return str(value) if value else None


def webhook_deliver(*, tenant: Tenant, payload: dict) -> int:
    """POST a signed payload to the tenant's webhook; return the HTTP status or raise."""
    if not tenant.webhook_url:
        return 0
    secret = webhook_secret_value(tenant)
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "AppConnections-Webhook/1",
        TIMESTAMP_HEADER: str(timestamp),
        EVENT_HEADER: payload.get("type", WEBHOOK_EVENT),
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret=secret, timestamp=timestamp, body=body)
    try:
        with outbound.session() as http:
            response = http.post(tenant.webhook_url, data=body, headers=headers)
    except outbound.OutboundRefused as refused:
        if isinstance(refused, requests.RequestException):
            raise  # too slow or unreachable: the task retries
        logger.warning(
            "Webhook of tenant %s not sent to %s: %s",
            tenant.pk, outbound.display_url(tenant.webhook_url), refused.message,
        )
        return 0
    response.raise_for_status()
    return response.status_code
