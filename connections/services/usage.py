"""Usage of connections by flows and boards: which consumer, how often, when last."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ..models import Connection, GlobalConnection, ProxyCall, Tenant, Usage

MAX_CONSUMER = 200


def consumer_name(value) -> str:
    """Return a consumer name fit for storage: one line, at most 200 characters."""
    name = " ".join(str(value or "").split())[:MAX_CONSUMER]
    return name or "unnamed"


def usage_record(
    *,
    tenant: Tenant,
    connection: Connection | GlobalConnection,
    consumer: str,
    touch_every: float = 0,
    fetch: bool = True,
    counted: bool = False,
) -> Usage | None:
    """Count one use of connection by consumer on behalf of tenant (the using tenant).

    touch_every: write the connection's last_used_at only when older than this many seconds
    (the proxy: one write a minute, not one per call). fetch: return the Usage row (one query).
    counted: the caller has already counted an existing Usage row (services/proxy.py).
    """
    if isinstance(connection, Connection) and connection.tenant_id != tenant.pk:
        raise ValueError("A tenant's connection can only be used by that tenant.")
    owner = connection.as_owner()
    consumer = consumer_name(consumer)
    now = timezone.now()

    def mine():  # built only when used: the proxy's counted calls need no queryset at all
        return Usage.objects.for_tenant(tenant).filter(consumer=consumer, **owner)

    if not counted and not mine().update(count=F("count") + 1, last_used_at=now):
        try:
            with transaction.atomic():
                Usage.all_objects.create(
                    tenant=tenant, consumer=consumer, count=1, first_used_at=now, last_used_at=now, **owner
                )
        except IntegrityError:  # a concurrent first use created it
            mine().update(count=F("count") + 1, last_used_at=now)
    last = connection.last_used_at
    if not touch_every or last is None or (now - last).total_seconds() > touch_every:
        type(connection).all_objects.filter(pk=connection.pk).update(last_used_at=now)
        connection.last_used_at = now
    return mine().get() if fetch else None


def proxy_calls_prune(*, now=None, batch: int = 5000) -> int:
    """Delete ProxyCall rows older than PROXY_CALL_RETENTION_DAYS, every tenant's; return how many.

    In batches of `batch` rows (by the created_at index), so a large backlog never holds one
    long transaction or loads its ids at once. The Usage counts stay: they are totals.
    """
    cutoff = (now or timezone.now()) - timedelta(days=int(settings.PROXY_CALL_RETENTION_DAYS))
    deleted = 0
    while True:
        ids = list(ProxyCall.all_objects.filter(created_at__lt=cutoff).order_by("created_at").values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += ProxyCall.all_objects.filter(pk__in=ids).delete()[0]
