"""Tell people when a connection breaks or recovers: email, and the tenant's signed webhook.

Called by the health service inside the transaction that moved the status (with the row
locked), so each transition alerts exactly once, however many checks fail afterwards.
Delivery happens after commit: email through Django's email backend, the webhook through a
Celery task retried with backoff.

Webhook requests: POST JSON, headers
  X-AppConnections-Timestamp: <unix seconds>
  X-AppConnections-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>
  X-AppConnections-Event: connection.status_changed
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from ..errors import explain
from ..models import ConnectionStatus, GlobalConnection, Member, Role, Tenant
from .events import event_record

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-AppConnections-Signature"
TIMESTAMP_HEADER = "X-AppConnections-Timestamp"
EVENT_HEADER = "X-AppConnections-Event"
WEBHOOK_EVENT = "connection.status_changed"

ALERTING = (ConnectionStatus.EXPIRED, ConnectionStatus.ERROR)


def is_alerting_transition(old_status: str, new_status: str) -> bool:
    """Return whether a status change is told to people: into expired/error, or back to active."""
    if new_status == old_status:
        return False
    if new_status in ALERTING:
        return True
    return new_status == ConnectionStatus.ACTIVE and old_status in ALERTING


def recipients(connection) -> list[str]:
    """Return the email addresses told about this connection (admins + creator, or staff)."""
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    if isinstance(connection, GlobalConnection):
        emails = users.filter(is_staff=True).values_list("email", flat=True)
    else:
        admin_ids = Member.objects.filter(tenant_id=connection.tenant_id, role=Role.ADMIN).values_list(
            "user_id", flat=True
        )
        ids = set(admin_ids)
        if connection.created_by_id:
            ids.add(connection.created_by_id)
        emails = users.filter(pk__in=ids).values_list("email", flat=True)
    return sorted(set(emails))


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


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """Return the signature header value for body sent at timestamp."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    *, secret: str, timestamp: str, body: bytes, signature: str, tolerance: int = 300
) -> bool:
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
    from vault.services import secret_open

    if tenant.webhook_secret_id is None:
        return None
    payload = secret_open(secret=tenant.webhook_secret, purpose="webhook")
    value = payload.get("secret") or next(iter(payload.values()), None)
    return str(value) if value else None


def status_changed(*, connection, old_status: str, new_status: str) -> None:
    """Alert once about a status transition; call inside the transaction that made it."""
    if not is_alerting_transition(old_status, new_status):
        return
    is_global = isinstance(connection, GlobalConnection)
    to = recipients(connection)
    tenant = None if is_global else connection.tenant
    webhook = bool(tenant and tenant.webhook_url)
    owner = {"global_connection": connection} if is_global else {"connection": connection}
    event = event_record(
        kind="alert_sent",
        detail={"from": old_status, "to": new_status, "emails": len(to), "webhook": webhook},
        **owner,
    )
    subject, body = _email(connection, old_status=old_status, new_status=new_status)
    payload = payload_for(connection, old_status=old_status, new_status=new_status, event_id=event.pk)

    def deliver():
        if to:
            try:
                send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to)
            except Exception:  # a mail outage must not undo the status change
                logger.exception("Alert email for connection %s failed.", connection.pk)
        if webhook:
            from ..tasks import deliver_webhook

            deliver_webhook.delay(tenant.pk, payload)

    transaction.on_commit(deliver)


def _email(connection, *, old_status: str, new_status: str) -> tuple[str, str]:
    recovered = new_status == ConnectionStatus.ACTIVE
    context = {
        "connection": connection,
        "is_global": isinstance(connection, GlobalConnection),
        "recovered": recovered,
        "old_status": ConnectionStatus(old_status).label,
        "new_status": ConnectionStatus(new_status).label,
        "explanation": None if recovered else explain(connection.last_error_code),
        "url": settings.BASE_URL + connection.get_absolute_url(),
    }
    subject = render_to_string("emails/connection_status_subject.txt", context).strip()
    body = render_to_string("emails/connection_status.txt", context)
    return " ".join(subject.split()), body


def webhook_deliver(*, tenant: Tenant, payload: dict) -> int:
    """POST a signed payload to the tenant's webhook; return the HTTP status or raise."""
    import requests

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
    response = requests.post(
        tenant.webhook_url, data=body, headers=headers, timeout=settings.HTTP_TIMEOUT
    )
    response.raise_for_status()
    return response.status_code


def rotation_due_filter(model, *, now=None):
    """Return live, unflagged rows of model authorized longer than the rotation period ago."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.ROTATION_PERIOD_DAYS)
    return (
        _rows(model)
        .filter(rotation_flagged_at__isnull=True, authorized_at__lte=cutoff)
        .exclude(status=ConnectionStatus.REVOKED)
    )


def _rows(model):
    return model.all_objects if hasattr(model, "all_objects") else model.objects


def rotation_reminders_send(*, now=None) -> int:
    """Flag connections due for rotation once each (with an Event); email each tenant's admins."""
    from ..models import Connection

    now = now or timezone.now()
    flagged = 0
    by_tenant: dict[int | None, list] = {}
    for model in (Connection, GlobalConnection):
        qs = rotation_due_filter(model, now=now).select_related("app")
        for connection in qs.iterator(chunk_size=500):
            with transaction.atomic():
                claimed = _rows(model).filter(pk=connection.pk, rotation_flagged_at__isnull=True)
                if not claimed.update(rotation_flagged_at=now):
                    continue  # flagged by a concurrent run
                is_global = model is GlobalConnection
                owner = {"global_connection": connection} if is_global else {"connection": connection}
                event_record(
                    kind="rotation_due",
                    detail={
                        "authorized_at": connection.authorized_at.isoformat(),
                        "period_days": settings.ROTATION_PERIOD_DAYS,
                    },
                    **owner,
                )
            flagged += 1
            key = None if model is GlobalConnection else connection.tenant_id
            if len(by_tenant.setdefault(key, [])) < 200:
                by_tenant[key].append(connection)
    for tenant_id, connections in by_tenant.items():
        _rotation_email(tenant_id, connections)
    return flagged


def _rotation_email(tenant_id, connections) -> None:
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    if tenant_id is None:
        to = users.filter(is_staff=True)
    else:
        to = users.filter(memberships__tenant_id=tenant_id, memberships__role=Role.ADMIN)
    emails = sorted(set(to.values_list("email", flat=True)))
    if not emails:
        return
    context = {
        "connections": connections,
        "period_days": settings.ROTATION_PERIOD_DAYS,
        "base_url": settings.BASE_URL,
        "is_global": tenant_id is None,
    }
    subject = " ".join(render_to_string("emails/rotation_due_subject.txt", context).split())
    body = render_to_string("emails/rotation_due.txt", context)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, emails)
    except Exception:
        logger.exception("Rotation reminder email failed.")
