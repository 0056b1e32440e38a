"""Members of a tenant: invitations by email, role changes and removals, each in the audit.

An invitation is a random token mailed as a link; only its SHA-256 hash is stored. Accepting
locks the row, so a link works once even when clicked twice at the same moment, and only
until it expires. A tenant always keeps at least one admin: the last one can neither be
demoted nor removed.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from ..models import EventKind, Invitation, Member, Role, Tenant
from .events import event_record

logger = logging.getLogger(__name__)


class MemberError(ValueError):
    """A member change that is refused; the message says why and is safe to show."""


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_url(token: str) -> str:
    return settings.BASE_URL + reverse("tenants:invitation_accept", args=[token])


@sensitive_variables("token", "body")
@transaction.atomic
def invitation_create(*, tenant: Tenant, email: str, role: str, actor) -> tuple[Invitation, str]:
    """Invite an address (a new link replaces a pending one); mail the link after commit."""
    email = email.strip()
    role = Role(role)
    if Member.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        raise MemberError(f"{email} is already a member of {tenant.name}.")
    now = timezone.now()
    Invitation.objects.for_tenant(tenant).filter(
        email__iexact=email, accepted_at=None, cancelled_at=None
    ).update(cancelled_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.all_objects.create(
        tenant=tenant,
        email=email,
        role=role,
        token_hash=invitation_token_hash(token),
        invited_by=actor,
        expires_at=now + timedelta(seconds=settings.INVITATION_LIFETIME),
    )
    event_record(
        kind=EventKind.MEMBER_INVITED, tenant=tenant, actor=actor, detail={"email": email, "role": role.value}
    )
    context = {
        "invitation": invitation,
        "inviter": actor.get_full_name() or actor.get_username() if actor else "",
        "role": role.label,
        "url": invitation_url(token),
    }
    subject = " ".join(render_to_string("emails/invitation_subject.txt", context).split())
    body = render_to_string("emails/invitation.txt", context)

    def deliver():
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email])
        except Exception:  # the admin sees the invitation pending and can send it again
            logger.exception("Invitation email for tenant %s failed.", tenant.pk)

    transaction.on_commit(deliver)
    return invitation, token


@transaction.atomic
def invitation_cancel(*, invitation: Invitation, actor) -> None:
    """Cancel a pending invitation: its link stops working."""
    if invitation.accepted_at is not None or invitation.cancelled_at is not None:
        return
    invitation.cancelled_at = timezone.now()
    invitation.save(update_fields=["cancelled_at"])
    event_record(
        kind=EventKind.INVITATION_CANCELLED,
        tenant=invitation.tenant,
        actor=actor,
        detail={"email": invitation.email},
    )


@sensitive_variables("token")
def invitation_for_token(token: str) -> Invitation | None:
    """Return the invitation a link's token names (pending or not), or None."""
    if not token or len(token) > 100:
        return None
    return (
        Invitation.all_objects.select_related("tenant", "invited_by")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )


@sensitive_variables("password")
@transaction.atomic
def invitation_accept(
    *, invitation: Invitation, user=None, username: str = "", password: str = ""
) -> Member:
    """Accept a pending invitation for the signed-in user, or for a new user made here."""
    locked = Invitation.all_objects.select_for_update().get(pk=invitation.pk)
    if not locked.is_pending:
        raise MemberError("This invitation was already used, cancelled, or has expired.")
    created = user is None
    if created:
        user = get_user_model().objects.create_user(
            username=username, email=locked.email, password=password
        )
    elif Member.objects.filter(tenant_id=locked.tenant_id, user=user).exists():
        raise MemberError(f"You are already a member of {locked.tenant.name}.")
    member = Member.objects.create(user=user, tenant_id=locked.tenant_id, role=locked.role)
    locked.accepted_at = timezone.now()
    locked.accepted_by = user
    locked.save(update_fields=["accepted_at", "accepted_by"])
    event_record(
        kind=EventKind.MEMBER_JOINED,
        tenant=locked.tenant,
        actor=user,
        detail={
            "email": locked.email,
            "username": user.get_username(),
            "role": locked.role,
            "new_user": created,
        },
    )
    return member


def _locked(member: Member) -> Member:
    # Lock the tenant row first: two admins demoting each other at once are serialized, and
    # the second one sees that the first is no longer an admin.
    Tenant.objects.select_for_update().get(pk=member.tenant_id)
    return Member.objects.select_related("user", "tenant").get(pk=member.pk)


def _other_admins(member: Member) -> bool:
    return Member.objects.filter(tenant_id=member.tenant_id, role=Role.ADMIN).exclude(pk=member.pk).exists()


def _last_admin_error(member: Member) -> MemberError:
    return MemberError(
        f"{member.user.get_username()} is the last admin of {member.tenant.name}: "
        "make someone else admin first."
    )


@transaction.atomic
def member_role_change(*, member: Member, role: str, actor) -> Member:
    """Give a member another role; the last admin keeps theirs."""
    role = Role(role)
    member = _locked(member)
    if member.role == role:
        return member
    if member.role == Role.ADMIN and not _other_admins(member):
        raise _last_admin_error(member)
    old = member.role
    member.role = role
    member.save(update_fields=["role"])
    event_record(
        kind=EventKind.MEMBER_ROLE_CHANGED,
        tenant=member.tenant,
        actor=actor,
        detail={"username": member.user.get_username(), "from": old, "to": role.value},
    )
    return member


@transaction.atomic
def member_remove(*, member: Member, actor) -> None:
    """Remove a member from the tenant (the user account stays); never the last admin."""
    member = _locked(member)
    if member.role == Role.ADMIN and not _other_admins(member):
        raise _last_admin_error(member)
    detail = {"username": member.user.get_username(), "role": member.role}
    tenant = member.tenant
    member.delete()
    event_record(kind=EventKind.MEMBER_REMOVED, tenant=tenant, actor=actor, detail=detail)
