"""Celery tasks: take ids, re-fetch, call one service, stay idempotent and bounded.

Beat's four jobs (settings.CELERY_BEAT_SCHEDULE) are sweeps that enqueue one small task per
connection; each sweep is also a management command that runs the same work once, in the
calling process. Several sweeps, commands and workers may run at once: a sweep lease lets
one sweep of a kind run at a time, an "enqueued" mark keeps a connection from being queued
again while its task waits, and the services re-check under their own leases (refresh:
single-flight per Secret; check: one per connection, CHECKS_PER_APP per app).

Reliability: the per-connection tasks are idempotent, so they are acks_late (a worker killed
mid-task leaves the message to be delivered again; reject_on_worker_lost in settings).
Sweeps are not acks_late: a lost sweep is simply the next minute's sweep. Retries are bounded,
exponential with jitter, and never shorter than the app's Retry-After.
"""

from __future__ import annotations

import functools
import logging
import random

import requests
from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import locks
from .errors import ConnectionFailure
from .models import ConnectionStatus, ErrorCode, HealthCheck, Tenant
from .services import attempts, rotation, sweeps, usage, webhooks

logger = logging.getLogger(__name__)

# Infrastructure hiccups (database, Redis) retried by Celery itself.
INFRA_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)
RETRY = {
    "autoretry_for": INFRA_ERRORS, "retry_backoff": 5, "retry_backoff_max": 600, "retry_jitter": True,
}
BACKOFF_BASE = 5.0
BACKOFF_CAP = 600.0  # well under the broker's visibility timeout


def backoff(retries: int, *, retry_after: float | None = None) -> float:
    """Return seconds before retry number retries+1: exponential, jittered, >= Retry-After."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2**retries)
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after:
        delay = max(delay, float(retry_after) + random.uniform(0, 1))
    return min(delay, max(BACKOFF_CAP, float(retry_after or 0)))


@shared_task(bind=True, acks_late=True, max_retries=5, **RETRY)
def refresh_connection(self, kind: str, pk: str) -> str:
    """Refresh one connection's access token when still due (single-flight)."""
    try:
        return sweeps.refresh_one(kind, pk)
    except ConnectionFailure as failure:
        if failure.code != ErrorCode.APP_UNAVAILABLE:
            return failure.code.value  # expired: recorded and alerted, nothing to retry
        countdown = backoff(self.request.retries, retry_after=failure.retry_after)
        raise self.retry(countdown=countdown) from None


@shared_task(bind=True, acks_late=True, max_retries=20, **RETRY)
def check_connection(self, kind: str, pk: str, force: bool = False) -> str:
    """Check one connection when due; retry when its app's slots are full or the app is down."""
    try:
        result = sweeps.check_one(kind, pk, force=force)
    except sweeps.ChecksFull:
        raise self.retry(countdown=random.uniform(2, 15)) from None
    if not isinstance(result, HealthCheck):
        return result
    owner = result.connection or result.global_connection
    transient = not result.ok and result.error_code == ErrorCode.APP_UNAVAILABLE
    confirming = owner.status != ConnectionStatus.ERROR and self.request.retries < settings.FAILURE_THRESHOLD
    if transient and confirming:
        # Confirm a transient failure soon rather than after a whole check interval.
        retry_after = getattr(result, "retry_after", None)
        raise self.retry(
            args=(kind, pk), kwargs={"force": True},
            countdown=backoff(self.request.retries, retry_after=retry_after),
        )
    return "ok" if result.ok else result.error_code


WEBHOOK_RETRY = {**RETRY, "autoretry_for": INFRA_ERRORS + (requests.RequestException,)}


@shared_task(bind=True, acks_late=True, max_retries=8, **WEBHOOK_RETRY)
def deliver_webhook(self, tenant_id: int, payload: dict) -> int:
    """POST one signed alert to the tenant's webhook; receivers dedupe on its webhook-id."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return 0
    return webhooks.webhook_deliver(tenant=tenant, payload=payload, retry=self.request.retries)


def _sweep(name: str, refs, task, *, mark_ttl: float, countdown=None, **task_kwargs) -> int:
    """Enqueue task(kind, pk) for each ref not enqueued within mark_ttl; return how many."""
    queued = 0
    with locks.lease(f"sweep:{name}", ttl=max(mark_ttl, 60)) as mine:
        if not mine:
            logger.info("Another %s sweep is running; skipping.", name)
            return 0
        for kind, pk in refs:
            if not locks.mark_once(f"queued:{name}:{pk}", ttl=mark_ttl):
                continue
            options = {"countdown": countdown()} if countdown else {}
            # After commit when called inside a transaction (at once otherwise): a task never
            # looks for a row its enqueuer has not committed yet.
            enqueue = functools.partial(
                task.apply_async, args=(kind, pk), kwargs=task_kwargs or None, **options
            )
            transaction.on_commit(enqueue)
            queued += 1
    logger.info("%s sweep enqueued %d.", name, queued)
    return queued


@shared_task(acks_late=False)
def refresh_due_tokens() -> int:
    """Enqueue one refresh per connection (tenant and global) whose access token is due."""
    mark_ttl = max(settings.REFRESH_SWEEP_EVERY - 5, settings.REFRESH_SWEEP_EVERY * 0.9)
    return _sweep("refresh", sweeps.due_for_refresh(), refresh_connection, mark_ttl=mark_ttl)


@shared_task(acks_late=False)
def check_connections() -> int:
    """Enqueue one check per connection due, spread over CHECK_SPREAD seconds."""
    spread = float(settings.CHECK_SPREAD)
    return _sweep(
        "check", sweeps.due_for_check(), check_connection,
        mark_ttl=spread + settings.CHECK_SWEEP_EVERY,
        countdown=(lambda: random.uniform(0, spread)) if spread > 0 else None,
    )


@shared_task(acks_late=False)
def rotation_reminders() -> int:
    """Flag connections due for credential rotation and tell their tenants' admins."""
    with locks.lease("sweep:rotation", ttl=3600) as mine:
        return rotation.rotation_reminders_send() if mine else 0


@shared_task(acks_late=False)
def prune_proxy_calls() -> int:
    """Delete the usage rows of proxied calls older than PROXY_CALL_RETENTION_DAYS."""
    with locks.lease("sweep:proxy-calls", ttl=3600) as mine:
        return usage.proxy_calls_prune() if mine else 0


@shared_task(acks_late=False)
def abandon_stale_attempts() -> int:
    """Mark pending attempts past their lifetime as abandoned."""
    with locks.lease("sweep:attempts", ttl=600) as mine:
        return attempts.attempts_abandon_stale() if mine else 0
