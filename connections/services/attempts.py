"""Attempts: link an account (start → callback or typed credentials → test → connection)."""

import logging
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from catalog.models import App
from vault.services import VaultError, secret_destroy, secret_open, secret_replace, secret_seal

from .. import probe
from ..auth import mode_for
from ..auth.base import SESSION_STATE_PREFIX, TENANT_CLIENT_KEY, is_session_bound, state_hash
from ..errors import CallbackRejected, ConnectionFailure, sanitize_provider_text
from ..models import (
    ATTEMPT_PURPOSE,
    CREDENTIALS_PURPOSE,
    Attempt,
    Connection,
    ConnectionStatus,
    ErrorCode,
    EventKind,
    GlobalConnection,
    HealthCheck,
    Member,
    Role,
)
from ..selectors import connection_default_name, connection_name_taken
from .connections import unique_name
from .events import event_record
from .health import connection_status_set
from .publication import publication_source_reauthorized
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
            connection_authorized_at=connection.authorized_at if connection is not None else None,
            unbound=mode.redirects and not is_session_bound(request),
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
    if attempt.unbound:
        refusal = _unbound_refusal(getattr(request, "user", None), attempt)
        if refusal:
            return _refuse_unbound(attempt, request=request, params=params, message=refusal)
    return attempt_finish(attempt=attempt, request=request, params=params)


def _unbound_refusal(user, attempt: Attempt) -> str:
    """Return why this person may not finish an attempt started without a browser session, or "".

    The state of such an attempt is not tied to any session, so whoever holds its authorize URL
    could consent with their own account: only a signed-in operator or admin of the attempt's
    company (for a re-authorization: one who may change that connection) finishes it.
    """
    tenant = attempt.tenant
    refused = (
        f"This link adds an account to {tenant.name}. Only an operator or admin of {tenant.name}, "
        f"signed in here, can finish it; nothing was linked. Ask {tenant.name} to send you an invitation, "
        "or ignore this link."
    )
    if user is None or not getattr(user, "is_authenticated", False):
        return refused
    member = Member.objects.filter(user=user, tenant_id=attempt.tenant_id).first()
    if member is None or member.role not in (Role.ADMIN, Role.OPERATOR):
        return refused
    connection = attempt.connection if attempt.is_reauthorization else None
    if connection is not None and member.role != Role.ADMIN and connection.created_by_id != user.pk:
        return (
            f"Only the operator who created “{connection.name}” or an admin of {tenant.name} can "
            "re-authorize it; nothing was changed."
        )
    return ""


@sensitive_variables("credentials")
def _refuse_unbound(attempt: Attempt, *, request, params, message: str) -> Attempt:
    """Fail an unbound attempt finished by the wrong person; revoke the grant just issued.

    Where the app keeps one grant per user and client, the code is not even redeemed: revoking
    would also kill that person's own connections.
    """
    app = attempt.app
    mode = mode_for(app)
    grant = "not_redeemed"
    if mode.revokes_released_grants(app) and params.get("code"):
        try:
            credentials = mode.complete(attempt, request=request, params=params)
        except (ConnectionFailure, VaultError):
            grant = "not_issued"
        else:
            grant = "revoked" if _revoke_released(app, attempt.config, credentials) == "" else "revoke_failed"
    failed = _attempt_fail(attempt, ConnectionFailure(ErrorCode.AUTHORIZATION_REJECTED, message))
    event_record(
        kind=EventKind.LINK_REFUSED,
        connection=attempt.connection,
        tenant=attempt.tenant,
        detail={"attempt": str(attempt.id), "app": app.slug, "grant": grant,
                "message": "Finished by someone who is not an operator or admin of this company."},
    )
    return failed


@sensitive_variables("credentials")
def _revoke_released(app, config, credentials) -> str:
    """Revoke a grant we let go of at the app; return "" or the safe reason it failed."""
    try:
        mode_for(app).revoke(app, config, credentials)
    except ConnectionFailure as failure:
        logger.warning("Revocation of a released %s grant failed: %s", app.slug, failure.message)
        return failure.message
    except Exception as exc:
        logger.error("Revocation of a released %s grant failed: unexpected %s", app.slug, type(exc).__name__)
        return f"unexpected {type(exc).__name__}"
    return ""


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
    callback_user = getattr(request, "user", None) if attempt.unbound else None
    return _attempt_succeed(attempt, credentials, account_label, duration_ms=duration_ms, callback_user=callback_user)


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


def _reauthorization_refusal(attempt: Attempt, connection) -> ConnectionFailure | None:
    """Return why a re-authorization may not replace the connection's credentials now, or None.

    It applies only to the authorization it started from: when another re-authorization (or a
    racing attempt) finished meanwhile, applying this older one would roll the newer grant back.
    The connection's `version` also moves with every refresh, so `authorized_at` is compared.
    """
    if connection.status == ConnectionStatus.REVOKED:
        return ConnectionFailure(ErrorCode.AUTHORIZATION_REJECTED, "The connection was revoked meanwhile.")
    started_from = attempt.connection_authorized_at
    if started_from is not None and connection.authorized_at != started_from:
        return ConnectionFailure(
            ErrorCode.AUTHORIZATION_REJECTED,
            "The connection changed after this re-authorization started: it was re-authorized meanwhile. "
            "Nothing was replaced and the credentials of this attempt were discarded; re-authorize again "
            "if the connection should use another account.",
        )
    return None


def _hold(attempt: Attempt, *, credentials: dict, scopes, account_label: str, now, callback_user=None) -> None:
    """Keep tested credentials in the attempt's pending secret until a person confirms them."""
    _destroy_pending(attempt)
    attempt.pending_secret = secret_seal(payload={"credentials": credentials, "scopes": scopes}, purpose=ATTEMPT_PURPOSE)
    attempt.account_label = account_label or ""
    attempt.expires_at = now + timedelta(seconds=settings.ATTEMPT_LIFETIME)
    fields = ["pending_secret", "account_label", "expires_at"]
    if callback_user is not None:
        attempt.callback_user = callback_user
        fields.append("callback_user")
    attempt.save(update_fields=fields)


@sensitive_variables("credentials", "released")
def _attempt_succeed(
    attempt: Attempt, credentials: dict, account_label: str, *, duration_ms: int = 0, callback_user=None
) -> Attempt:
    app = attempt.app
    mode = mode_for(app)
    scopes = mode.granted_scopes(attempt, credentials)
    released = superseded = None
    with transaction.atomic():
        attempt = Attempt.all_objects.select_for_update().select_related("app", "tenant").get(pk=attempt.pk)
        now = timezone.now()
        actor = attempt.created_by
        if attempt.status != Attempt.Status.PENDING:
            released = credentials  # cancelled or abandoned meanwhile: nobody will use this grant
        elif attempt.unbound:
            # Started without a browser session: the member who landed here confirms first.
            _hold(attempt, credentials=credentials, scopes=scopes, account_label=account_label, now=now,
                  callback_user=callback_user)
            return attempt
        elif not attempt.is_reauthorization:
            _create_connection(attempt, credentials=credentials, scopes=scopes, account_label=account_label,
                               actor=actor, now=now, duration_ms=duration_ms)
            return attempt
        else:
            connection = Connection.all_objects.select_for_update().get(pk=attempt.connection_id)
            refusal = _reauthorization_refusal(attempt, connection)
            if refusal is not None:
                attempt = _attempt_fail(attempt, refusal)
                released = credentials
            elif connection.account_label and account_label and account_label != connection.account_label:
                _hold(attempt, credentials=credentials, scopes=scopes, account_label=account_label, now=now)
                event_record(
                    kind=EventKind.ACCOUNT_DIFFERS,
                    connection=connection,
                    actor=actor,
                    detail={"attempt": str(attempt.id), "account": account_label,
                            "previous_account": connection.account_label},
                )
                return attempt
            else:
                superseded = _reauthorize(connection, attempt=attempt, credentials=credentials,
                                          account_label=account_label, scopes=scopes, actor=actor, now=now,
                                          duration_ms=duration_ms)
    _after_release(attempt, released=released, superseded=superseded, actor=actor)
    return attempt


def _create_connection(attempt, *, credentials, scopes, account_label, actor, now, duration_ms=0) -> Connection:
    app = attempt.app
    connection = Connection.all_objects.create(
        tenant=attempt.tenant,
        app=app,
        name=unique_name(tenant=attempt.tenant, app=app, name=attempt.name),
        credentials=secret_seal(payload=credentials, purpose=CREDENTIALS_PURPOSE),
        config=attempt.config,
        scopes=scopes,
        account_label=account_label,
        authorized_at=now,
        expires_at=_expires_datetime(mode_for(app).expires_at(credentials)),
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
    return connection


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


@sensitive_variables("previous", "credentials")
def _reauthorize(connection, *, attempt, credentials, account_label, scopes, actor, now, duration_ms=0, previous_account=None):
    """Replace the connection's credentials; return (config, credentials) of the superseded grant to revoke, or None.

    A global copy holding the same Secret keeps exactly what was reviewed: the source gets a new
    Secret and the old grant stays alive for the copy. Where the app keeps one grant per user
    and client, the grant cannot be split: the Secret is replaced and the copy goes back to review.
    """
    app = attempt.app
    mode = mode_for(app)
    previous = secret_open(secret=connection.credentials, purpose=CREDENTIALS_PURPOSE) if connection.credentials_id else None
    previous_config = dict(connection.config or {})  # the old grant's URLs may use the old settings
    holders = []
    if connection.credentials_id:
        holders = list(
            GlobalConnection.objects.select_for_update()
            .filter(credentials_id=connection.credentials_id)
            .exclude(status=ConnectionStatus.REVOKED)
        )
    keep_reviewed = bool(holders) and not mode.single_grant(app)
    if keep_reviewed:
        connection.credentials = None  # _apply_credentials seals a new Secret for the source
    _apply_credentials(connection, app=app, credentials=credentials, account_label=account_label,
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
    if holders:
        publication_source_reauthorized(source=connection, holders=holders, kept_reviewed=keep_reviewed, actor=actor)
        return None
    if previous is None or not mode.revokes_released_grants(app):
        return None
    if any(previous.get(key) and previous.get(key) == credentials.get(key) for key in ("refresh_token", "access_token")):
        return None  # the app handed the same grant back: nothing was superseded
    return previous_config, previous


@sensitive_variables("released", "superseded", "previous")
def _after_release(attempt, *, released=None, superseded=None, actor=None) -> None:
    """After the commit, revoke at the app the grant an attempt let go of (item by item)."""
    app = attempt.app
    if released is not None and mode_for(app).revokes_released_grants(app):
        warning = _revoke_released(app, attempt.config, released)
        event_record(
            kind=EventKind.DISCARDED_GRANT_REVOKED, connection=attempt.connection, tenant=attempt.tenant, actor=actor,
            detail={"attempt": str(attempt.id), "ok": not warning,
                    **({"message": f"The unused grant could not be revoked at {app.name}: {warning}"} if warning else {})},
        )
    if superseded is not None:
        connection = attempt.connection
        previous_config, previous = superseded
        warning = _revoke_released(app, previous_config, previous)
        detail = {"attempt": str(attempt.id), "ok": not warning}
        if warning:
            attempt.grant_warning = (
                f"The previous grant could not be revoked at {app.name} ({warning}); it may still work there: "
                f"revoke it in {app.name}'s settings."
            )
            detail["message"] = attempt.grant_warning
        event_record(kind=EventKind.SUPERSEDED_GRANT_REVOKED, connection=connection, actor=actor, detail=detail)


def attempt_awaits_account_confirmation(attempt: Attempt) -> bool:
    """Return whether a re-authorization reported another account and waits for a confirmation."""
    return (
        attempt.status == Attempt.Status.PENDING
        and attempt.is_reauthorization
        and not attempt.unbound
        and bool(attempt.account_label)
        and not attempt.state_hash
        and attempt.pending_secret_id is not None
    )


def attempt_awaits_link_confirmation(attempt: Attempt, user=None) -> bool:
    """Return whether an attempt started without a browser session waits for (this user's) confirmation."""
    waiting = (
        attempt.status == Attempt.Status.PENDING
        and attempt.unbound
        and attempt.callback_user_id is not None
        and not attempt.state_hash
        and attempt.pending_secret_id is not None
    )
    return waiting and (user is None or attempt.callback_user_id == user.pk)


@sensitive_variables("pending", "released")
def attempt_confirm_account(*, attempt: Attempt, actor) -> Attempt:
    """Accept the other account a re-authorization reported: replace the credentials in place."""
    released = superseded = None
    with transaction.atomic():
        attempt = Attempt.all_objects.select_for_update().select_related("app").get(pk=attempt.pk)
        if not attempt_awaits_account_confirmation(attempt):
            raise ValidationError("This re-authorization is not waiting for a confirmation.")
        if attempt.is_expired:
            _abandon(attempt)
            expired = True
        else:
            expired = False
            connection = Connection.all_objects.select_for_update().get(pk=attempt.connection_id)
            pending = secret_open(secret=attempt.pending_secret, purpose=ATTEMPT_PURPOSE)
            refusal = _reauthorization_refusal(attempt, connection)
            if refusal is not None:
                attempt = _attempt_fail(attempt, refusal)
                released = pending["credentials"]
            else:
                previous = connection.account_label
                connection.account_label = ""  # the confirmed account replaces the old one
                superseded = _reauthorize(connection, attempt=attempt, credentials=pending["credentials"],
                                          account_label=attempt.account_label, scopes=pending.get("scopes") or [],
                                          actor=actor, now=timezone.now(), previous_account=previous)
    if expired:
        raise ValidationError("This confirmation expired; re-authorize again.")
    _after_release(attempt, released=released, superseded=superseded, actor=actor)
    return attempt


@sensitive_variables("pending", "credentials", "released")
def attempt_confirm_link(*, attempt: Attempt, actor) -> Attempt:
    """Link the account of an attempt started without a browser session, as the member who landed.

    Re-checked now: the person must still be an operator or admin of the attempt's company (and
    may change the connection, for a re-authorization), and a re-authorization must not be stale.
    """
    released = superseded = None
    with transaction.atomic():
        attempt = Attempt.all_objects.select_for_update().select_related("app", "tenant").get(pk=attempt.pk)
        if not attempt_awaits_link_confirmation(attempt, actor):
            raise ValidationError("This link is not waiting for your confirmation.")
        pending = secret_open(secret=attempt.pending_secret, purpose=ATTEMPT_PURPOSE)
        credentials, scopes = pending["credentials"], pending.get("scopes") or []
        now = timezone.now()
        refusal = None
        if attempt.is_expired:
            refusal = ConnectionFailure(ErrorCode.AUTHORIZATION_REJECTED, "This confirmation expired; start again.")
        elif message := _unbound_refusal(actor, attempt):
            refusal = ConnectionFailure(ErrorCode.AUTHORIZATION_REJECTED, message)
        elif not attempt.is_reauthorization:
            _create_connection(attempt, credentials=credentials, scopes=scopes, account_label=attempt.account_label,
                               actor=actor, now=now)
        else:
            connection = Connection.all_objects.select_for_update().get(pk=attempt.connection_id)
            refusal = _reauthorization_refusal(attempt, connection)
            if refusal is None:
                previous = connection.account_label
                differs = bool(previous and attempt.account_label and previous != attempt.account_label)
                if differs:
                    connection.account_label = ""
                superseded = _reauthorize(connection, attempt=attempt, credentials=credentials,
                                          account_label=attempt.account_label, scopes=scopes, actor=actor, now=now,
                                          previous_account=previous if differs else None)
        if refusal is not None:
            attempt = _attempt_fail(attempt, refusal)
            released = credentials
    _after_release(attempt, released=released, superseded=superseded, actor=actor)
    return attempt


@sensitive_variables("released")
def attempt_cancel(*, attempt: Attempt, actor) -> Attempt:
    """Abandon a pending attempt (e.g. keep the old account); the grant it holds is revoked at the app."""
    released = None
    with transaction.atomic():
        attempt = Attempt.all_objects.select_for_update().select_related("app").get(pk=attempt.pk)
        if attempt.status != Attempt.Status.PENDING:
            return attempt
        if attempt_awaits_account_confirmation(attempt) or attempt_awaits_link_confirmation(attempt):
            try:
                released = secret_open(secret=attempt.pending_secret, purpose=ATTEMPT_PURPOSE).get("credentials")
            except VaultError:
                logger.warning("Attempt %s: its held credentials could not be opened to revoke them", attempt.id)
        _abandon(attempt)
        event_record(kind=EventKind.ATTEMPT_CANCELLED, connection=attempt.connection, tenant=attempt.tenant, actor=actor,
                     detail={"attempt": str(attempt.id)})
    _after_release(attempt, released=released, actor=actor)
    return attempt


@sensitive_variables("held")
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
            held = None
            if attempt_awaits_account_confirmation(attempt) or attempt_awaits_link_confirmation(attempt):
                try:
                    held = secret_open(secret=attempt.pending_secret, purpose=ATTEMPT_PURPOSE).get("credentials")
                except VaultError:
                    logger.warning("Attempt %s: its held credentials could not be opened to revoke them", attempt.id)
            _abandon(attempt)
            event_record(
                kind=EventKind.ATTEMPT_ABANDONED,
                connection=attempt.connection,
                tenant=attempt.tenant,
                detail={"attempt": str(attempt.id), "app": attempt.app.slug},
            )
            count += 1
        if held is not None:
            _after_release(attempt, released=held)
    return count


__all__ = [
    "attempt_start", "attempt_complete_callback", "attempt_finish", "attempt_confirm_account",
    "attempt_confirm_link", "attempt_cancel", "attempt_awaits_account_confirmation",
    "attempt_awaits_link_confirmation", "attempts_abandon_stale",
]
