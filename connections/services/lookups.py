"""The API's two hot lookups (a token, a proxied connection), kept per process, dropped at once.

Every proxied call used to compile and run two ORM queries before sending anything: the API
token with its tenant, and the connection with its app, sealed credentials and OAuth client.
That was about half of the proxy's own CPU. Here each process keeps what those lookups found,
and every call reads one Redis key first: the *generation*, a random value. An entry is used
only when it was stored under the current generation. Whatever can change the answer of a
lookup sets a new generation (`changed()`):

- a save or delete of a token, connection, global connection, app, OAuth client registration,
  tenant OAuth client, tenant or vault secret, and a change of a token's restriction to some
  connections (receivers.py), except saves that write only the time of last use;
- the writes that go around signals with `QuerySet.update()`: a refresh's credentials
  (refresh.py) and credentials dropped at unpublication (publication.py). A status move is a
  save (health.connection_status_set), so the signal covers it.

So a token or connection revoked in one process is refused by the very next call in every
other: that call sees a new generation and reads the database. The changing process drops its
own entries at once and sets the new generation when its transaction commits. Entries also
expire after LOOKUP_TTL seconds; without Redis, or when it cannot be read, nothing is cached.
Entries are copies of the rows as read, never shared with the caller.
"""

from __future__ import annotations

import copy
import logging
import secrets
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

GENERATION_KEY = "lookups:generation"
LOOKUP_TTL = 30.0  # seconds: a bound for anything a missed generation change could leave
MAX_ENTRIES = 5000

_entries: dict = {}  # key -> (generation, monotonic expiry, value)
_lock = threading.Lock()
UNREAD = object()  # a caller that has not read the generation for this request yet


def generation() -> str | None:
    """Return the current generation, creating one when Redis has none; None when unreadable.

    None too without Redis: the database cache would cost the query saved.
    """
    if not _shared_cache():
        return None
    try:
        value = cache.get(GENERATION_KEY)
        if value is None:
            cache.add(GENERATION_KEY, secrets.token_hex(8), timeout=None)
            value = cache.get(GENERATION_KEY)
        return value
    except Exception:  # Redis unreachable: every lookup reads the database
        logger.warning("The lookup generation could not be read; lookups are not cached.")
        return None


def cached(key, load, *, current=UNREAD, share: bool = False):
    """Return load()'s value for key: from this process when stored under `current`, else fresh.

    `current`: the generation this request already read, else it is read here. The value (a
    model instance, or None when the row does not exist) is stored as loaded and handed out as
    a copy unless `share` (the caller then must not mutate it except as the cache's owner, see
    tokens.py). None is not stored: a row created later must be found.
    """
    if current is UNREAD:
        current = generation()
    if current is None:
        return load()
    now = time.monotonic()
    entry = _entries.get(key)
    if entry is not None and entry[0] == current and entry[1] > now:
        value = entry[2]
    else:
        value = load()
        if value is None:
            return None
        with _lock:
            if len(_entries) >= MAX_ENTRIES:
                _entries.clear()
            _entries[key] = (current, now + LOOKUP_TTL, value)
    if share:
        return value
    value = copy.copy(value)
    value._lookup_key = key
    return value


def note_use(instance, **fields) -> None:
    """Write last-use fields on the stored entry a copy came from (they decide when to touch)."""
    entry = _entries.get(getattr(instance, "_lookup_key", None))
    if entry is not None:
        for name, value in fields.items():
            setattr(entry[2], name, value)


def _shared_cache() -> bool:
    return "redis" in settings.CACHES["default"]["BACKEND"].lower()


def changed() -> None:
    """Drop this process's entries now, and every process's once the transaction commits.

    Outside a transaction both happen at once. The new generation waits for the commit: set
    earlier, another process could store the old rows under it.
    """
    clear()
    transaction.on_commit(_new_generation)


def _new_generation() -> None:
    clear()
    if not _shared_cache():
        return
    try:
        cache.set(GENERATION_KEY, secrets.token_hex(8), timeout=None)
    except Exception:
        logger.error("The lookup generation could not be changed; other processes may use old lookups.")


def clear() -> None:
    """Forget this process's entries (tests)."""
    with _lock:
        _entries.clear()
