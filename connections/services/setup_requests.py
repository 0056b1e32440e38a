"""Ask for an app that is not configured: operators ask their admins, admins ask the platform.

An operator's request is mailed to the tenant's admins and listed on their dashboard until one
dismisses it or the app gets its OAuth client; a tenant admin's is mailed to the platform
administrators (Django staff), who register clients in the Django admin. A second request for
the same app while one is open tells nobody again.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from catalog.selectors import app_is_configured

from ..models import EventKind, Member, Role, SetupRequest, Tenant
from .events import event_record

logger = logging.getLogger(__name__)


def setup_request_open(*, tenant: Tenant, app, audience: str) -> SetupRequest | None:
    """Return the tenant's open request for the app to that audience, if any."""
    return (
        SetupRequest.objects.for_tenant(tenant)
        .filter(app=app, audience=audience, dismissed_at=None)
        .select_related("requested_by")
        .first()
    )


def _audience_for(member: Member) -> str:
    return SetupRequest.Audience.STAFF if member.is_admin else SetupRequest.Audience.ADMINS


def setup_request_for(*, member: Member | None, app) -> SetupRequest | None:
    """Return the open request this member's ask would make (admins' or staff's), or None."""
    if member is None or not member.can_create:
        return None
    return setup_request_open(tenant=member.tenant, app=app, audience=_audience_for(member))


def _recipients(tenant: Tenant, audience: str) -> list[str]:
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    if audience == SetupRequest.Audience.STAFF:
        users = users.filter(is_staff=True)
    else:
        users = users.filter(memberships__tenant=tenant, memberships__role=Role.ADMIN)
    return sorted(set(users.values_list("email", flat=True)))


@transaction.atomic
def setup_request_send(*, member: Member, app) -> tuple[SetupRequest, bool]:
    """Ask for the app to be set up; return the request and whether anyone was told now."""
    tenant = member.tenant
    audience = _audience_for(member)
    existing = setup_request_open(tenant=tenant, app=app, audience=audience)
    if existing is not None:
        return existing, False
    request = SetupRequest.all_objects.create(
        tenant=tenant, app=app, audience=audience, requested_by=member.user
    )
    to = _recipients(tenant, audience)
    event_record(
        kind=EventKind.SETUP_REQUESTED,
        tenant=tenant,
        actor=member.user,
        detail={"app": app.slug, "audience": audience, "emails": len(to)},
    )
    if audience == SetupRequest.Audience.STAFF:
        url = settings.BASE_URL + reverse("admin:catalog_oauthclient_add") + f"?app={app.pk}"
    else:
        url = settings.BASE_URL + reverse("connections:list")
    context = {
        "request": request,
        "app": app,
        "tenant": tenant,
        "who": member.user.get_full_name() or member.user.get_username(),
        "staff": audience == SetupRequest.Audience.STAFF,
        "url": url,
    }
    subject = " ".join(render_to_string("emails/setup_requested_subject.txt", context).split())
    body = render_to_string("emails/setup_requested.txt", context)
    if to:

        def deliver():
            try:
                send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to)
            except Exception:  # the request stays listed; a mail outage loses nothing
                logger.exception("Setup request email for tenant %s failed.", tenant.pk)

        transaction.on_commit(deliver)
    return request, True


def setup_request_dismiss(*, request: SetupRequest, actor) -> None:
    """Take a request off the admins' dashboard."""
    if request.dismissed_at is None:
        request.dismissed_at = timezone.now()
        request.save(update_fields=["dismissed_at"])


def setup_requests_for_admins(*, tenant: Tenant) -> list[SetupRequest]:
    """Return the operators' open requests, for the admins' dashboard, apps still unconfigured."""
    rows = (
        SetupRequest.objects.for_tenant(tenant)
        .filter(audience=SetupRequest.Audience.ADMINS, dismissed_at=None)
        .select_related("app", "requested_by")
    )
    return [row for row in rows if not app_is_configured(row.app)]
