"""Attempts: link an account (start → callback or typed credentials → test → connection)."""

import logging
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from catalog.models import App
from vault.services import VaultError, secret_destroy, secret_open, secret_replace, secret_seal

from .. import probe
from ..auth import mode_for
from ..auth.base import SESSION_STATE_PREFIX, TENANT_CLIENT_KEY, state_hash
from ..errors import CallbackRejected, ConnectionFailure, sanitize_provider_text
from ..models import (
    ATTEMPT_PURPOSE,
    CREDENTIALS_PURPOSE,
    Attempt,
    Connection,
    ConnectionStatus,
    ErrorCode,
    EventKind,
    HealthCheck,
)
from ..selectors import connection_default_name, connection_name_taken
from .connections import unique_name
from .events import event_record
from .health import connection_status_set
from .tenant_clients import tenant_client_for_attempt

logger = logging.getLogger(__name__)

UNEXPECTED = "Something unexpected went wrong while linking the account; try again in a moment."


# ---------------------------------------------------------------------------------------------
# Start


def attempt_start(
    *, tenant, user, app: App, name: str = "", scopes=None, field_values=None, connection=None, request=None
) -> tuple[Attempt, str | None]:
    """Store a pending attempt; return it and the provider's authorize URL (None for typed credentials).

    Typed credentials (api_key, basic, custom) are tested at once: the attempt comes back
    succeeded (with its connection) or failed (with its error). Bad input raises ValidationError
    before anything is stored. `connection` makes it a re-authorization of that connection.
    Custom apps take `field_values["headers"]` and `["query"]` as dicts or (name, value) rows.
    """
    if not app.enabled:
        raise ValidationError(f"{app.name} is not available.")
    if connection is not None:
        if connection.tenant_id != tenant.pk or connection.app_id != app.pk:
            raise ValidationError("This connection belongs to another company or app.")
        if connection.status == ConnectionStatus.REVOKED:
            raise ValidationError("A revoked connection cannot be re-authorized.")
        name = connection.name
    else:
        name = (name or "").strip() or connection_default_name(tenant=tenant, app=app)
        if len(name) > 120:
            raise ValidationError({"name": "Use at most 120 characters."})
        if connection_name_taken(tenant=tenant, app=app, name=name):
            raise ValidationError({"name": f"You already have a {app.name} connection named “{name}”."})
    if connection is not None:
        # A re-authorization keeps the connection's settings unless new ones are typed.
        typed = {key: value for key, value in (field_values or {}).items() if value not in (None, "")}
        field_values = {**(connection.config or {}), **typed}
    mode = mode_for(app)
    config, secret_values = mode.split_values(app, field_values)
    requested = mode.requested_scopes(app, scopes, connection)
    tenant_client = (
        tenant_client_for_attempt(tenant=tenant, app=app, connection=connection) if mode.needs_client else None
    )

    with transaction.atomic():
        attempt = Attempt.all_objects.create(
            tenant=tenant,
            app=app,
            name=name,
            scopes=requested,
            config=config,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            expires_at=timezone.now() + timedelta(seconds=settings.ATTEMPT_LIFETIME),
            connection=connection,
            is_reauthorization=connection is not None,
            oauth_client=tenant_client,
        )
        event_record(
            kind=EventKind.ATTEMPT_STARTED,
            connection=connection,
            tenant=tenant,
            actor=user,
            detail={"attempt": str(attempt.id), "app": app.slug, "scopes": requested, "reauthorization": connection is not None},
        )
    try:
        url = mode.start(attempt, request=request, secret_values=secret_values)
    except ConnectionFailure as failure:
        return _attempt_fail(attempt, failure), None
    except Exception as exc:
        # The type only: a library's message may quote a URL carrying a key.
        logger.error("Attempt %s could not start: unexpected %s", attempt.id, type(exc).__name__)
        return _attempt_fail(attempt, ConnectionFailure(ErrorCode.APP_UNAVAILABLE, UNEXPECTED)), None
    if url:
        return attempt, url
    return attempt_finish(attempt=attempt, request=request), None


# ---------------------------------------------------------------------------------------------
# Callback


def _session_key(hashed: str) -> str:
    return SESSION_STATE_PREFIX + hashed


def _claim(*, request, app: App, state: str) -> Attempt:
    """Find the attempt of a callback's state and consume the state (single use)."""
    bound_hash = state_hash(state, bound=True)
    unbound_hash = state_hash(state, bound=False)
    expired = None
    with transaction.atomic():
        attempt = (
            Attempt.all_objects.select_for_update()
            .filter(app=app, state_hash__in=[bound_hash, unbound_hash])
            .first()
        )
        if attempt is None:
            raise CallbackRejected(
                "This sign-in answer does not match any link in progress: it is wrong, or was already used."
            )
        session = getattr(request, "session", None)
        if attempt.state_hash == bound_hash:
            if session is None or session.get(_session_key(bound_hash)) != str(attempt.id):
                raise CallbackRejected(
                    "This sign-in answer belongs to a link started in another browser session; it was refused.",
                )
        if attempt.status != Attempt.Status.PENDING:
            raise CallbackRejected("This sign-in link was already used.", attempt=attempt)
        attempt.state_hash = ""
        if attempt.is_expired:
            expired = attempt
            _abandon(attempt)
        else:
            attempt.save(update_fields=["state_hash"])
        if session is not None:
            session.pop(_session_key(bound_hash), None)
    if expired is not None:
        raise CallbackRejected(
            f"This sign-in link expired after {settings.ATTEMPT_LIFETIME // 60} minutes; start again.", attempt=expired
        )
    return attempt


def _provider_error(app: App, params) -> ConnectionFailure | None:
    error = params.get("error")
    if not error and params.get("denied"):
        error = "access_denied"
    if not error:
        return None
    if error == "access_denied":
        message = f"The access was denied at {app.name}."
    else:
        message = f"{app.name} refused the authorization ({sanitize_provider_text(error, limit=40)})"
        description = sanitize_provider_text(params.get("error_description", ""))
        message = f"{message}: {description}" if description else f"{message}."
    return ConnectionFailure(ErrorCode.AUTHORIZATION_REJECTED, message, provider_error=sanitize_provider_text(error, 40))


def attempt_complete_callback(*, request, slug: str, params) -> Attempt:
    """Finish an OAuth attempt from the provider's redirect; return it succeeded, failed or pending.

    A missing, wrong, replayed or expired state, or one from another browser session, raises
    CallbackRejected before any token request and without creating anything. A denial at the
    provider fails the attempt with authorization_rejected. A re-authorization that reports a
    different account stays pending until attempt_confirm_account().
    """
    params = {key: (value[-1] if isinstance(value, list) else value) for key, value in dict(params).items()}
    app = App.objects.filter(slug=slug).first()
    mode = mode_for(app) if app is not None else None
    if mode is None or not mode.redirects:
        raise CallbackRejected("This sign-in answer is for an unknown app.")
    state = mode.callback_state(params)
    if not state:
        raise CallbackRejected(f"The answer from {app.name} carried no state; it was refused.")
    attempt = _claim(request=request, app=app, state=state)
    failure = _provider_error(app, params)
    if failure is not None:
        return _attempt_fail(attempt, failure)
    return attempt_finish(attempt=attempt, request=request, params=params)


# ---------------------------------------------------------------------------------------------
# Finish


def attempt_finish(*, attempt: Attempt, request=None, params=None) -> Attempt:
    """Get the attempt's credentials, test them, then create (or update) the connection."""
    app = attempt.app
    mode = mode_for(app)
    started = time.monotonic()
    try:
        credentials = mode.complete(attempt, request=request, params=params or {})
        if attempt.oauth_client_id:
            credentials[TENANT_CLIENT_KEY] = attempt.oauth_client_id  # minted by the company's client
        account_label = probe.run_test(app, attempt.config, credentials)
    except ConnectionFailure as failure:
        return _attempt_fail(attempt, failure)
    except VaultError:
        logger.exception("Attempt %s: its pending secret could not be opened", attempt.id)
        return _attempt_fail(
            attempt, ConnectionFailure(ErrorCode.AUTHORIZATION_REJECTED, "This link can no longer be completed; start again.")
        )
    except Exception as exc:
        logger.error("Attempt %s could not be finished: unexpected %s", attempt.id, type(exc).__name__)
        return _attempt_fail(attempt, ConnectionFailure(ErrorCode.APP_UNAVAILABLE, UNEXPECTED))
    duration_ms = int((time.monotonic() - started) * 1000)
    return _attempt_succeed(attempt, credentials, account_label, duration_ms=duration_ms)


def _destroy_pending(attempt: Attempt) -> None:
    secret = attempt.pending_secret if attempt.pending_secret_id else None
    attempt.pending_secret = None
    if secret is not None:
        Attempt.all_objects.filter(pk=attempt.pk).update(pending_secret=None)
        secret_destroy(secret=secret)


def _abandon(attempt: Attempt) -> None:
    attempt.status = Attempt.Status.ABANDONED
    attempt.state_hash = ""
    attempt.completed_at = timezone.now()
    _destroy_pending(attempt)
    attempt.save(update_fields=["status", "state_hash", "completed_at", "pending_secret"])


@transaction.atomic
def _attempt_fail(attempt: Attempt, failure: ConnectionFailure) -> Attempt:
    attempt = Attempt.all_objects.select_for_update().get(pk=attempt.pk)
    if attempt.status != Attempt.Status.PENDING:
        return attempt
    attempt.status = Attempt.Status.FAILED
    attempt.error_code = failure.code
    attempt.error_message = failure.message
    attempt.state_hash = ""
    attempt.completed_at = timezone.now()
    _destroy_pending(attempt)
    attempt.save(update_fields=["status", "error_code", "error_message", "state_hash", "completed_at", "pending_secret"])
    event_record(
        kind=EventKind.ATTEMPT_FAILED,
        connection=attempt.connection,
        tenant=attempt.tenant,
        actor=attempt.created_by,
        detail={"attempt": str(attempt.id), "app": attempt.app.slug, "code": failure.code.value, "message": failure.message},
    )
    return attempt


def _expires_datetime(epoch) -> datetime | None:
    if not epoch:
        return None
    return datetime.fromtimestamp(float(epoch), tz=dt_timezone.utc)


def _apply_credentials(connection, *, app, credentials, account_label, scopes, config, now) -> None:
    """Store fresh, tested credentials on a connection (the caller saves it with its status)."""
    mode = mode_for(app)
    if connection.credentials_id:
        secret_replace(secret=connection.credentials, payload=credentials)
    else:
        connection.credentials = secret_seal(payload=credentials, purpose=CREDENTIALS_PURPOSE)
    connection.account_label = account_label or connection.account_label
    connection.scopes = scopes
    connection.config = config
    connection.authorized_at = now
    connection.expires_at = _expires_datetime(mode.expires_at(credentials))
    connection.last_checked_at = now
    connection.rotation_flagged_at = None
    connection.oauth_client_id = credentials.get(TENANT_CLIENT_KEY)
    connection.version = (connection.version or 0) + 1


def _record_test(connection, *, actor, account_label, duration_ms) -> None:
    HealthCheck.objects.create(connection=connection, kind=HealthCheck.Kind.TEST, ok=True, duration_ms=duration_ms)
    event_record(kind=EventKind.TESTED, connection=connection, actor=actor, detail={"ok": True, "account": account_label})


def _attempt_succeed(attempt: Attempt, credentials: dict, account_label: str, *, duration_ms: int = 0) -> Attempt:
    app = attempt.app
    mode = mode_for(app)
    scopes = mode.granted_scopes(attempt, credentials)
    with transaction.atomic():
        attempt = Attempt.all_objects.select_for_update().select_related("app", "tenant").get(pk=attempt.pk)
        if attempt.status != Attempt.Status.PENDING:
            return attempt
        now = timezone.now()
        actor = attempt.created_by
        if attempt.is_reauthorization:
            connection = Connection.all_objects.select_for_update().get(pk=attempt.connection_id)
            if connection.status == ConnectionStatus.REVOKED:
                failure = ConnectionFailure(ErrorCode.AUTHORIZATION_REJECTED, "The connection was revoked meanwhile.")
                return _attempt_fail(attempt, failure)
            if connection.account_label and account_label and account_label != connection.account_label:
                _destroy_pending(attempt)
                attempt.pending_secret = secret_seal(
                    payload={"credentials": credentials, "scopes": scopes}, purpose=ATTEMPT_PURPOSE
                )
                attempt.account_label = account_label
                attempt.expires_at = now + timedelta(seconds=settings.ATTEMPT_LIFETIME)
                attempt.save(update_fields=["pending_secret", "account_label", "expires_at"])
                event_record(
                    kind=EventKind.ACCOUNT_DIFFERS,
                    connection=connection,
                    actor=actor,
                    detail={"attempt": str(attempt.id), "account": account_label, "previous_account": connection.account_label},
                )
                return attempt
            _reauthorize(connection, attempt=attempt, credentials=credentials, account_label=account_label,
                         scopes=scopes, actor=actor, now=now, duration_ms=duration_ms)
            return attempt

        connection = Connection.all_objects.create(
            tenant=attempt.tenant,
            app=app,
            name=unique_name(tenant=attempt.tenant, app=app, name=attempt.name),
            credentials=secret_seal(payload=credentials, purpose=CREDENTIALS_PURPOSE),
            config=attempt.config,
            scopes=scopes,
            account_label=account_label,
            authorized_at=now,
            expires_at=_expires_datetime(mode.expires_at(credentials)),
            last_checked_at=now,
            created_by=actor,
            version=1,
            oauth_client_id=credentials.get(TENANT_CLIENT_KEY),
        )
        attempt.connection = connection
        _succeed_attempt_row(attempt, account_label, now)
        event_record(
            kind=EventKind.CREATED,
            connection=connection,
            actor=actor,
            detail={"attempt": str(attempt.id), "app": app.slug, "account": account_label, "scopes": scopes},
        )
        _record_test(connection, actor=actor, account_label=account_label, duration_ms=duration_ms)
    return attempt


def _succeed_attempt_row(attempt: Attempt, account_label: str, now) -> None:
    attempt.status = Attempt.Status.SUCCEEDED
    attempt.account_label = account_label or ""
    attempt.completed_at = now
    attempt.state_hash = ""
    attempt.error_code = ""
    attempt.error_message = ""
    _destroy_pending(attempt)
    attempt.save(update_fields=[
        "status", "account_label", "completed_at", "state_hash", "error_code", "error_message", "pending_secret", "connection",
    ])


def _reauthorize(connection, *, attempt, credentials, account_label, scopes, actor, now, duration_ms=0, previous_account=None):
    _apply_credentials(connection, app=attempt.app, credentials=credentials, account_label=account_label,
                       scopes=scopes, config=attempt.config, now=now)
    connection_status_set(
        connection, status=ConnectionStatus.ACTIVE, via=EventKind.REAUTHORIZED, actor=actor, failures=0
    )
    _succeed_attempt_row(attempt, account_label, now)
    _record_test(connection, actor=actor, account_label=account_label, duration_ms=duration_ms)
    detail = {"attempt": str(attempt.id), "account": connection.account_label, "scopes": scopes}
    if previous_account:
        detail["previous_account"] = previous_account
    event_record(kind=EventKind.REAUTHORIZED, connection=connection, actor=actor, detail=detail)


def attempt_awaits_account_confirmation(attempt: Attempt) -> bool:
    """Return whether a re-authorization reported another account and waits for a confirmation."""
    return (
        attempt.status == Attempt.Status.PENDING
        and attempt.is_reauthorization
        and bool(attempt.account_label)
        and not attempt.state_hash
        and attempt.pending_secret_id is not None
    )


def attempt_confirm_account(*, attempt: Attempt, actor) -> Attempt:
    """Accept the other account a re-authorization reported: replace the credentials in place."""
    with transaction.atomic():
        attempt = Attempt.all_objects.select_for_update().select_related("app").get(pk=attempt.pk)
        if not attempt_awaits_account_confirmation(attempt):
            raise ValidationError("This re-authorization is not waiting for a confirmation.")
        if not attempt.is_expired:
            connection = Connection.all_objects.select_for_update().get(pk=attempt.connection_id)
            if connection.status == ConnectionStatus.REVOKED:
                return _attempt_fail(attempt, ConnectionFailure(ErrorCode.AUTHORIZATION_REJECTED, "The connection was revoked meanwhile."))
            pending = secret_open(secret=attempt.pending_secret, purpose=ATTEMPT_PURPOSE)
            previous = connection.account_label
            connection.account_label = ""  # the confirmed account replaces the old one
            _reauthorize(connection, attempt=attempt, credentials=pending["credentials"],
                         account_label=attempt.account_label, scopes=pending.get("scopes") or [],
                         actor=actor, now=timezone.now(), previous_account=previous)
            return attempt
        _abandon(attempt)
    raise ValidationError("This confirmation expired; re-authorize again.")


def attempt_cancel(*, attempt: Attempt, actor) -> Attempt:
    """Abandon a pending attempt (e.g. keep the old account); its pending secret is destroyed."""
    with transaction.atomic():
        attempt = Attempt.all_objects.select_for_update().get(pk=attempt.pk)
        if attempt.status != Attempt.Status.PENDING:
            return attempt
        _abandon(attempt)
        event_record(kind=EventKind.ATTEMPT_CANCELLED, connection=attempt.connection, tenant=attempt.tenant, actor=actor,
                     detail={"attempt": str(attempt.id)})
    return attempt


def attempts_abandon_stale(*, now=None) -> int:
    """Mark pending attempts past their lifetime abandoned and destroy their pending secrets."""
    now = now or timezone.now()
    count = 0
    stale = Attempt.all_objects.filter(status=Attempt.Status.PENDING, expires_at__lte=now).values_list("pk", flat=True)
    for pk in list(stale[:5000]):
        with transaction.atomic():
            attempt = (
                Attempt.all_objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("app", "tenant")
                .filter(pk=pk, status=Attempt.Status.PENDING, expires_at__lte=now)
                .first()
            )
            if attempt is None:
                continue
            _abandon(attempt)
            event_record(
                kind=EventKind.ATTEMPT_ABANDONED,
                connection=attempt.connection,
                tenant=attempt.tenant,
                detail={"attempt": str(attempt.id), "app": attempt.app.slug},
            )
            count += 1
    return count


__all__ = [
    "attempt_start", "attempt_complete_callback", "attempt_finish", "attempt_confirm_account",
    "attempt_cancel", "attempt_awaits_account_confirmation", "attempts_abandon_stale",
]
