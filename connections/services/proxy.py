"""The credential proxy: call an app with a connection's credentials the caller never sees.

Used by /api/proxy/<connection id>/<path> (connections/api/proxy.py) and by
`connections.client.request()`. One call:

1. the path is joined under the app's base URL (`target_url`): no absolute URL, no `//host`,
   no `@` in the first segment, no `.`/`..` segment (also percent-encoded, once or twice), no
   backslash; every segment is re-encoded, and the result must keep the base's scheme, host,
   port and path prefix — the host can never change;
2. the credentials are read (refreshed single-flight first when due, services/refresh.py via
   health.refresh_recorded, which records a refresh's outcome) and applied by the auth mode's
   session (`mode.session`), hardened by connections/outbound.py with the proxy's caps
   (PROXY_MAX_RESPONSE_BYTES, PROXY_TIMEOUT);
3. the caller's end-to-end headers are forwarded, never its Authorization, Cookie, hop-by-hop
   headers or a header named like one the credentials set;
4. a 401 (or the spec's `oauth2.expired_status`) with a token not refreshed in this call:
   refresh once (forced, single-flight keyed on the version read in step 2, so concurrent 401s
   make one token request) and send once more;
5. the answer's status and end-to-end headers come back (no hop-by-hop header, no Set-Cookie,
   no header named like a credential header or carrying a credential value); the body is read
   whole when small, else streamed, through the size cap;
6. one ProxyCall row is written (tenant, token, consumer, method, path with query names only,
   status, duration, bytes) and the consumer's Usage counted — never a body, header or value.

The token and the connection are found through per-process lookups (services/lookups.py)
that any revocation, status move or new credentials drops at once: a revoked connection or
token is refused by the very next call, in every process.
"""

from __future__ import annotations

import copy
import logging
import re
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import connection as db_connection
from django.views.decorators.debug import sensitive_variables

from .. import outbound
from ..auth import mode_for
from ..errors import ConnectionFailure, ConnectionUnusable
from ..models import (
    Connection,
    ConnectionStatus,
    ErrorCode,
    GlobalConnection,
    ProxyCall,
    Usage,
)
from . import health, lookups
from .refresh import RELATED
from .usage import consumer_name, usage_record

logger = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "trailers", "transfer-encoding", "upgrade", "proxy-connection",
    }
)  # fmt: skip
# Never passed on to the app: ours (the API token, the dashboard session, CSRF) or the transport's.
REQUEST_DROPPED = HOP_BY_HOP | {
    "host", "authorization", "cookie", "content-length", "x-csrftoken", "forwarded",
    "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "x-real-ip",
}  # fmt: skip
# Never passed back to the caller.
RESPONSE_DROPPED = HOP_BY_HOP | {"set-cookie", "set-cookie2", "content-length", "authorization"}
REQUESTS_DEFAULTS = frozenset({"user-agent", "accept-encoding", "accept", "connection"})
USER_AGENT = "app-connections-proxy/1"
BUFFERED_BYTES = 256 * 1024  # answers up to this size (declared) are read whole, larger stream
CHUNK = 64 * 1024
MAX_PATH = 500
MIN_SECRET = 6  # shorter credential values are not searched for in answer headers
RATE_WINDOW = 60
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class ProxyRefused(Exception):
    """The proxy answers itself (nothing, or nothing more, sent to the app); message safe to show."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: int | None = None):
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after
        super().__init__(message)


PATH_MESSAGE = (
    "This path is refused: give a path under the app's base URL (no absolute URL, no “//”, "
    "no “..”, no “@” host)."
)


def target_url(base_url: str, path: str, query: str = "", *, drop_params=()) -> str:
    """Return base_url + path (+ query), or raise ProxyRefused when the path could escape it."""
    path = path or ""
    if (
        "\\" in path
        or path.startswith("/")
        or _SCHEME.match(path)
        or "@" in path.split("/", 1)[0]
        or any(ord(char) < 0x21 or ord(char) == 0x7F for char in path)
    ):
        raise ProxyRefused(400, "path_refused", PATH_MESSAGE)
    segments = path.split("/") if path else []
    for segment in segments:
        once = unquote(segment)
        if segment in (".", "..") or once in (".", "..") or unquote(once) in (".", ".."):
            raise ProxyRefused(400, "path_refused", PATH_MESSAGE)
    encoded = "/".join(quote(segment, safe="!$&'()*+,;=:@-._~") for segment in segments)
    base = base_url.rstrip("/")
    url = f"{base}/{encoded}" if encoded else base
    if query:
        if drop_params:
            dropped = {name.lower() for name in drop_params}
            pairs = [
                (k, v)
                for k, v in parse_qsl(query, keep_blank_values=True)
                if k.lower() not in dropped
            ]
            query = urlencode(pairs)
        else:
            query = quote(query, safe="=&+%/:,;@!$'()*?~-._")
        if query:
            url += "?" + query
    parts, origin = urlsplit(url), urlsplit(base)
    if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc) or not (
        parts.path == origin.path or parts.path.startswith(origin.path.rstrip("/") + "/")
    ):
        raise ProxyRefused(400, "path_refused", PATH_MESSAGE)
    return url


def shown_path(path: str, query: str = "") -> str:
    """Return the path as recorded: the query's parameter names, never their values."""
    names = list(dict.fromkeys(name for name, _ in parse_qsl(query or "", keep_blank_values=True)))
    shown = "/" + (path or "")
    if names:
        shown += "?" + "&".join(f"{quote(name)}=…" for name in names)
    return shown[:MAX_PATH]


def forwarded_headers(incoming, credential_names) -> dict:
    """Return the caller's headers to pass on: end-to-end ones not naming a credential header."""
    incoming = dict(incoming or {})
    named = {
        token.strip().lower()
        for name, value in incoming.items()
        if name.lower() == "connection"
        for token in str(value).split(",")
    }
    dropped = REQUEST_DROPPED | named | credential_names
    return {
        str(name): str(value)
        for name, value in incoming.items()
        if name.lower() not in dropped and not name.lower().startswith("proxy-")
    }


@sensitive_variables("credentials", "values")
def _secret_values(credentials: dict) -> list[str]:
    values = []
    for value in credentials.values():
        if isinstance(value, dict):
            values += [str(inner) for inner in value.values()]
        elif isinstance(value, str):
            values.append(value)
    return [value for value in values if len(value) >= MIN_SECRET]


def answer_headers(headers, *, credential_names, secrets) -> list[tuple[str, str]]:
    """Return the app's end-to-end headers that may go back to the caller."""
    named = {
        token.strip().lower()
        for token in str(headers.get("Connection", "")).split(",")
        if token.strip()
    }
    dropped = RESPONSE_DROPPED | named | credential_names
    kept = []
    for name, value in headers.items():
        if name.lower() in dropped or name.lower().startswith("proxy-"):
            continue
        if any(secret in value for secret in secrets):
            continue
        kept.append((name, value))
    return kept


def rate_limit_check(token) -> None:
    """Count one call of the token in this minute; raise ProxyRefused 429 past PROXY_RATE_LIMIT."""
    limit = int(settings.PROXY_RATE_LIMIT)
    if token is None or limit <= 0:
        return
    now = time.time()
    window = int(now // RATE_WINDOW)
    key = f"proxy-rate:{token.pk}:{window}"
    incr_expiring = getattr(cache, "incr_expiring", None)  # config/redis_cache.py: one round trip
    if incr_expiring is not None:
        count = incr_expiring(key, RATE_WINDOW + 5)
    else:
        cache.add(key, 0, timeout=RATE_WINDOW + 5)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=RATE_WINDOW + 5)
            count = 1
    if count > limit:
        retry_after = max(1, int(RATE_WINDOW - now % RATE_WINDOW) + 1)
        raise ProxyRefused(
            429,
            "rate_limited",
            f"This API token made more than {limit} proxy calls this minute; retry after "
            f"{retry_after} seconds.",
            retry_after=retry_after,
        )


@dataclass
class ProxyAnswer:
    """The app's answer: status, filtered headers, and its body read whole or as a stream."""

    status: int
    headers: list
    _response: requests.Response = field(repr=False)
    _finish: object = field(repr=False)
    content: bytes | None = None  # None: the body is streamed by chunks()

    _pending: tuple | None = field(default=None, repr=False)

    def record(self) -> None:
        """Record a buffered answer's call (once); the API does it after the answer is sent."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            self._finish(*pending)
        except Exception:  # the answer is already on its way: log, never fail the caller
            logger.exception("Recording a proxy call failed.")

    def close(self) -> None:
        """Drop the answer unread (recording what was received)."""
        self._response.close()
        self.record()
        if self.content is None:
            self._finish(self.status, 0, "bad_answer")

    def chunks(self):
        """Yield the body's raw bytes (as the app encoded them), then record the call."""
        if self.content is not None:
            yield self.content
            return
        sent, code = 0, ""
        try:
            for chunk in self._response.raw.stream(CHUNK, decode_content=False):
                sent += len(chunk)
                yield chunk
        except outbound.OutboundRefused as refused:
            code = refused.code  # cut off by the size cap or the deadline: the stream ends early
        finally:
            self._response.close()
            self._finish(self.status, sent, code)


def _finisher(*, connection, tenant, token, consumer, method, path, request_bytes, started):
    def finish(status: int, response_bytes: int, error_code: str = "", duration_ms=None) -> None:
        if duration_ms is None:
            duration_ms = elapsed_ms(started)
        record_call(
            connection=connection, tenant=tenant, token=token, consumer=consumer, method=method,
            path=path, status=status, error_code=error_code, request_bytes=request_bytes,
            response_bytes=response_bytes, duration_ms=duration_ms,
        )  # fmt: skip

    finish.started = started
    return finish


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def record_call(*, connection, tenant, token, consumer, method, path, status, error_code="",
                request_bytes=0, response_bytes=0, duration_ms=0) -> None:  # fmt: skip
    """Write one ProxyCall row and count the consumer's use (no body, header or query value)."""
    call = ProxyCall(
        tenant=tenant, token=token, consumer=consumer, method=method[:10], path=path,
        status=status, error_code=str(error_code)[:32], duration_ms=duration_ms,
        request_bytes=request_bytes, response_bytes=response_bytes, **connection.as_owner(),
    )  # fmt: skip
    counted = False
    if db_connection.vendor == "postgresql":
        counted = _insert_and_count(call)
    else:
        call.save()
    # Counts here only on a consumer's first use (or off PostgreSQL); the touch is once a minute.
    usage_record(
        tenant=tenant, connection=connection, consumer=consumer, touch_every=60, fetch=False,
        counted=counted,
    )  # fmt: skip
    lookups.note_use(connection, last_used_at=connection.last_used_at)


def _insert_and_count(call: ProxyCall) -> bool:
    """Insert the row and count the consumer's Usage in one statement; return whether it counted.

    PostgreSQL runs a data-modifying WITH in the same statement (one round trip, one commit):
    `WITH call AS (INSERT …) UPDATE usage SET count = count + 1 WHERE …`. No Usage row yet (a
    consumer's first use) counts nothing: usage_record then creates it.
    """
    quote = db_connection.ops.quote_name
    fields = [field for field in ProxyCall._meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(call, True), db_connection) for field in fields]
    owner = "connection_id" if call.connection_id else "global_connection_id"
    usage = Usage._meta
    sql = (
        f"WITH call AS (INSERT INTO {quote(ProxyCall._meta.db_table)} "
        f"({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})) "
        f"UPDATE {quote(usage.db_table)} SET {quote('count')} = {quote('count')} + 1, "
        f"{quote('last_used_at')} = %s WHERE {quote('tenant_id')} = %s AND "
        f"{quote(owner)} = %s AND {quote('consumer')} = %s"
    )
    owner_id = call.connection_id or call.global_connection_id
    with db_connection.cursor() as cursor:
        cursor.execute(sql, [*values, call.created_at, call.tenant_id, owner_id, call.consumer])
        return cursor.rowcount == 1


# What a call raises when the app gave no usable answer (the proxy then answers itself).
NOT_ANSWERED = (
    ConnectionUnusable, ConnectionFailure, requests.RequestException, outbound.OutboundRefused,
)  # fmt: skip
FAILURE_STATUS = {
    ErrorCode.CONNECTION_EXPIRED: 422,
    ErrorCode.APP_UNAVAILABLE: 503,
    ErrorCode.TEST_FAILED: 502,
    ErrorCode.AUTHORIZATION_REJECTED: 422,
}


def _refusal_for(exc: Exception) -> ProxyRefused:
    """Return what the caller is told when the app was not (fully) asked."""
    if isinstance(exc, ConnectionUnusable):
        return ProxyRefused(404, "not_found", "No such connection.")
    if isinstance(exc, ConnectionFailure):
        retry = int(exc.retry_after) if exc.retry_after else None
        return ProxyRefused(
            FAILURE_STATUS.get(exc.code, 502), exc.code.value, exc.message, retry_after=retry
        )
    if isinstance(exc, outbound.OutboundTimeout) or isinstance(exc, requests.Timeout):
        seconds = float(settings.PROXY_TIMEOUT)
        return ProxyRefused(
            504, "app_timeout", f"The app did not answer within {seconds:g} seconds."
        )
    if isinstance(exc, outbound.OutboundRefused):
        if exc.code == "too_large":
            return ProxyRefused(502, "response_too_large", exc.message)
        return ProxyRefused(502, "refused", f"The request was not sent: {exc.message}")
    if isinstance(exc, requests.ConnectionError):
        return ProxyRefused(502, "app_unreachable", "The app could not be reached.")
    return ProxyRefused(502, "app_error", f"The request to the app failed ({type(exc).__name__}).")


@sensitive_variables("credentials", "session", "secrets")
def proxy_call(
    connection,
    *,
    tenant,
    consumer: str,
    method: str,
    path: str,
    query: str = "",
    headers=None,
    body: bytes = b"",
    token=None,
) -> ProxyAnswer:
    """Send one request to the app with the connection's credentials; return its answer.

    `connection` was read with refresh.RELATED by a tenant-scoped lookup (the caller's own or a
    published global connection). Raise ProxyRefused when the proxy answers itself.
    """
    started = time.monotonic()
    method = method.upper()
    consumer = consumer_name(consumer)
    finish = _finisher(
        connection=connection, tenant=tenant, token=token, consumer=consumer, method=method,
        path=shown_path(path, query), request_bytes=len(body or b""), started=started,
    )  # fmt: skip
    if len(body or b"") > int(settings.PROXY_MAX_REQUEST_BYTES):
        raise ProxyRefused(
            413, "body_too_large", "The request body is larger than the proxy accepts."
        )
    if connection.status == ConnectionStatus.EXPIRED:
        refusal = ProxyRefused(
            422, ErrorCode.CONNECTION_EXPIRED.value,
            f"“{connection.name}” has expired: re-authorize it before use.",
        )  # fmt: skip
        finish(refusal.status, 0, refusal.code)
        raise refusal
    try:
        refreshed = health.refresh_recorded(connection, loaded=True)
        answer = _send(connection, refreshed.credentials, method, path, query, headers, body)
        mode = mode_for(connection.app)
        if answer.status_code in mode.expired_statuses(connection.app) and not refreshed.called:
            if mode.can_refresh(connection.app, refreshed.credentials):
                answer.close()
                # Forced, single-flight on the version read above: concurrent 401s refresh once.
                again = health.refresh_recorded(connection, force=True, loaded=True)
                answer = _send(connection, again.credentials, method, path, query, headers, body)
    except ProxyRefused as refusal:
        finish(refusal.status, 0, refusal.code)
        raise
    except NOT_ANSWERED as exc:
        refusal = _refusal_for(exc)
        if refusal.status != 404:
            finish(refusal.status, 0, refusal.code)
        raise refusal from None
    return _answer(answer, finish)


@sensitive_variables("credentials", "session", "forwarded")
def _send(connection, credentials, method, path, query, headers, body):
    """Send once with these credentials; the response carries what _answer needs to filter."""
    mode = mode_for(connection.app)
    session = mode.session(connection.app, connection.config, credentials)
    limit = int(settings.PROXY_MAX_RESPONSE_BYTES)
    timeout = float(settings.PROXY_TIMEOUT)
    if not outbound.is_hardened(session):  # every mode's session is; never send otherwise
        raise ProxyRefused(502, "refused", "The request was not sent: no outbound session.")
    for adapter in set(session.adapters.values()):  # the proxy's caps, not OUTBOUND_MAX_BYTES
        adapter.max_bytes = adapter.stream_max_bytes = limit
        adapter.timeout = timeout
    credential_names = {name.lower() for name in session.headers} - REQUESTS_DEFAULTS
    credential_names |= {"authorization", "proxy-authorization"}
    url = target_url(session.base_url, path, query, drop_params=list(session.params))
    forwarded = forwarded_headers(headers, credential_names)
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept-Encoding"] = "identity"  # overridden by the caller's own
    session.headers.pop("Connection", None)
    response = session.request(
        method, url, headers=forwarded, data=body or None, stream=True, allow_redirects=False,
        timeout=timeout,
    )  # fmt: skip
    response.credential_names = credential_names
    response.secrets = _secret_values(credentials)
    return response


def _answer(response, finish) -> ProxyAnswer:
    headers = answer_headers(
        response.headers, credential_names=response.credential_names, secrets=response.secrets
    )
    del response.secrets
    declared = response.headers.get("Content-Length", "")
    small = declared.isdigit() and int(declared) <= BUFFERED_BYTES
    answer = ProxyAnswer(response.status_code, headers, response, finish)
    if small or response.status_code in (204, 304) or response.request.method == "HEAD":
        try:
            answer.content = b"".join(response.raw.stream(CHUNK, decode_content=False))
        except (requests.RequestException, outbound.OutboundRefused) as exc:
            refusal = _refusal_for(exc)
            finish(refusal.status, 0, refusal.code)
            raise refusal from None
        finally:
            response.close()
        # Recorded by answer.record(): the API calls it once the answer is sent (no wait).
        answer._pending = (answer.status, len(answer.content), "", elapsed_ms(finish.started))
    return answer


def connection_for_proxy(*, tenant, pk, token=None, generation=lookups.UNREAD):
    """Return the tenant's own or a published global connection (with refresh.RELATED), or None.

    Kept per process under the lookup generation (lookups.py): a revocation, a status move, new
    credentials or a token's new restriction is seen by the very next call. `generation`: the
    one this request read when it authenticated its token, else it is read here.
    """

    def load():
        # get() rather than first(): a lookup by primary key needs no ORDER BY.
        try:
            connection = Connection.objects.for_tenant(tenant).select_related(*RELATED).get(pk=pk)
        except Connection.DoesNotExist:
            try:
                connection = GlobalConnection.objects.select_related(*RELATED).get(
                    pk=pk, unpublished_at__isnull=True
                )
            except GlobalConnection.DoesNotExist:
                return None
        if connection.status == ConnectionStatus.REVOKED:
            return None
        if token is not None and not token.may_use(connection):
            return None
        return connection

    key = ("proxy-connection", tenant.pk, str(pk), token.pk if token is not None else None)
    connection = lookups.cached(key, load, current=generation)
    if connection is not None and connection.credentials_id:
        # A refresh rewrites its Secret in place (vault.secret_replace): each call its own.
        connection.credentials = copy.copy(connection.credentials)
    return connection
