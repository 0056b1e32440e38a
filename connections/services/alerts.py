"""Tell people when a connection breaks or recovers: once per transition, by email.

`status_alert_send` receives every status change (connections/receivers.py connects it to
`connection_status_changed`, sent by services/health.py inside the transaction that moved the
status, with the row locked), so each transition alerts exactly once however many checks fail
afterwards. The email leaves after commit; a mail outage never undoes the status change. The
tenant's webhook is the other receiver (services/webhooks.py).

Who is told: the members whose `Member.alerts` is on (by default the admins; each member can be
switched on or off on the settings page), the connection's creator unless switched off, and the
company's extra addresses (`AlertSettings.extra_emails`). Global connections: Django staff.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

from catalog.models import App

from ..errors import explain
from ..models import (
    AlertSettings,
    Connection,
    ConnectionStatus,
    ErrorCode,
    EventKind,
    GlobalConnection,
    Member,
    Tenant,
)
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
    """Return the email addresses told about this connection (see the module docstring)."""
    if isinstance(connection, GlobalConnection):
        users = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="")
        return sorted(set(users.values_list("email", flat=True)))
    members = Member.objects.filter(tenant_id=connection.tenant_id, user__is_active=True).exclude(
        user__email=""
    )
    emails = {
        member.user.email
        for member in members.select_related("user")
        if member.gets_alerts or (member.user_id == connection.created_by_id and member.alerts is not False)
    }
    emails.update(alert_extra_emails(tenant_id=connection.tenant_id))
    return sorted(emails)


def alert_extra_emails(*, tenant_id) -> list[str]:
    """Return the company's extra alert addresses."""
    row = AlertSettings.objects.filter(tenant_id=tenant_id).first()
    return list(row.extra_emails) if row else []


@transaction.atomic
def alert_recipients_set(*, tenant: Tenant, member_ids, extra_emails: list[str], actor) -> None:
    """Choose who gets status alerts: these members (the others are switched off) and addresses."""
    chosen = {int(pk) for pk in member_ids}
    members = list(Member.objects.filter(tenant=tenant).select_related("user"))
    changed = []
    for member in members:
        wanted = member.pk in chosen
        if member.gets_alerts != wanted or member.alerts is None and wanted != member.is_admin:
            changed.append(member.user.get_username())
        if member.alerts != wanted:
            member.alerts = wanted
            member.save(update_fields=["alerts"])
    settings_row, _created = AlertSettings.objects.get_or_create(tenant=tenant)
    before = list(settings_row.extra_emails)
    settings_row.extra_emails = list(dict.fromkeys(extra_emails))
    settings_row.save(update_fields=["extra_emails", "updated_at"])
    event_record(
        kind=EventKind.ALERT_RECIPIENTS_UPDATED,
        tenant=tenant,
        actor=actor,
        detail={
            "members": sorted(m.user.get_username() for m in members if m.pk in chosen),
            "changed": sorted(changed),
            "extra_emails": len(settings_row.extra_emails),
            "extra_emails_before": len(before),
        },
    )


PREVIEWS = (
    ("expired", ConnectionStatus.ACTIVE, ConnectionStatus.EXPIRED, ErrorCode.CONNECTION_EXPIRED),
    ("unavailable", ConnectionStatus.ACTIVE, ConnectionStatus.ERROR, ErrorCode.APP_UNAVAILABLE),
    ("recovered", ConnectionStatus.ERROR, ConnectionStatus.ACTIVE, ""),
)


def alert_previews(*, tenant: Tenant) -> list[dict]:
    """Return each kind of alert email as it would read for this company (an example connection)."""
    app = App(slug="slack", name="Slack")
    previews = []
    for key, old, new, code in PREVIEWS:
        example = Connection(
            tenant=tenant, app=app, name="Sales team", account_label="sales@example.com",
            status=new, last_error_code=code,
        )
        subject, body = _email(example, old_status=old, new_status=new)
        label = "Recovered" if key == "recovered" else ConnectionStatus(new).label
        previews.append({"key": key, "label": label, "subject": subject, "body": body})
    return previews


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
