"""Use a connection from code that runs flows: `connections.use(connection, consumer="…")`.

    session = connections.use(connection, consumer="Weekly report")
    session.get(session.base_url + "/users/me")

The session signs every request with the connection's credentials (refreshed first when
the access token is due) and has a timeout; each call records one use for the consumer.
Global connections are usable by every tenant: pass the using tenant.
"""

from __future__ import annotations

import uuid

import requests

from .auth import mode_for
from .errors import ConnectionFailure, ConnectionUnusable
from .models import Connection, ConnectionStatus, ErrorCode, GlobalConnection
from .services.health import credentials_get
from .services.usage import usage_record


def resolve(connection, *, tenant=None):
    """Return (connection, using tenant) for an instance or an id; raise ConnectionUnusable.

    A tenant's connection is usable only by its tenant; a published global connection by any.
    """
    if isinstance(connection, (str, uuid.UUID)):
        if tenant is None:
            raise ConnectionUnusable("Name the tenant that uses the connection.")
        found = Connection.objects.for_tenant(tenant).select_related("app").filter(pk=connection).first()
        if found is None:
            found = GlobalConnection.objects.select_related("app").filter(pk=connection).first()
        connection = found
    if connection is None:
        raise ConnectionUnusable("No such connection.")
    if isinstance(connection, GlobalConnection):
        if tenant is None:
            raise ConnectionUnusable("Name the tenant that uses this global connection.")
        if connection.unpublished_at is not None:
            raise ConnectionUnusable("No such connection.")
        return connection, tenant
    if tenant is not None and tenant.pk != connection.tenant_id:
        raise ConnectionUnusable("No such connection.")  # not yours looks like missing
    return connection, connection.tenant


def use(connection, *, consumer: str, tenant=None) -> requests.Session:
    """Return a requests.Session signing requests with the connection's fresh credentials."""
    connection, tenant = resolve(connection, tenant=tenant)
    credentials = _fresh_credentials(connection, tenant=tenant, consumer=consumer, revoked="This connection is revoked.")
    return mode_for(connection.app).session(connection.app, connection.config, credentials)


def _fresh_credentials(connection, *, tenant, consumer: str, revoked: str) -> dict:
    """Return the connection's credentials, refreshed when due, and record one use."""
    if connection.status == ConnectionStatus.REVOKED:
        raise ConnectionUnusable(revoked)
    if connection.status == ConnectionStatus.EXPIRED:
        raise ConnectionFailure(
            ErrorCode.CONNECTION_EXPIRED, f"“{connection.name}” has expired: re-authorize it before use."
        )
    credentials = credentials_get(connection=connection)
    usage_record(tenant=tenant, connection=connection, consumer=consumer)
    return credentials


# GET /api/connections/<id>/credentials (connections/api/endpoints.py).
#
# Only tenant API tokens get credentials: a browser session never does, so no page can show a
# secret. A tenant's token gets its own connections' credentials and, because global
# connections are published to be used by every tenant, theirs too (the design: usable through
# the API; never shown in a page). The refresh token is never returned — flows must not refresh
# themselves, that would defeat single-flight refresh with rotating refresh tokens — and no
# OAuth client secret is either.

# client_secret: client credentials keep theirs; tenant_client: which client minted the grant.
HIDDEN_KEYS = frozenset({"refresh_token", "client_secret", "tenant_client"})


def credentials_for_token(*, token, pk, consumer: str) -> tuple:
    """Return (connection, credentials without the refresh token) for an API token; record usage."""
    connection, tenant = resolve(str(pk), tenant=token.tenant)
    if not token.may_use(connection):
        raise ConnectionUnusable("No such connection.")  # outside the token's list looks missing
    credentials = _fresh_credentials(connection, tenant=tenant, consumer=consumer, revoked="No such connection.")
    connection.refresh_from_db()
    return connection, {key: value for key, value in credentials.items() if key not in HIDDEN_KEYS}
