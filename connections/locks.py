"""Short leases shared by every process: Redis when REDIS_URL is set, else the database.

A lease is a lock with a time to live, so a crashed holder never blocks others for long.
Leases guard work, never a database transaction: nothing here holds a row lock.

- Redis: `SET key token NX PX ttl`, released by a compare-and-delete script so a holder
  whose lease already expired cannot delete the next holder's lease.
- PostgreSQL without Redis: a session-level advisory lock (`pg_try_advisory_lock`) on the
  thread's own connection; it is released explicitly, or by PostgreSQL when the
  connection closes (a crashed process never keeps it).
- Other databases (SQLite in development): a row in Django's database cache
  (`cache.add` is an atomic insert), with the ttl as its expiry.

`semaphore(name, slots)` is built from `slots` leases named name:0 … name:slots-1.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import secrets
import struct
import threading
import time
from collections.abc import Iterator

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection as db_connection

KEY_PREFIX = "appconn:lease:"
POLL_SECONDS = 0.05

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


@functools.cache
def _redis_client(url: str):
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def redis_client():
    """Return the shared Redis client for settings.REDIS_URL, or None when it is empty."""
    url = getattr(settings, "REDIS_URL", "")
    return _redis_client(url) if url else None


class _RedisBackend:
    def __init__(self, client):
        self.client = client

    def try_acquire(self, key: str, token: str, ttl: float) -> bool:
        return bool(self.client.set(KEY_PREFIX + key, token, nx=True, px=max(1, int(ttl * 1000))))

    def release(self, key: str, token: str) -> None:
        self.client.eval(_RELEASE, 1, KEY_PREFIX + key, token)


def _advisory_id(key: str) -> int:
    return struct.unpack(">q", hashlib.sha256((KEY_PREFIX + key).encode()).digest()[:8])[0]


class _PostgresBackend:
    """Advisory locks are re-entrant per connection, so the thread keeps its own count."""

    _held = threading.local()

    def _counts(self) -> dict:
        if not hasattr(self._held, "counts"):
            self._held.counts = {}
        return self._held.counts

    def try_acquire(self, key: str, token: str, ttl: float) -> bool:
        counts = self._counts()
        if counts.get(key):
            return False  # held by this thread already: behave like another holder
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_advisory_id(key)])
            acquired = bool(cursor.fetchone()[0])
        if acquired:
            counts[key] = 1
        return acquired

    def release(self, key: str, token: str) -> None:
        if self._counts().pop(key, None):
            with db_connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_advisory_id(key)])


class _CacheBackend:
    def try_acquire(self, key: str, token: str, ttl: float) -> bool:
        return cache.add(KEY_PREFIX + key, token, timeout=max(1, int(ttl)))

    def release(self, key: str, token: str) -> None:
        if cache.get(KEY_PREFIX + key) == token:
            cache.delete(KEY_PREFIX + key)


def backend():
    """Return the lease backend for the current settings."""
    client = redis_client()
    if client is not None:
        return _RedisBackend(client)
    if db_connection.vendor == "postgresql":
        return _PostgresBackend()
    return _CacheBackend()


@contextlib.contextmanager
def lease(key: str, *, ttl: float = 30.0, wait: float = 0.0) -> Iterator[bool]:
    """Hold the lease `key` for at most ttl seconds, waiting up to wait seconds; yield acquired."""
    store = backend()
    token = secrets.token_hex(16)
    deadline = time.monotonic() + wait
    acquired = store.try_acquire(key, token, ttl)
    while not acquired and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        acquired = store.try_acquire(key, token, ttl)
    try:
        yield acquired
    finally:
        if acquired:
            store.release(key, token)


@contextlib.contextmanager
def semaphore(name: str, *, slots: int, ttl: float = 60.0, wait: float = 0.0) -> Iterator[bool]:
    """Hold one of `slots` leases named name:i, waiting up to wait seconds; yield acquired."""
    store = backend()
    token = secrets.token_hex(16)
    deadline = time.monotonic() + wait
    start = secrets.randbelow(max(slots, 1))  # spread holders over the slots
    held = None
    while True:
        for offset in range(max(slots, 1)):
            key = f"{name}:{(start + offset) % slots}"
            if store.try_acquire(key, token, ttl):
                held = key
                break
        if held is not None or time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    try:
        yield held is not None
    finally:
        if held is not None:
            store.release(held, token)


def mark_once(key: str, *, ttl: float) -> bool:
    """Return True the first time key is marked within ttl seconds (a lease never released)."""
    store = backend()
    if isinstance(store, _PostgresBackend):
        store = _CacheBackend()  # an advisory lock cannot outlive its holder's call
    return store.try_acquire(key, secrets.token_hex(8), ttl)
