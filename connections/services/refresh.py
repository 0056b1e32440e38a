"""Single-flight token refresh: one token request per grant, however many callers ask at once.

Works the same for a tenant's Connection and a GlobalConnection. A global copy and its source
share one credentials Secret (one grant at the provider), so refreshes are keyed by the
Secret id and a refresh writes expires_at/last_refreshed_at/version on every row sharing it.

1. read the row; not due → return its credentials;
2. take the lease "refresh:<secret id>" (Redis, or the database; connections/locks.py),
   waiting while another process holds it — never a row lock across the HTTP call;
3. re-read: the version moved or the token is no longer due → another caller refreshed,
   return the stored credentials without calling the token endpoint;
4. call the token endpoint once; save the new tokens (the old refresh token when the answer
   has none) and bump the version of every row sharing the Secret, in one transaction,
   compare-and-swap on the version read in step 3;
5. invalid_grant while the stored refresh token changed meanwhile is a lost race: return the
   stored credentials. Any other failure is raised for the caller to record
   (services/health.py records outcomes and moves the status; this module writes no status).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from vault.services import secret_open, secret_replace

from .. import locks
from ..auth import mode_for
from ..errors import ConnectionFailure, ConnectionUnusable
from ..models import CREDENTIALS_PURPOSE, Connection, ConnectionStatus, ErrorCode, GlobalConnection
from . import lookups

logger = logging.getLogger(__name__)

# Read with the row: its app, its Secret, and the app's OAuth client with its secret (refresh).
RELATED = ("app", "credentials", "app__oauth_client", "app__oauth_client__client_secret")


class RefreshBusy(ConnectionFailure):
    """Another process held the refresh lease for too long; retry later (not the app's fault)."""

    def __init__(self):
        super().__init__(
            ErrorCode.APP_UNAVAILABLE,
            "Another refresh of this connection is taking too long; try again shortly.",
            retry_after=int(lease_ttl()),
        )


@dataclass
class Refreshed:
    credentials: dict
    called: bool  # whether this caller made the token request


def lease_ttl() -> float:
    """Return how long a refresh lease lives: longer than the token request can take."""
    return 2 * float(settings.HTTP_TIMEOUT) + 10


def reload(connection):
    """Return the row read again with what a refresh or a check needs (RELATED)."""
    return type(connection).all_objects.select_related(*RELATED).get(pk=connection.pk)


def ensure_usable(connection) -> None:
    """Raise ConnectionUnusable for a revoked or unpublished row, or one without credentials."""
    if connection.status == ConnectionStatus.REVOKED or connection.revoked_at is not None:
        raise ConnectionUnusable("This connection is revoked.")
    if getattr(connection, "unpublished_at", None) is not None:
        raise ConnectionUnusable("This global connection is no longer published.")
    if connection.credentials_id is None:
        raise ConnectionUnusable("This connection has no stored credentials.")


def open_credentials(connection) -> dict:
    """Return the row's credentials from the vault."""
    return secret_open(secret=connection.credentials, purpose=CREDENTIALS_PURPOSE)


def token_expires_at(connection, credentials: dict) -> dt.datetime | None:
    """Return when the access token expires (from the credentials, else the row)."""
    value = credentials.get("expires_at")
    if value:
        return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
    return connection.expires_at


def effective_window(window: float, *, expires_at, issued_at) -> float:
    """Return the refresh window capped at half the token's lifetime (see refresh_due)."""
    if issued_at is None:
        return window
    return min(window, max((expires_at - issued_at).total_seconds() / 2, 0.0))


def refresh_due(connection, credentials: dict, *, window: float | None = None, now=None) -> bool:
    """Return whether the access token should be refreshed now.

    Due means: expiring within window (default REFRESH_WINDOW), capped at half the token's
    lifetime, so a token living less than the window (60 s tokens, window 10 min) is not
    refreshed again by every caller, every check and every duplicate task right after a refresh.
    The beat sweep selects with the same rule (services/sweeps.py, due_for_refresh).
    """
    if not mode_for(connection.app).can_refresh(connection.app, credentials):
        return False
    expires_at = token_expires_at(connection, credentials)
    if expires_at is None:
        return False
    now = now or timezone.now()
    window = float(settings.REFRESH_WINDOW if window is None else window)
    issued_at = connection.last_refreshed_at or connection.authorized_at
    window = effective_window(window, expires_at=expires_at, issued_at=issued_at)
    return (expires_at - now).total_seconds() <= window


def refresh_single_flight(
    connection, *, force: bool, window: float | None, loaded: bool = False
) -> Refreshed:
    """Refresh single-flight without recording an outcome; raise ConnectionFailure.

    loaded: the caller has just read the row (with RELATED); skip reading it again.
    """
    if not loaded:
        connection = reload(connection)
    ensure_usable(connection)
    credentials = open_credentials(connection)
    mode = mode_for(connection.app)
    if not mode.expiring:
        return Refreshed(credentials, False)
    if not mode.can_refresh(connection.app, credentials):
        if force or refresh_due(connection, credentials, window=0):
            raise ConnectionFailure(
                ErrorCode.CONNECTION_EXPIRED,
                "The app gave no refresh token, so the access cannot be renewed: re-authorize.",
            )
        return Refreshed(credentials, False)
    if not force and not refresh_due(connection, credentials, window=window):
        return Refreshed(credentials, False)

    seen_version = connection.version
    wait = float(settings.HTTP_TIMEOUT) + 5
    key = f"refresh:{connection.credentials_id}"
    with locks.lease(key, ttl=lease_ttl(), wait=wait) as acquired:
        connection = reload(connection)
        ensure_usable(connection)
        credentials = open_credentials(connection)
        if connection.version != seen_version or (
            not force and not refresh_due(connection, credentials, window=window)
        ):
            return Refreshed(credentials, False)
        if not acquired:
            raise RefreshBusy()
        return Refreshed(_refresh_holding_lease(connection, credentials), True)


def _refresh_holding_lease(connection, credentials: dict) -> dict:
    try:
        answer = mode_for(connection.app).refresh(connection.app, connection.config, credentials)
    except ConnectionFailure as failure:
        if failure.code == ErrorCode.CONNECTION_EXPIRED:
            stored = open_credentials(reload(connection))
            if stored.get("refresh_token") != credentials.get("refresh_token"):
                logger.info("Refresh of %s lost a race; using the stored token.", connection.pk)
                return stored
        raise
    new = {**credentials, **{k: v for k, v in answer.items() if v is not None}}
    if not answer.get("refresh_token"):
        new["refresh_token"] = credentials.get("refresh_token")
    return _save_credentials(connection, new) or open_credentials(reload(connection))


def _save_credentials(connection, new: dict) -> dict | None:
    """Store refreshed credentials on every row sharing the Secret; None when the CAS lost."""
    now = timezone.now()
    expires_at = None
    if new.get("expires_at"):
        expires_at = dt.datetime.fromtimestamp(float(new["expires_at"]), tz=dt.UTC)
    values = {
        "expires_at": expires_at,
        "last_refreshed_at": now,
        "version": F("version") + 1,
        "updated_at": now,
    }
    model = type(connection)
    with transaction.atomic():
        if not model.all_objects.filter(pk=connection.pk, version=connection.version).update(**values):
            return None  # re-authorized meanwhile: its credentials win
        secret_replace(secret=connection.credentials, payload=new)
        # Only a global copy shares a tenant connection's Secret (publication); a global
        # copy's Secret is shared with its source and any other copy.
        for other in (GlobalConnection,) if model is Connection else (Connection, GlobalConnection):
            sharing = other.all_objects.filter(credentials_id=connection.credentials_id)
            if other is model:
                sharing = sharing.exclude(pk=connection.pk)
            sharing.update(**values)
        lookups.changed()  # update() sends no signal: cached connections hold the old version
    connection.version += 1
    connection.expires_at = expires_at
    connection.last_refreshed_at = now
    return new
