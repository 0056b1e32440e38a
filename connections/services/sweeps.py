"""What beat's jobs and the management commands work through, one connection at a time.

`due_for_refresh` and `due_for_check` select the rows a sweep enqueues (by the same rules the
per-connection work applies, so a row that is not due is never queued); `refresh_one` and
`check_one` are what each enqueued task runs: idempotent, re-reading the row, re-checking
whether the work is still due under their own leases.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import locks
from ..auth import expiring_modes
from ..errors import ConnectionUnusable
from ..models import Connection, ConnectionStatus, GlobalConnection, HealthCheck
from .health import check_loaded, refresh_recorded
from .refresh import RELATED

KINDS = {"connection": Connection, "global": GlobalConnection}


class ChecksFull(Exception):
    """Every check slot of this app is taken (settings.CHECKS_PER_APP); try again later."""


def kind_of(connection) -> str:
    """Return "global" or "connection": how tasks name a connection's table."""
    return "global" if isinstance(connection, GlobalConnection) else "connection"


def connection_by_ref(kind: str, pk) -> Connection | GlobalConnection | None:
    """Return the connection named by a task's (kind, pk), or None when it is gone."""
    return KINDS[kind].all_objects.select_related(*RELATED).filter(pk=pk).first()


def _live(model):
    qs = model.all_objects.filter(credentials__isnull=False).exclude(status=ConnectionStatus.REVOKED)
    if model is GlobalConnection:
        qs = qs.filter(unpublished_at__isnull=True)
    return qs


def due_for_refresh(*, now=None):
    """Yield (kind, pk) of connections, tenant and global, whose access token is due now.

    Due by refresh.refresh_due's rule: expiring within REFRESH_WINDOW, the window capped at
    half the token's lifetime (issued at the last refresh, else the authorization).
    """
    now = now or timezone.now()
    at = Value(now, output_field=DateTimeField())
    cutoff = now + dt.timedelta(seconds=settings.REFRESH_WINDOW)
    for kind, model in KINDS.items():
        qs = (
            _live(model)
            .filter(
                app__auth_mode__in=expiring_modes(),
                status__in=[ConnectionStatus.ACTIVE, ConnectionStatus.ERROR],
                expires_at__lte=cutoff,
            )
            .annotate(
                issued=Coalesce("last_refreshed_at", "authorized_at"),
                remaining=ExpressionWrapper(F("expires_at") - at, output_field=DurationField()),
                since_issued=ExpressionWrapper(at - F("issued"), output_field=DurationField()),
            )
            # remaining <= lifetime / 2  ⇔  remaining <= time since issued
            .filter(Q(issued__isnull=True) | Q(expires_at__lte=now) | Q(remaining__lte=F("since_issued")))
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


def refresh_one(kind: str, pk, *, window: float | None = None) -> str:
    """Refresh one connection when due; return "refreshed", "fresh" or "gone" (or raise)."""
    connection = connection_by_ref(kind, pk)
    if connection is None:
        return "gone"
    window = settings.REFRESH_WINDOW if window is None else window
    try:
        result = refresh_recorded(connection, window=window, loaded=True)
    except ConnectionUnusable:
        return "gone"
    return "refreshed" if result.called else "fresh"


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
                return check_loaded(connection)
            except ConnectionUnusable:
                return "gone"
