"""Use a connection from code that runs flows: `connections.client.request(…)` or `connections.use(…)`.

    answer = connections.client.request(connection, "GET", "users/me", consumer="Weekly report")
    answer.status_code, answer.json()

`request()` goes through the credential proxy (connections/services/proxy.py) with the same
rules as /api/proxy/<id>/<path>: the path stays under the app's base URL, credentials are
applied by the auth mode and refreshed when due and once after a 401, the answer's headers
are filtered, sizes and time are capped, and one ProxyCall row is recorded. `use()` hands out
a signed session instead (the caller then sees the credentials it carries):

    session = connections.use(connection, consumer="Weekly report")
    session.get(session.base_url + "/users/me")

The session signs every request with the connection's credentials (refreshed first when
the access token is due) and has a timeout; each call records one use for the consumer.
Global connections are usable by every tenant: pass the using tenant.
"""

from __future__ import annotations

import json as jsonlib
import uuid
from urllib.parse import urlencode

import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from .auth import mode_for
from .errors import ConnectionFailure, ConnectionUnusable
from .models import Connection, ConnectionStatus, ErrorCode, GlobalConnection
from .services.health import credentials_get
from .services.proxy import ProxyRefused, connection_for_proxy, proxy_call
from .services.usage import usage_record

__all__ = ["ProxyRefused", "UseProxy", "credentials_for_token", "request", "resolve", "use"]


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


def request(
    connection,
    method: str,
    path: str,
    *,
    consumer: str = "python",
    tenant=None,
    params=None,
    headers=None,
    data=None,
    json=None,
) -> requests.Response:
    """Call the app through the credential proxy; return its answer as a requests.Response.

    `path` is relative to the app's base URL ("users/me"); `consumer` names the flow in the
    usage records. Raise ConnectionUnusable for a connection the tenant may not use (or
    revoked), ProxyRefused when the proxy answers itself (`.status`, `.code`, `.message`,
    `.retry_after`). The per-token rate limit does not apply.
    """
    connection, tenant = resolve(connection, tenant=tenant)
    loaded = connection_for_proxy(tenant=tenant, pk=connection.pk)
    if loaded is None:
        raise ConnectionUnusable("No such connection.")
    headers = dict(headers or {})
    if json is not None:
        data = jsonlib.dumps(json).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(data, dict):
        data = urlencode(data, doseq=True).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif isinstance(data, str):
        data = data.encode()
    query = urlencode(params, doseq=True) if isinstance(params, dict) else (params or "")
    answer = proxy_call(
        loaded,
        tenant=tenant,
        consumer=consumer,
        method=method,
        path=path.lstrip("/") if not path.startswith("//") else path,
        query=query,
        headers=headers,
        body=data or b"",
    )
    response = requests.Response()
    response.status_code = answer.status
    response.headers = CaseInsensitiveDict(answer.headers)
    response._content = b"".join(answer.chunks())
    answer.record()
    response.encoding = get_encoding_from_headers(response.headers)
    return response


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
# secret. A tenant's token gets its own connections' credentials. A global connection's raw
# credentials go to the tenant it was published from, and to other tenants only when the
# system administrator who approved it ticked "allow credential sharing"; otherwise other
# tenants get 403 `use_proxy` and use it through the credential proxy. The refresh token is
# never returned — flows must not refresh themselves, that would defeat single-flight refresh
# with rotating refresh tokens — and no OAuth client secret is either.


class UseProxy(Exception):
    """A global connection's credentials are not handed to this tenant: call through the proxy."""


def credentials_withheld(connection, tenant) -> bool:
    """Return whether this tenant must use the (global) connection through the proxy only."""
    return (
        isinstance(connection, GlobalConnection)
        and connection.source_tenant_id != tenant.pk
        and not connection.allow_credential_sharing
    )

HIDDEN_KEYS = frozenset({"refresh_token"})


def credentials_for_token(*, token, pk, consumer: str) -> tuple:
    """Return (connection, credentials without the refresh token) for an API token; record usage."""
    connection, tenant = resolve(str(pk), tenant=token.tenant)
    if not token.may_use(connection):
        raise ConnectionUnusable("No such connection.")  # outside the token's list looks missing
    if credentials_withheld(connection, tenant):
        raise UseProxy(
            "The credentials of this global connection are not shared with your company: call "
            f"the app through the credential proxy, /api/proxy/{connection.pk}/<path> "
            "(token scope “proxy”)."
        )
    credentials = _fresh_credentials(connection, tenant=tenant, consumer=consumer, revoked="No such connection.")
    connection.refresh_from_db()
    return connection, {key: value for key, value in credentials.items() if key not in HIDDEN_KEYS}
