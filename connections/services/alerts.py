"""Tell people when a connection breaks or recovers: once per transition, by email.

`status_alert_send` receives every status change (connections/receivers.py connects it to
`connection_status_changed`, sent by services/health.py inside the transaction that moved the
status, with the row locked), so each transition alerts exactly once however many checks fail
afterwards. The email leaves after commit; a mail outage never undoes the status change. The
tenant's webhook is the other receiver (services/webhooks.py).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

from ..errors import explain
from ..models import ConnectionStatus, EventKind, GlobalConnection, Member, Role
from .events import event_record

logger = logging.getLogger(__name__)

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


def status_alert_send(*, connection, old_status: str, new_status: str) -> bool:
    """Alert once about a status transition (after commit); return whether it alerts."""
    if not is_alerting_transition(old_status, new_status):
        return False
    to = recipients(connection)
    tenant = getattr(connection, "tenant", None)
    event_record(
        kind=EventKind.ALERT_SENT,
        detail={
            "from": old_status,
            "to": new_status,
            "emails": len(to),
            "webhook": bool(tenant and tenant.webhook_url),
        },
        **connection.as_owner(),
    )
    if not to:
        return True
    subject, body = _email(connection, old_status=old_status, new_status=new_status)

    def deliver():
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to)
        except Exception:  # a mail outage must not undo the status change
            logger.exception("Alert email for connection %s failed.", connection.pk)

    transaction.on_commit(deliver)
    return True


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
