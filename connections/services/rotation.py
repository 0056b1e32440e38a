"""Rotation reminders: flag connections authorized longer than the rotation period ago, once.

Beat's `rotation-reminders` job (and `manage.py rotation_reminders`) runs
`rotation_reminders_send`: each due connection is flagged with a `rotation_due` Event in its
own small transaction (a concurrent run skips what is flagged), then each tenant's admins (or,
for global connections, the staff) get one email listing theirs.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from ..models import Connection, ConnectionStatus, EventKind, GlobalConnection, Role
from .events import event_record

logger = logging.getLogger(__name__)

EMAIL_LIST_LIMIT = 200  # connections listed in one tenant's reminder


def rotation_due_filter(model, *, now=None):
    """Return live, unflagged rows of model authorized longer than the rotation period ago."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.ROTATION_PERIOD_DAYS)
    return (
        model.all_objects.filter(rotation_flagged_at__isnull=True, authorized_at__lte=cutoff)
        .exclude(status=ConnectionStatus.REVOKED)
    )


def rotation_reminders_send(*, now=None) -> int:
    """Flag connections due for rotation once each (with an Event); email each tenant's admins."""
    now = now or timezone.now()
    flagged = 0
    by_tenant: dict[int | None, list] = {}
    for model in (Connection, GlobalConnection):
        qs = rotation_due_filter(model, now=now).select_related("app")
        for connection in qs.iterator(chunk_size=500):
            with transaction.atomic():
                claimed = model.all_objects.filter(pk=connection.pk, rotation_flagged_at__isnull=True)
                if not claimed.update(rotation_flagged_at=now):
                    continue  # flagged by a concurrent run
                event_record(
                    kind=EventKind.ROTATION_DUE,
                    detail={
                        "authorized_at": connection.authorized_at.isoformat(),
                        "period_days": settings.ROTATION_PERIOD_DAYS,
                    },
                    **connection.as_owner(),
                )
            flagged += 1
            key = None if model is GlobalConnection else connection.tenant_id
            if len(by_tenant.setdefault(key, [])) < EMAIL_LIST_LIMIT:
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
    except Exception:  # a mail outage must not undo the flags
        logger.exception("Rotation reminder email failed.")
