"""Publication: a tenant admin asks, a system administrator approves, every tenant may use.

A global connection is a copy of a tenant's connection that points at the SAME credentials
Secret: both hold the same grant at the provider, so a refresh by either is seen by both.
Unpublishing hides the copy and keeps the Secret (the source still holds it); revoking the
copy at the provider kills the grant for the source too.
"""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from vault.models import Secret
from vault.services import VaultError, secret_destroy, secret_open

from ..auth import mode_for
from ..errors import ConnectionFailure, ConnectionUnusable
from ..models import (
    CREDENTIALS_PURPOSE,
    Connection,
    ConnectionStatus,
    ErrorCode,
    EventKind,
    GlobalConnection,
    HealthCheck,
    PublicationRequest,
)
from . import lookups
from .events import event_record
from .health import connection_check, connection_status_set

logger = logging.getLogger(__name__)

# Fields copied from a tenant's connection into its global copy (credentials: the same Secret).
# Only an active connection that has just passed its check is published, so the copy starts
# active with no failures: the status and its counters are not copied (health.py writes them).
COPIED_FIELDS = (
    "app_id", "name", "credentials_id", "config", "scopes", "account_label", "authorized_at",
    "expires_at", "last_refreshed_at", "last_checked_at", "rotation_flagged_at", "version",
    "oauth_client_id",
)


class PublicationError(Exception):
    """A publication step was refused; `message` is safe to show."""

    def __init__(self, message):
        self.message = str(message)
        super().__init__(self.message)


def _live_copy(connection):
    return (
        GlobalConnection.objects.filter(source_connection=connection, unpublished_at__isnull=True)
        .exclude(status=ConnectionStatus.REVOKED)
        .first()
    )


def publication_source_reauthorized(*, source: Connection, holders, kept_reviewed: bool, actor) -> None:
    """Record what a re-authorization of a published source did to its global copies.

    Called by the re-authorization, inside its transaction, with the copies locked. With
    `kept_reviewed` the source got a new Secret and each copy still holds the reviewed one. Else
    (the app keeps one grant per user and client, so the copy now holds the new grant) each
    copy stops serving and goes back to review: a pending request that, once approved, copies
    the source again. Staff are told either way; both timelines say what happened.
    """
    now = timezone.now()
    for copy in holders:
        if kept_reviewed:
            detail = {"global_connection": str(copy.pk), "account": source.account_label,
                      "reviewed_account": copy.account_label,
                      "message": f"The global copy keeps the reviewed credentials ({copy.account_label or 'its account'}); "
                                 "the source has credentials of its own now."}
            event_record(kind=EventKind.SOURCE_REAUTHORIZED, connection=source, actor=actor, detail=detail)
            event_record(kind=EventKind.SOURCE_REAUTHORIZED, global_connection=copy, actor=actor,
                         detail={**detail, "source_connection": str(source.pk)})
            transaction.on_commit(lambda copy=copy: _tell_staff_source_reauthorized(source, copy))
            continue
        if copy.unpublished_at is not None:
            # Unpublished by a system administrator: it stays so, with the new grant, until revoked.
            event_record(kind=EventKind.SOURCE_REAUTHORIZED, global_connection=copy, actor=actor,
                         detail={"source_connection": str(source.pk), "account": source.account_label,
                                 "message": "The app keeps one grant per user and client: this copy holds the new one."})
            continue
        copy.unpublished_at = now
        copy.save(update_fields=["unpublished_at", "updated_at"])
        review = PublicationRequest.objects.filter(connection=source, status=PublicationRequest.Status.PENDING).first()
        if review is None:
            review = PublicationRequest.objects.create(
                connection=source, requested_by=actor if getattr(actor, "is_authenticated", False) else None,
                global_connection=copy,
                reason=(f"Re-review: the source was re-authorized as {source.account_label or 'another account'} "
                        f"(the global copy was reviewed as {copy.account_label or 'another account'}). "
                        "The app keeps one grant per user and client, so the copy holds the new grant."),
            )
        detail = {"global_connection": str(copy.pk), "request": review.pk, "account": source.account_label,
                  "reviewed_account": copy.account_label,
                  "message": "The global copy stopped serving until a system administrator approves it again."}
        event_record(kind=EventKind.PUBLICATION_REVIEW_REOPENED, connection=source, actor=actor, detail=detail)
        event_record(kind=EventKind.PUBLICATION_REVIEW_REOPENED, global_connection=copy, actor=actor,
                     detail={**detail, "source_connection": str(source.pk)})
        transaction.on_commit(lambda review=review: _tell_reviewers(review))


def _reviewer_emails() -> list[str]:
    """Return the addresses of the system administrators who may review publication requests."""
    reviewers = (
        get_user_model()
        .objects.with_perm("connections.review_publicationrequest", include_superusers=True)
        .filter(is_staff=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    return sorted(set(reviewers))


def _tell_staff_source_reauthorized(source, copy) -> None:
    """Email the reviewers that a published source was re-authorized and its copy kept the reviewed grant."""
    to = _reviewer_emails()
    if not to:
        return
    context = {
        "source": Connection.all_objects.select_related("app", "tenant").get(pk=source.pk),
        "copy": copy,
        "url": settings.BASE_URL.rstrip("/") + reverse("admin:connections_globalconnection_change", args=[copy.pk]),
    }
    subject = render_to_string("emails/publication_source_reauthorized_subject.txt", context).strip()
    body = render_to_string("emails/publication_source_reauthorized.txt", context)
    try:
        send_mail(subject, body, None, to)
    except Exception:  # A mail outage must not undo the re-authorization.
        logger.exception("Could not email reviewers about the re-authorized source of %s", copy.pk)


def publication_request_create(*, connection: Connection, user, reason: str) -> PublicationRequest:
    """Open a publication request for an active connection (one open request per connection)."""
    reason = (reason or "").strip()
    if not reason:
        raise PublicationError("Give a reason: the reviewer reads it before approving.")
    if connection.status != ConnectionStatus.ACTIVE:
        raise PublicationError("Only an active connection can be published. Check or re-authorize it first.")
    if _live_copy(connection) is not None:
        raise PublicationError("This connection is already published as a global connection.")
    try:
        with transaction.atomic():
            publication_request = PublicationRequest.objects.create(
                connection=connection, requested_by=user, reason=reason
            )
            event_record(
                kind=EventKind.PUBLICATION_REQUESTED, connection=connection, actor=user,
                detail={"request": publication_request.pk, "reason": reason[:200]},
            )
    except IntegrityError:
        raise PublicationError(
            "This connection already has an open publication request: withdraw it or wait for the review."
        ) from None
    transaction.on_commit(lambda: _tell_reviewers(publication_request))
    return publication_request


def publication_withdraw(*, publication_request: PublicationRequest, user) -> PublicationRequest:
    """Withdraw a pending request (a reviewed one stays as it is)."""
    with transaction.atomic():
        locked = PublicationRequest.objects.select_for_update().get(pk=publication_request.pk)
        if locked.status == PublicationRequest.Status.WITHDRAWN:
            return locked
        if locked.status != PublicationRequest.Status.PENDING:
            raise PublicationError(f"This request is already {locked.get_status_display().lower()}: it can no longer be withdrawn.")
        locked.status = PublicationRequest.Status.WITHDRAWN
        locked.save(update_fields=["status"])
        event_record(
            kind=EventKind.PUBLICATION_WITHDRAWN, connection=locked.connection, actor=user, detail={"request": locked.pk}
        )
    return locked


def _recheck(connection, reviewer):
    """Check the connection now; return a safe reason when it is not fit to publish, else None."""
    try:
        check = connection_check(connection=connection, actor=reviewer)
    except ConnectionUnusable as unusable:
        return str(unusable)
    except VaultError:
        logger.warning("Credentials of connection %s could not be opened for the publication check", connection.pk)
        return "its stored credentials could not be opened"
    except ConnectionFailure as failure:
        return failure.message
    connection.refresh_from_db()
    if isinstance(check, HealthCheck) and not check.ok:
        return check.message or check.get_error_code_display() or "the check failed"
    if connection.status != ConnectionStatus.ACTIVE:
        return f"its status is {connection.get_status_display()}"
    return None


def _lock_for_review(publication_request, outcome: str, verb: str) -> tuple[PublicationRequest, bool]:
    """Lock the request; return (it, True) when pending, (it, False) when it already has outcome."""
    locked = PublicationRequest.objects.select_for_update().get(pk=publication_request.pk)
    if locked.status == outcome:
        return locked, False
    if locked.status != PublicationRequest.Status.PENDING:
        raise PublicationError(
            f"This request is {locked.get_status_display().lower()}: only a pending request can be {verb}."
        )
    return locked, True


def publication_approve(
    *, publication_request: PublicationRequest, reviewer, note: str = "", allow_credential_sharing: bool = False
):
    """Re-check the connection and publish it; return (request, created). A second call does nothing.

    allow_credential_sharing: other tenants' tokens may fetch the raw credentials too; without
    it (the default) they use the global connection only through the credential proxy.
    """
    publication_request.refresh_from_db()
    if publication_request.status == PublicationRequest.Status.APPROVED:
        return publication_request, False
    if publication_request.status != PublicationRequest.Status.PENDING:
        raise PublicationError(
            f"This request is {publication_request.get_status_display().lower()}: only a pending request can be approved."
        )
    connection = Connection.all_objects.select_related("app", "tenant").get(pk=publication_request.connection_id)
    if connection.status != ConnectionStatus.ACTIVE:
        raise PublicationError(
            f"{connection} cannot be approved: its status is {connection.get_status_display()}. "
            "The tenant must re-authorize it first."
        )
    # The check talks to the provider and records its own result: it runs before the
    # transaction so that a failed check stays recorded when the approval is refused.
    problem = _recheck(connection, reviewer)
    if problem:
        raise PublicationError(f"{connection} cannot be approved: the check failed ({problem}).")

    now = timezone.now()
    with transaction.atomic():
        locked, pending = _lock_for_review(publication_request, PublicationRequest.Status.APPROVED, "approved")
        if not pending:
            return locked, False
        connection = Connection.all_objects.select_for_update().get(pk=connection.pk)
        if connection.status != ConnectionStatus.ACTIVE or connection.credentials_id is None:
            raise PublicationError(f"{connection} cannot be approved: its status is {connection.get_status_display()}.")
        if locked.global_connection_id:
            # A re-review (publication_source_reauthorized): the copy takes the source's new grant.
            global_connection = GlobalConnection.objects.select_for_update().get(pk=locked.global_connection_id)
            for field in COPIED_FIELDS:
                setattr(global_connection, field, getattr(connection, field))
            global_connection.approved_by = reviewer
            global_connection.published_at = now
            global_connection.unpublished_at = None
            global_connection.allow_credential_sharing = bool(allow_credential_sharing)
        else:
            global_connection = GlobalConnection(
                **{field: getattr(connection, field) for field in COPIED_FIELDS},
                source_connection=connection,
                source_tenant_id=connection.tenant_id,
                approved_by=reviewer,
                published_at=now,
                allow_credential_sharing=bool(allow_credential_sharing),
            )
        global_connection.save()
        locked.status = PublicationRequest.Status.APPROVED
        locked.reviewed_by = reviewer
        locked.reviewed_at = now
        locked.review_note = (note or "").strip()
        locked.global_connection = global_connection
        locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note", "global_connection"])
        event_record(
            kind=EventKind.PUBLISHED, connection=connection, actor=reviewer,
            detail={"request": locked.pk, "global_connection": str(global_connection.pk)},
        )
        event_record(
            kind=EventKind.PUBLISHED, global_connection=global_connection, actor=reviewer,
            detail={
                "request": locked.pk, "source_connection": str(connection.pk),
                "source_tenant": connection.tenant.slug,
                "credential_sharing": bool(allow_credential_sharing),
            },
        )
        transaction.on_commit(lambda: _tell_requester(locked, "approved"))
    return locked, True


def publication_reject(*, publication_request: PublicationRequest, reviewer, note: str):
    """Reject a pending request with a note for the requester; return (request, changed)."""
    note = (note or "").strip()
    if not note:
        raise PublicationError("Write a note telling the requester why the request is rejected.")
    with transaction.atomic():
        locked, pending = _lock_for_review(publication_request, PublicationRequest.Status.REJECTED, "rejected")
        if not pending:
            return locked, False
        locked.status = PublicationRequest.Status.REJECTED
        locked.reviewed_by = reviewer
        locked.reviewed_at = timezone.now()
        locked.review_note = note
        locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
        event_record(
            kind=EventKind.PUBLICATION_REJECTED, connection=locked.connection, actor=reviewer,
            detail={"request": locked.pk, "reason": note[:200]},
        )
        transaction.on_commit(lambda: _tell_requester(locked, "rejected"))
    return locked, True


def _tell_requester(publication_request, outcome):
    user = publication_request.requested_by
    if user is None or not user.email:
        return
    connection = Connection.all_objects.select_related("app", "tenant").get(pk=publication_request.connection_id)
    context = {
        "request": publication_request,
        "connection": connection,
        "user": user,
        "url": settings.BASE_URL.rstrip("/") + connection.get_absolute_url(),
    }
    subject = render_to_string(f"emails/publication_{outcome}_subject.txt", context).strip()
    body = render_to_string(f"emails/publication_{outcome}.txt", context)
    try:
        send_mail(subject, body, None, [user.email])
    except Exception:  # A mail outage must not undo a committed review.
        logger.exception("Could not email publication %s to user %s", outcome, user.pk)


def _tell_reviewers(publication_request):
    """Email the system administrators who may review publication requests."""
    to = _reviewer_emails()
    if not to:
        return
    connection = Connection.all_objects.select_related("app", "tenant").get(pk=publication_request.connection_id)
    context = {
        "request": publication_request,
        "connection": connection,
        "url": settings.BASE_URL.rstrip("/")
        + reverse("admin:connections_publicationrequest_change", args=[publication_request.pk]),
    }
    subject = render_to_string("emails/publication_requested_subject.txt", context).strip()
    body = render_to_string("emails/publication_requested.txt", context)
    try:
        send_mail(subject, body, None, to)
    except Exception:  # A mail outage must not undo the request.
        logger.exception("Could not email reviewers about publication request %s", publication_request.pk)


def global_check(*, global_connection: GlobalConnection, actor=None) -> HealthCheck:
    """Check a global connection now (refreshing first when due); return the HealthCheck."""
    try:
        return connection_check(connection=global_connection, actor=actor)
    except ConnectionUnusable as unusable:
        raise PublicationError(f"{global_connection} cannot be checked: {unusable}") from None


def global_unpublish(*, global_connection: GlobalConnection, actor) -> GlobalConnection:
    """Hide a global connection from every tenant; the source and the shared Secret stay as they are."""
    with transaction.atomic():
        locked = GlobalConnection.objects.select_for_update().get(pk=global_connection.pk)
        if locked.unpublished_at is not None:
            return locked
        locked.unpublished_at = timezone.now()
        locked.save(update_fields=["unpublished_at", "updated_at"])
        event_record(kind=EventKind.UNPUBLISHED, global_connection=locked, actor=actor)
        source = locked.source_connection_id and Connection.all_objects.filter(pk=locked.source_connection_id).first()
        if source:
            event_record(kind=EventKind.UNPUBLISHED, connection=source, actor=actor, detail={"global_connection": str(locked.pk)})
    global_connection.refresh_from_db()
    return locked


def global_revoke(*, global_connection: GlobalConnection, actor) -> GlobalConnection:
    """Revoke the shared grant at the provider: the copy is revoked and the source expires."""
    with transaction.atomic():
        locked = GlobalConnection.objects.select_for_update(of=("self",)).select_related("app", "credentials").get(
            pk=global_connection.pk
        )
        locked.revocation_warning = ""
        if locked.status == ConnectionStatus.REVOKED:
            return locked
        provider_error = ""
        if locked.credentials_id is not None:
            try:
                credentials = secret_open(secret=locked.credentials, purpose=CREDENTIALS_PURPOSE)
                mode_for(locked.app).revoke(locked.app, locked.config, credentials)
            except (ConnectionFailure, VaultError, NotImplementedError) as error:
                provider_error = getattr(error, "message", "") or "revocation failed at the provider"
                logger.warning("Revocation of global connection %s at the provider failed: %s", locked.pk, provider_error)
        now = timezone.now()
        secret_id = locked.credentials_id
        locked.revoked_at = now
        locked.unpublished_at = locked.unpublished_at or now
        locked.credentials = None
        connection_status_set(
            locked, status=ConnectionStatus.REVOKED, via=EventKind.REVOKED, actor=actor,
            fields=["revoked_at", "unpublished_at", "credentials"],
        )
        event_record(
            kind=EventKind.REVOKED, global_connection=locked, actor=actor,
            detail={"at_provider": True, **({"provider_error": provider_error} if provider_error else {})},
        )
        if secret_id is not None:
            _release_dead_grant(secret_id, locked, actor)
    global_connection.refresh_from_db()
    locked.revocation_warning = provider_error
    return locked


def _release_dead_grant(secret_id, global_connection, actor):
    """Expire the live rows that held the revoked grant; destroy the Secret when none is left."""
    holders = Connection.all_objects.select_for_update().filter(credentials_id=secret_id)
    live = [row for row in holders if row.status != ConnectionStatus.REVOKED]
    for source in live:
        # The source holds the same, now dead, grant: it must be re-authorized.
        connection_status_set(
            source, status=ConnectionStatus.EXPIRED, via=EventKind.GRANT_REVOKED, actor=actor, fields=[],
            failure=ConnectionFailure(
                ErrorCode.CONNECTION_EXPIRED,
                "The grant was revoked at the provider by a system administrator.",
            ),
        )
        event_record(
            kind=EventKind.GRANT_REVOKED, connection=source, actor=actor,
            detail={"global_connection": str(global_connection.pk), "by": "system administrator"},
        )
    other_copies = GlobalConnection.objects.filter(credentials_id=secret_id).exclude(status=ConnectionStatus.REVOKED)
    if live or other_copies.exists():
        return
    # Nobody live holds the grant any more: revoked rows let go of it and the Secret goes.
    Connection.all_objects.filter(credentials_id=secret_id).update(credentials=None)
    GlobalConnection.objects.filter(credentials_id=secret_id).update(credentials=None)
    lookups.changed()  # update() sends no signal
    secret = Secret.objects.filter(pk=secret_id).first()
    if secret is not None:
        secret_destroy(secret=secret)
