"""The health of a connection: checks, the outcome of every test/check/refresh, and its status.

`connection_status_set` is the only writer of `status`, `consecutive_failures` and
`last_error_*` for Connection and GlobalConnection (attempts, revocation and publication call
it too). A change of status records one `status_changed` Event and sends
`connection_status_changed` (connections/signals.py) inside the caller's transaction, with the
row locked, so each transition is told exactly once; alerts and webhooks are its receivers
(connections/receivers.py).

Status moves per DESIGN.md "Connection status": a success makes a connection active;
connection_expired (invalid_grant, 401 after a refresh) makes it expired, which only a
re-authorization or a success leaves; transient failures (5xx, timeouts, 429) count, and after
FAILURE_THRESHOLD the connection is `error` until a later success; revoked is terminal.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..auth import mode_for
from ..errors import ConnectionFailure
from ..models import ConnectionStatus, ErrorCode, EventKind, HealthCheck
from ..probe import run_test
from ..signals import connection_status_changed
from .events import event_record
from .refresh import RefreshBusy, ensure_usable, refresh_single_flight, reload

STATUS_FIELDS = ("status", "consecutive_failures", "last_error_code", "last_error_message", "updated_at")


def connection_status_set(
    row,
    *,
    status: str,
    via: str,
    actor=None,
    failure: ConnectionFailure | None = None,
    failures: int | None = None,
    fields=None,
) -> bool:
    """Write a locked row's status and failure counters, save it, tell about a change.

    `failures` None keeps the counter. `failure` sets the last error; without one, a row that
    becomes (or stays) active has its last error cleared and any other keeps it. `fields` are
    the other fields the caller set on the row, saved in the same UPDATE (None: every field).
    Return whether the status changed. Call inside a transaction, with the row locked.
    """
    old_status = row.status
    row.status = status
    if failures is not None:
        row.consecutive_failures = failures
    if failure is not None:
        row.last_error_code = failure.code
        row.last_error_message = failure.message
    elif status == ConnectionStatus.ACTIVE:
        row.last_error_code = ""
        row.last_error_message = ""
    if fields is None:
        row.save()
    else:
        row.save(update_fields=list(dict.fromkeys([*STATUS_FIELDS, *fields])))
    if status == old_status:
        return False
    event = event_record(
        kind=EventKind.STATUS_CHANGED,
        actor=actor,
        detail={
            "from": old_status,
            "to": status,
            "code": row.last_error_code,
            "message": row.last_error_message,
            "via": via,
        },
        **row.as_owner(),
    )
    connection_status_changed.send(
        sender=type(row), connection=row, old_status=old_status, new_status=status, event=event
    )
    return True


def _failure_status(row, failure: ConnectionFailure, failures: int) -> str:
    if failure.code == ErrorCode.CONNECTION_EXPIRED:
        return ConnectionStatus.EXPIRED
    if row.status == ConnectionStatus.EXPIRED:
        return ConnectionStatus.EXPIRED  # only a re-authorization or a success leaves it
    if failures >= settings.FAILURE_THRESHOLD:
        return ConnectionStatus.ERROR
    return row.status


def _prune_history(row) -> None:
    keep = max(int(settings.HEALTH_HISTORY), 1)
    older = HealthCheck.objects.filter(**row.as_owner()).order_by("-created_at", "-id")
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
    healthy = type(connection).all_objects.filter(
        pk=connection.pk, status=ConnectionStatus.ACTIVE, consecutive_failures=0, last_error_code=""
    )
    if not healthy.update(**values):
        return False
    connection.status, connection.consecutive_failures = ConnectionStatus.ACTIVE, 0
    if account_label:
        connection.account_label = account_label[:255]
    return True


def _apply_outcome(row, *, kind, failure, account_label, now, actor) -> None:
    """Apply a result to a locked row per the status table, and save it."""
    fields = []
    if kind == HealthCheck.Kind.CHECK:
        row.last_checked_at = now
        fields.append("last_checked_at")
    if row.status == ConnectionStatus.REVOKED:
        row.save(update_fields=[*fields, "updated_at"])  # revoked meanwhile: move nothing
        return
    if failure is None:
        if account_label:
            row.account_label = account_label[:255]
            fields.append("account_label")
        connection_status_set(
            row, status=ConnectionStatus.ACTIVE, via=kind, actor=actor, failures=0, fields=fields
        )
        return
    failures = row.consecutive_failures + 1
    connection_status_set(
        row,
        status=_failure_status(row, failure, failures),
        via=kind,
        actor=actor,
        failure=failure,
        failures=failures,
        fields=fields,
    )


def record_outcome(
    connection,
    *,
    kind: str,
    failure: ConnectionFailure | None = None,
    account_label: str | None = None,
    duration_ms: int = 0,
    actor=None,
) -> HealthCheck:
    """Record a check/refresh result and move the status per the status table, atomically."""
    model = type(connection)
    now = timezone.now()
    with transaction.atomic():
        healthy = failure is None and _record_healthy_success(
            connection, kind=kind, account_label=account_label, now=now
        )
        if healthy:  # active, and still active: no transition, no row lock
            row = connection
        else:
            row = model.all_objects.select_for_update().select_related("app").get(pk=connection.pk)
        check = HealthCheck.objects.create(
            kind=kind,
            ok=failure is None,
            error_code=failure.code if failure else "",
            message=failure.message if failure else "",
            http_status=failure.http_status if failure else None,
            duration_ms=duration_ms,
            created_at=now,
            **row.as_owner(),
        )
        check.retry_after = failure.retry_after if failure else None  # for the task's backoff
        _prune_history(row)
        if kind == HealthCheck.Kind.CHECK:
            detail = {"ok": failure is None, "duration_ms": duration_ms}
            if failure is not None:
                detail.update(
                    {
                        "code": failure.code.value,
                        "message": failure.message,
                        "http_status": failure.http_status,
                    }
                )
            event_record(kind=EventKind.CHECKED, actor=actor, detail=detail, **row.as_owner())
        if not healthy:  # the timeline reads "checked", then "status changed"
            _apply_outcome(
                row, kind=kind, failure=failure, account_label=account_label, now=now, actor=actor
            )
    connection.status = row.status
    connection.consecutive_failures = row.consecutive_failures
    return check


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def refresh_recorded(connection, *, force: bool = False, window: float | None = None, loaded=False):
    """Refresh single-flight and record the outcome of a token request this caller made.

    Return the Refreshed result; a failure is recorded (it counts and may move the status)
    and raised. RefreshBusy (another process is refreshing) is raised unrecorded.
    """
    started = time.monotonic()
    try:
        result = refresh_single_flight(connection, force=force, window=window, loaded=loaded)
    except RefreshBusy:
        raise
    except ConnectionFailure as failure:
        record_outcome(
            connection, kind=HealthCheck.Kind.REFRESH, failure=failure, duration_ms=_elapsed_ms(started)
        )
        raise
    if result.called:
        record_outcome(connection, kind=HealthCheck.Kind.REFRESH, duration_ms=_elapsed_ms(started))
    return result


def connection_refresh(*, connection, force: bool = False, window: float | None = None) -> dict:
    """Return fresh credentials, refreshing single-flight when due (always when force).

    Records the outcome of a token request made by this caller: success brings the connection
    back to active, failures count and move the status. Raises ConnectionFailure.
    """
    return refresh_recorded(connection, force=force, window=window).credentials


def credentials_get(*, connection) -> dict:
    """Return the connection's credentials, refreshed first when due."""
    return connection_refresh(connection=connection)


def connection_check(*, connection, actor=None) -> HealthCheck:
    """Check the stored credentials now (refreshing first when due); record, return the result."""
    return check_loaded(reload(connection), actor=actor)


def check_loaded(connection, *, actor=None) -> HealthCheck:
    """Check a connection just read with reload() (its app and credentials)."""
    ensure_usable(connection)
    started = time.monotonic()
    label = None
    failure = None
    refreshed = False
    try:
        result = refresh_single_flight(connection, force=False, window=None, loaded=True)
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
            credentials = refresh_single_flight(connection, force=True, window=None).credentials
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
        duration_ms=_elapsed_ms(started),
        actor=actor,
    )
