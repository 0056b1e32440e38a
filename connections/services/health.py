"""Keep connections healthy: single-flight token refresh, checks, and the status they move.

Works the same for a tenant's Connection and a GlobalConnection. A global copy and its source
share one credentials Secret (one grant at the provider), so refreshes are keyed by the
Secret id and a refresh writes expires_at/last_refreshed_at/version on every row sharing it.

Refresh, single-flight across processes:
1. read the row; not due → return its credentials;
2. take the lease "refresh:<secret id>" (Redis, or the database; connections/locks.py),
   waiting while another process holds it — never a row lock across the HTTP call;
3. re-read: the version moved or the token is no longer due → another caller refreshed,
   return the stored credentials without calling the token endpoint;
4. call the token endpoint once; save the new tokens (the old refresh token when the answer
   has none) and bump the version of every row sharing the Secret, in one transaction,
   compare-and-swap on the version read in step 3;
5. invalid_grant while the stored refresh token changed meanwhile is a lost race: return the
   stored credentials. Otherwise invalid_grant/invalid_client expire the connection;
   5xx/429/timeouts count a failure (the caller retries) and after FAILURE_THRESHOLD the
   connection is `error`, until a later success brings it back to `active`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from vault.services import secret_open, secret_replace

from .. import locks
from ..auth import expiring_modes, mode_for
from ..errors import ConnectionFailure
from ..models import (
    CREDENTIALS_PURPOSE,
    Connection,
    ConnectionStatus,
    ErrorCode,
    GlobalConnection,
    HealthCheck,
)
from .events import event_record

logger = logging.getLogger(__name__)

ALERT_STATUSES = (ConnectionStatus.EXPIRED, ConnectionStatus.ERROR)


class ConnectionUnusable(Exception):
    """The connection cannot be used, checked or refreshed (revoked, unpublished, no secret)."""


class RefreshBusy(ConnectionFailure):
    """Another process held the refresh lease for too long; retry later (not the app's fault)."""

    def __init__(self):
        super().__init__(
            ErrorCode.APP_UNAVAILABLE,
            "Another refresh of this connection is taking too long; try again shortly.",
            retry_after=int(lease_ttl()),
        )


def rows(model):
    """Return the unscoped manager of a connection model (system code only)."""
    return model.all_objects if hasattr(model, "all_objects") else model.objects


def lease_ttl() -> float:
    """Return how long a refresh lease lives: longer than the token request can take."""
    return 2 * float(settings.HTTP_TIMEOUT) + 10


# Read with the row: its app, its Secret, and the app's OAuth client with its secret (refresh).
RELATED = ("app", "credentials", "app__oauth_client", "app__oauth_client__client_secret")


def _reload(connection):
    return rows(type(connection)).select_related(*RELATED).get(pk=connection.pk)


def _ensure_usable(connection) -> None:
    if connection.status == ConnectionStatus.REVOKED or connection.revoked_at is not None:
        raise ConnectionUnusable("This connection is revoked.")
    if getattr(connection, "unpublished_at", None) is not None:
        raise ConnectionUnusable("This global connection is no longer published.")
    if connection.credentials_id is None:
        raise ConnectionUnusable("This connection has no stored credentials.")


def _open(connection) -> dict:
    return secret_open(secret=connection.credentials, purpose=CREDENTIALS_PURPOSE)


def token_expires_at(connection, credentials: dict) -> dt.datetime | None:
    """Return when the access token expires (from the credentials, else the row)."""
    value = credentials.get("expires_at")
    if value:
        return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
    return connection.expires_at


def refresh_due(connection, credentials: dict, *, window: float | None = None, now=None) -> bool:
    """Return whether the access token should be refreshed now.

    Due means: expiring within window (default REFRESH_WINDOW), capped at half the token's
    lifetime, so a token living less than the window (60 s tokens, window 10 min) is not
    refreshed again by every caller, every check and every duplicate task right after a refresh.
    """
    if not mode_for(connection.app).can_refresh(connection.app, credentials):
        return False
    expires_at = token_expires_at(connection, credentials)
    if expires_at is None:
        return False
    now = now or timezone.now()
    window = float(settings.REFRESH_WINDOW if window is None else window)
    issued_at = connection.last_refreshed_at or connection.authorized_at
    if issued_at is not None:
        window = min(window, max((expires_at - issued_at).total_seconds() / 2, 0.0))
    return (expires_at - now).total_seconds() <= window


@dataclass
class _Refreshed:
    credentials: dict
    called: bool  # whether this caller made the token request


def _refresh(connection, *, force: bool, window: float | None, loaded: bool = False) -> _Refreshed:
    """Refresh single-flight without recording an outcome; raise ConnectionFailure.

    loaded: the caller has just read the row (with app and credentials); skip reading it again.
    """
    if not loaded:
        connection = _reload(connection)
    _ensure_usable(connection)
    credentials = _open(connection)
    mode = mode_for(connection.app)
    if not mode.expiring:
        return _Refreshed(credentials, False)
    if not mode.can_refresh(connection.app, credentials):
        if force or refresh_due(connection, credentials, window=0):
            raise ConnectionFailure(
                ErrorCode.CONNECTION_EXPIRED,
                "The app gave no refresh token, so the access cannot be renewed: re-authorize.",
            )
        return _Refreshed(credentials, False)
    if not force and not refresh_due(connection, credentials, window=window):
        return _Refreshed(credentials, False)

    seen_version = connection.version
    wait = float(settings.HTTP_TIMEOUT) + 5
    key = f"refresh:{connection.credentials_id}"
    with locks.lease(key, ttl=lease_ttl(), wait=wait) as acquired:
        connection = _reload(connection)
        _ensure_usable(connection)
        credentials = _open(connection)
        if connection.version != seen_version or (
            not force and not refresh_due(connection, credentials, window=window)
        ):
            return _Refreshed(credentials, False)
        if not acquired:
            raise RefreshBusy()
        return _Refreshed(_refresh_holding_lease(connection, credentials), True)


def _refresh_holding_lease(connection, credentials: dict) -> dict:
    try:
        answer = mode_for(connection.app).refresh(connection.app, connection.config, credentials)
    except ConnectionFailure as failure:
        if failure.code == ErrorCode.CONNECTION_EXPIRED:
            stored = _open(_reload(connection))
            if stored.get("refresh_token") != credentials.get("refresh_token"):
                logger.info("Refresh of %s lost a race; using the stored token.", connection.pk)
                return stored
        raise
    new = {**credentials, **{k: v for k, v in answer.items() if v is not None}}
    if not answer.get("refresh_token"):
        new["refresh_token"] = credentials["refresh_token"]
    return _save_credentials(connection, new) or _open(_reload(connection))


def _save_credentials(connection, new: dict) -> dict | None:
    """Store refreshed credentials on every row sharing the Secret; None when the CAS lost."""
    now = timezone.now()
    expires_at = None
    if new.get("expires_at"):
        expires_at = dt.datetime.fromtimestamp(float(new["expires_at"]), tz=dt.UTC)
    values = {
        "expires_at": expires_at, "last_refreshed_at": now, "version": F("version") + 1, "updated_at": now,
    }
    model = type(connection)
    with transaction.atomic():
        if not rows(model).filter(pk=connection.pk, version=connection.version).update(**values):
            return None  # re-authorized meanwhile: its credentials win
        secret_replace(secret=connection.credentials, payload=new)
        # Only a global copy shares a tenant connection's Secret (publication); a global
        # copy's Secret is shared with its source and any other copy.
        for other in (GlobalConnection,) if model is Connection else (Connection, GlobalConnection):
            sharing = rows(other).filter(credentials_id=connection.credentials_id)
            if other is model:
                sharing = sharing.exclude(pk=connection.pk)
            sharing.update(**values)
    connection.version += 1
    connection.expires_at = expires_at
    connection.last_refreshed_at = now
    return new


def _failure_status(row, failure: ConnectionFailure, failures: int) -> str:
    if failure.code == ErrorCode.CONNECTION_EXPIRED:
        return ConnectionStatus.EXPIRED
    if row.status == ConnectionStatus.EXPIRED:
        return ConnectionStatus.EXPIRED  # only a re-authorization or a success leaves it
    if failures >= settings.FAILURE_THRESHOLD:
        return ConnectionStatus.ERROR
    return row.status


def _owner_kwargs(row) -> dict:
    if isinstance(row, GlobalConnection):
        return {"global_connection": row}
    return {"connection": row}


def _prune_history(row) -> None:
    keep = max(int(settings.HEALTH_HISTORY), 1)
    older = HealthCheck.objects.filter(**_owner_kwargs(row)).order_by("-created_at", "-id")
    # One statement: DELETE … WHERE id IN (SELECT … OFFSET keep).
    HealthCheck.objects.filter(id__in=older.values("id")[keep : keep + 1000]).delete()


def _record_healthy_success(connection, *, kind, account_label, now) -> bool:
    """Record a success on a row already active without failures, lock-free; say whether it was."""
    values = {"updated_at": now}
    if kind == HealthCheck.Kind.CHECK:
        values["last_checked_at"] = now
        connection.last_checked_at = now
    if account_label:
        values["account_label"] = account_label[:255]
    healthy = rows(type(connection)).filter(
        pk=connection.pk, status=ConnectionStatus.ACTIVE, consecutive_failures=0, last_error_code=""
    )
    if not healthy.update(**values):
        return False
    connection.status, connection.consecutive_failures = ConnectionStatus.ACTIVE, 0
    if account_label:
        connection.account_label = account_label[:255]
    return True


def _move_status(row, *, kind, failure, account_label, now) -> None:
    """Apply a result to a locked row per the design's status table, and save it."""
    fields = ["consecutive_failures", "last_error_code", "last_error_message", "status", "updated_at"]
    if kind == HealthCheck.Kind.CHECK:
        row.last_checked_at = now
        fields.append("last_checked_at")
    if row.status == ConnectionStatus.REVOKED:
        fields = fields[-1:]  # revoked meanwhile: record the result, move nothing
    elif failure is None:
        row.status = ConnectionStatus.ACTIVE
        row.consecutive_failures = 0
        row.last_error_code = ""
        row.last_error_message = ""
        if account_label:
            row.account_label = account_label[:255]
            fields.append("account_label")
    else:
        row.consecutive_failures += 1
        row.status = _failure_status(row, failure, row.consecutive_failures)
        row.last_error_code = failure.code
        row.last_error_message = failure.message
    row.save(update_fields=fields)


def record_outcome(
    connection,
    *,
    kind: str,
    failure: ConnectionFailure | None = None,
    account_label: str | None = None,
    duration_ms: int = 0,
    actor=None,
) -> HealthCheck:
    """Record a check/refresh result and move the status per the design's table, atomically."""
    from .alerts import status_changed

    model = type(connection)
    now = timezone.now()
    with transaction.atomic():
        healthy = failure is None and _record_healthy_success(
            connection, kind=kind, account_label=account_label, now=now
        )
        if healthy:  # active, and still active: no transition, no row lock
            row, old_status = connection, ConnectionStatus.ACTIVE
        else:
            row = rows(model).select_for_update().select_related("app").get(pk=connection.pk)
            old_status = row.status
            _move_status(row, kind=kind, failure=failure, account_label=account_label, now=now)
        check = HealthCheck.objects.create(
            kind=kind,
            ok=failure is None,
            error_code=failure.code if failure else "",
            message=failure.message if failure else "",
            http_status=failure.http_status if failure else None,
            duration_ms=duration_ms,
            created_at=now,
            **_owner_kwargs(row),
        )
        check.retry_after = failure.retry_after if failure else None  # for the task's backoff
        _prune_history(row)
        owner = _owner_kwargs(row)
        if kind == HealthCheck.Kind.CHECK:
            detail = {"ok": failure is None, "duration_ms": duration_ms}
            if failure is not None:
                detail.update(
                    {"code": failure.code.value, "message": failure.message, "http_status": failure.http_status}
                )
            event_record(kind="checked", actor=actor, detail=detail, **owner)
        if row.status != old_status:
            event_record(
                kind="status_changed",
                actor=actor,
                detail={
                    "from": old_status,
                    "to": row.status,
                    "code": row.last_error_code,
                    "message": row.last_error_message,
                    "via": kind,
                },
                **owner,
            )
            status_changed(connection=row, old_status=old_status, new_status=row.status)
    connection.status = row.status
    connection.consecutive_failures = row.consecutive_failures
    return check


def connection_refresh(*, connection, force: bool = False, window: float | None = None) -> dict:
    """Return fresh credentials, refreshing single-flight when due (always when force).

    Records the outcome of a token request made by this caller: success brings the connection
    back to active, failures count and move the status. Raises ConnectionFailure.
    """
    started = time.monotonic()
    try:
        result = _refresh(connection, force=force, window=window)
    except RefreshBusy:
        raise
    except ConnectionFailure as failure:
        record_outcome(
            connection, kind=HealthCheck.Kind.REFRESH, failure=failure,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        raise
    if result.called:
        record_outcome(
            connection, kind=HealthCheck.Kind.REFRESH,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    return result.credentials


def credentials_get(*, connection) -> dict:
    """Return the connection's credentials, refreshed first when due."""
    return connection_refresh(connection=connection)


def connection_check(*, connection, actor=None) -> HealthCheck:
    """Check the stored credentials now (refreshing first when due); record, return the result."""
    return _check(_reload(connection), actor=actor)


def _check(connection, *, actor=None) -> HealthCheck:
    """Check a connection just read with its app and credentials."""
    from ..probe import run_test

    _ensure_usable(connection)
    started = time.monotonic()
    label = None
    failure = None
    refreshed = False
    try:
        result = _refresh(connection, force=False, window=None, loaded=True)
        credentials, refreshed = result.credentials, result.called
        try:
            label = run_test(connection.app, connection.config, credentials, existing=True)
        except ConnectionFailure as first:
            if first.http_status != 401:
                raise
            can_refresh = mode_for(connection.app).can_refresh(connection.app, credentials)
            if refreshed or not can_refresh:
                raise
            # A 401 with a token we did not just refresh: refresh once, then the 401 is final.
            credentials = _refresh(connection, force=True, window=None).credentials
            refreshed = True
            label = run_test(connection.app, connection.config, credentials, existing=True)
    except ConnectionFailure as exc:
        failure = exc
        if exc.http_status == 401:
            failure = ConnectionFailure(
                ErrorCode.CONNECTION_EXPIRED,
                f"{connection.app.name} rejected the stored credentials (HTTP 401)"
                + (" right after a token refresh." if refreshed else "."),
                http_status=401,
            )
    return record_outcome(
        connection,
        kind=HealthCheck.Kind.CHECK,
        failure=failure,
        account_label=label if isinstance(label, str) else None,
        duration_ms=int((time.monotonic() - started) * 1000),
        actor=actor,
    )


# Sweeps: what beat's jobs and the management commands work through, one connection at a time.

KINDS = {"connection": Connection, "global": GlobalConnection}


def kind_of(connection) -> str:
    """Return "global" or "connection": how tasks name a connection's table."""
    return "global" if isinstance(connection, GlobalConnection) else "connection"


def connection_by_ref(kind: str, pk) -> Connection | GlobalConnection | None:
    """Return the connection named by a task's (kind, pk), or None when it is gone."""
    return rows(KINDS[kind]).select_related(*RELATED).filter(pk=pk).first()


def _live(model):
    qs = rows(model).filter(credentials__isnull=False).exclude(status=ConnectionStatus.REVOKED)
    if model is GlobalConnection:
        qs = qs.filter(unpublished_at__isnull=True)
    return qs


def due_for_refresh(*, now=None):
    """Yield (kind, pk) of OAuth2 connections, tenant and global, expiring within the window."""
    cutoff = (now or timezone.now()) + dt.timedelta(seconds=settings.REFRESH_WINDOW)
    for kind, model in KINDS.items():
        qs = _live(model).filter(
            app__auth_mode__in=expiring_modes(),
            status__in=[ConnectionStatus.ACTIVE, ConnectionStatus.ERROR],
            expires_at__lte=cutoff,
        )
        for pk in qs.order_by("expires_at").values_list("pk", flat=True).iterator(chunk_size=500):
            yield kind, str(pk)


def check_is_due(connection, *, now=None) -> bool:
    """Return whether a connection's last check is older than CHECK_INTERVAL."""
    if connection.last_checked_at is None:
        return True
    now = now or timezone.now()
    return connection.last_checked_at <= now - dt.timedelta(seconds=settings.CHECK_INTERVAL)


def due_for_check(*, everything: bool = False, now=None):
    """Yield (kind, pk) of connections whose last check is older than CHECK_INTERVAL (or all live)."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=settings.CHECK_INTERVAL)
    for kind, model in KINDS.items():
        qs = _live(model)
        if not everything:
            qs = qs.filter(status__in=[ConnectionStatus.ACTIVE, ConnectionStatus.ERROR]).filter(
                Q(last_checked_at__isnull=True) | Q(last_checked_at__lte=cutoff)
            )
        ids = qs.order_by("last_checked_at").values_list("pk", flat=True)
        for pk in ids.iterator(chunk_size=500):
            yield kind, str(pk)


class ChecksFull(Exception):
    """Every check slot of this app is taken (settings.CHECKS_PER_APP); try again later."""


def refresh_one(kind: str, pk, *, window: float | None = None) -> str:
    """Refresh one connection when due; return "refreshed", "fresh" or "gone" (or raise)."""
    connection = connection_by_ref(kind, pk)
    if connection is None:
        return "gone"
    window = settings.REFRESH_WINDOW if window is None else window
    started = time.monotonic()
    try:
        result = _refresh(connection, force=False, window=window, loaded=True)
    except ConnectionUnusable:
        return "gone"
    except RefreshBusy:
        raise
    except ConnectionFailure as failure:
        record_outcome(
            connection, kind=HealthCheck.Kind.REFRESH, failure=failure,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        raise
    if not result.called:
        return "fresh"
    duration_ms = int((time.monotonic() - started) * 1000)
    record_outcome(connection, kind=HealthCheck.Kind.REFRESH, duration_ms=duration_ms)
    return "refreshed"


def check_one(kind: str, pk, *, force: bool = False, slot_wait: float = 1.0) -> HealthCheck | str:
    """Check one connection when due, holding one of its app's check slots.

    Return the HealthCheck, or "fresh"/"busy"/"gone" when nothing was done; raise ChecksFull
    when every slot of the app stays taken for slot_wait seconds.
    """
    hold = float(settings.HTTP_TIMEOUT) * 3 + 30  # a refresh, a test and a retried test
    with locks.lease(f"check:{pk}", ttl=hold) as mine:
        if not mine:
            return "busy"  # another worker or command is checking it right now
        connection = connection_by_ref(kind, pk)  # read under the lease: a check just done shows
        if connection is None or not connection.is_live:
            return "gone"
        if not force and not check_is_due(connection):
            return "fresh"
        slots = max(int(settings.CHECKS_PER_APP), 1)
        app_slots = f"checks:app:{connection.app_id}"
        with locks.semaphore(app_slots, slots=slots, ttl=hold, wait=slot_wait) as slot:
            if not slot:
                raise ChecksFull(f"{slots} checks of this app are running.")
            try:
                return _check(connection)
            except ConnectionUnusable:
                return "gone"
