"""The one way out to an app or a webhook: address policy, pinned connections, size and time caps.

Every request made on a tenant's behalf goes through a session from `session()` (or one
hardened in place by `harden()`). Its transport adapter, for each request, before anything is
sent (`OutboundAdapter.send`):

1. parses the URL as requests will connect to it; refuses a scheme other than https (plain
   http only with DEBUG or for an allowed host), a user:password in the URL, a malformed host;
2. reads the host as the C resolver would: any IPv4 spelling inet_aton(3) accepts
   (`0x7f000001`, `2130706433`, `017700000001`, `127.1`) is that address; `localhost` and
   `*.localhost` are loopback (RFC 6761); other names go to `resolve()` (tests replace it);
3. requires every resolved address to be public (`address_is_public`: no loopback, RFC 1918,
   link-local, CGNAT, ULA, multicast, reserved, documentation ranges, nor any of these inside
   IPv4-mapped, NAT64 or 6to4 IPv6), unless `settings.OUTBOUND_ALLOW` opens it or it is the
   sandbox's URL while `settings.SANDBOX_ENABLED`; nothing else is exempt, DEBUG included;
4. pins the TCP connection to the first checked address at the urllib3 connection level
   (`_PinnedConnection._new_conn`), so the Host header, TLS SNI and the certificate check keep
   the original name and a DNS answer that changes after the check cannot move it;
5. never follows a redirect (a 3xx is the answer), reads at most `OUTBOUND_MAX_BYTES` of body
   and ends the whole exchange `HTTP_TIMEOUT` seconds after it started: slow DNS is abandoned,
   per-socket timeouts shrink to what is left, and a watchdog shuts the socket down at the
   deadline so a server trickling bytes cannot hold a worker.

Connections are kept alive between exchanges, in one process-wide set of pools (`_KeptPools`)
keyed by what urllib3 keys them by (scheme, host, port, TLS settings) and by the checked
address: a kept connection serves only an exchange that the checks above pinned to the same
address, and only when it was idle less than `OUTBOUND_KEEP_ALIVE_SECONDS` (0: one exchange
per connection). The watchdog watches a connection per exchange, never while it waits in its
pool. A kept connection the server closed meanwhile is replaced before use; one it closes as
the request goes out is retried once on a new connection (`OutboundAdapter.send`), as browsers
do, when the body can be sent again. A connection whose answer was cut off or not read to its
end is closed, never kept.

A refusal raises `OutboundRefused` (a `.code` and a `.message` safe to show, never quoting
the URL or an answer). Settings are read at call time.
"""

import concurrent.futures
import contextvars
import heapq
import ipaddress
import itertools
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3.util.connection
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.poolmanager import PoolManager

PRIVATE_ADDRESS_MESSAGE = (
    "This address is on a private network. Ask your administrator to allow it (OUTBOUND_ALLOW)."
)
MESSAGES = {
    "private_address": PRIVATE_ADDRESS_MESSAGE,
    "scheme": "Use an address that starts with https://.",
    "credentials_in_url": (
        "Remove the user name and password from the address; enter credentials in their own fields."
    ),
    "unresolvable": "This host name could not be found. Check the address for typing mistakes.",
    "bad_url": "This is not a valid web address. Type it like https://api.example.com/v1.",
    "idn": (
        "Type an international host name in its ASCII form (xn--…), as your provider shows it."
    ),
    "too_large": "The answer was larger than {limit}, so it was not read.",
    "too_slow": "The app did not answer within {seconds:g} seconds. Try again later.",
    "proxy": "Requests on a tenant's behalf never go through a proxy.",
}
DEFAULT_PORTS = {"http": 80, "https": 443}
SANDBOX_MOUNT = "/sandbox/"

# Ranges that are never an app's public API. ipaddress's flags cover most of them; the list
# says it outright (and covers Pythons whose tables are older). IPv4-mapped, NAT64 and 6to4
# addresses are judged by the IPv4 address they carry (`_embedded_ipv4`), before this list.
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/8", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20",
        "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# inet_aton(3): each dot-separated part is decimal, octal (leading 0) or hex (0x, digits optional).
_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f\\]")


class OutboundRefused(Exception):
    """A request on a tenant's behalf was refused before it was sent (or cut off by a cap)."""

    def __init__(self, code: str, message: str | None = None):
        self.code = code
        self.message = message or MESSAGES[code]
        super().__init__(self.message)


class OutboundTimeout(OutboundRefused, requests.exceptions.Timeout):
    """The exchange passed its total deadline (`too_slow`); also a requests Timeout."""


class OutboundUnreachable(OutboundRefused, requests.exceptions.ConnectionError):
    """The host name did not resolve (`unresolvable`); also a requests ConnectionError."""


# Address policy.


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv4-mapped, NAT64 (RFC 6052) or 6to4 address carries."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def address_is_public(address) -> bool:
    """Return whether an IP address may be reached without an OUTBOUND_ALLOW entry."""
    address = ipaddress.ip_address(address)
    if address.version == 6:
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_is_public(embedded)
    if any(
        address in network for network in _BLOCKED_NETWORKS if network.version == address.version
    ):
        return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
    )


def ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address inet_aton(3) reads in `host` (`127.1`, `0x7f000001`…), or None."""
    parts = host.split(".")
    if len(parts) > 4 or not all(_IPV4_PART.fullmatch(part) for part in parts):
        return None
    numbers = []
    for part in parts:
        if part[:2].lower() == "0x":
            numbers.append(int(part[2:] or "0", 16))
        elif part.startswith("0"):
            numbers.append(int(part, 8))
        else:
            numbers.append(int(part))
    *leading, last = numbers
    if any(number > 0xFF for number in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = 0
    for number in leading:
        value = value << 8 | number
    return ipaddress.IPv4Address(value << 8 * (4 - len(leading)) | last)


def canonical_host(host: str | None) -> str:
    """Return the host as compared and connected to (lower case, no FQDN dot), or refuse it."""
    if not host:
        raise OutboundRefused("bad_url")
    if not host.isascii():
        raise OutboundRefused("bad_url", MESSAGES["idn"])
    host = host.lower()
    host = host.removesuffix(".")
    if ":" in host:
        try:
            if "%" in host:  # a zone ("fe80::1%eth0") picks an interface: never for an app
                raise ValueError(host)
            ipaddress.IPv6Address(host)
        except ValueError:
            raise OutboundRefused("bad_url") from None
        return host
    if not _NAME.fullmatch(host):
        raise OutboundRefused("bad_url")
    if ipv4_literal(host) is None and _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        raise OutboundRefused("bad_url")  # a numeric top-level label: a malformed IPv4 address
    return host


def resolve(host: str, port: int) -> list[str]:
    """Return the addresses `host` resolves to, in the resolver's order (tests replace it)."""
    infos = socket.getaddrinfo(
        host, port, family=urllib3.util.connection.allowed_gai_family(), type=socket.SOCK_STREAM
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


_dns_pool: concurrent.futures.ThreadPoolExecutor | None = None
_dns_lock = threading.Lock()


def _resolve_before(host: str, port: int, deadline: "_Deadline") -> list:
    """Return the addresses of `host` (literals read in place), giving up at the deadline."""
    literal = ipv4_literal(host)
    if literal is not None:
        return [literal]
    if ":" in host:
        return [ipaddress.IPv6Address(host)]
    if host == "localhost" or host.endswith(".localhost"):
        return [ipaddress.IPv4Address("127.0.0.1")]
    global _dns_pool
    with _dns_lock:
        if _dns_pool is None:
            _dns_pool = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="outbound-dns")
    future = _dns_pool.submit(resolve, host, port)
    try:
        answers = future.result(timeout=deadline.left())
    except concurrent.futures.TimeoutError:
        raise deadline.refusal() from None
    except (OSError, UnicodeError, ValueError):
        raise OutboundUnreachable("unresolvable") from None
    try:
        addresses = [ipaddress.ip_address(str(answer).split("%", 1)[0]) for answer in answers]
    except ValueError:
        raise OutboundUnreachable("unresolvable") from None
    if not addresses:
        raise OutboundUnreachable("unresolvable")
    return addresses


# OUTBOUND_ALLOW and the sandbox.


@dataclass(frozen=True)
class _Opening:
    """One OUTBOUND_ALLOW entry: a host name or a network, on one port or any."""

    name: str | None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    port: int | None


def _parse_opening(entry: str) -> _Opening:
    text = entry.strip().lower()
    try:
        if "/" in text:
            return _Opening(None, ipaddress.ip_network(text, strict=False), None)
        port = None
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(text)
                port = int(rest[1:])
        elif text.count(":") == 1:
            host, _, port_text = text.partition(":")
            port = int(port_text)
        else:
            host = text
        if port is not None and not 0 < port < 65536:
            raise ValueError(text)
        try:
            return _Opening(None, ipaddress.ip_network(host), port)
        except ValueError:
            return _Opening(canonical_host(host), None, port)
    except (ValueError, OutboundRefused):
        raise ImproperlyConfigured(
            f"OUTBOUND_ALLOW: {entry.strip()!r} is not a host, host:port or CIDR network"
        ) from None


def _openings() -> list[_Opening]:
    raw = getattr(settings, "OUTBOUND_ALLOW", None) or []
    entries = raw.split(",") if isinstance(raw, str) else raw
    return [_parse_opening(entry) for entry in entries if entry and entry.strip()]


def _is_sandbox(scheme: str, host: str, port: int, path: str) -> bool:
    """Return whether the URL is under the sandbox's mount while the sandbox is enabled."""
    if not settings.SANDBOX_ENABLED or not getattr(settings, "SANDBOX_URL", ""):
        return False
    sandbox = urlsplit(settings.SANDBOX_URL)
    try:
        same_origin = (
            sandbox.scheme == scheme
            and canonical_host(sandbox.hostname) == host
            and (sandbox.port or DEFAULT_PORTS.get(sandbox.scheme)) == port
        )
    except (OutboundRefused, ValueError):
        return False
    # Only the sandbox's own pages: the app it runs in (its admin, its API) stays closed.
    mount = sandbox.path.rstrip("/") + SANDBOX_MOUNT
    in_mount = path == mount.rstrip("/") or path.startswith(mount)
    return same_origin and in_mount and ".." not in path and "%2e" not in path.lower()


def _is_open(scheme: str, host: str, port: int, path: str, addresses) -> bool:
    """Return whether OUTBOUND_ALLOW or the sandbox lets this URL reach private addresses."""
    if _is_sandbox(scheme, host, port, path):
        return True
    openings = [o for o in _openings() if o.port is None or o.port == port]
    if any(opening.name == host for opening in openings):
        return True
    networks = [o.network for o in openings if o.network is not None]
    return bool(networks) and all(
        any(address.version == net.version and address in net for net in networks)
        for address in addresses
    )


# The check, shared by forms (check_operator_url) and the adapter.


@dataclass(frozen=True)
class _Deadline:
    """The end of one exchange: `seconds` after it started."""

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> "_Deadline":
        return cls(time.monotonic() + seconds, seconds)

    def left(self) -> float:
        return max(self.at - time.monotonic(), 0.001)

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def refusal(self) -> "OutboundTimeout":
        return OutboundTimeout("too_slow", MESSAGES["too_slow"].format(seconds=self.seconds))


@dataclass
class _Exchange:
    """What the adapter checked for one request: the connection must go there and nowhere else.

    `reused`: the request went out on a kept connection; `fresh`: a kept one may not serve it.
    """

    host: str
    port: int
    address: str
    deadline: _Deadline
    reused: bool = False
    fresh: bool = False


def _check(url: str, deadline: _Deadline) -> tuple[str, _Exchange]:
    """Return (normalised URL, exchange) for a URL that may be requested, or refuse it."""
    if not isinstance(url, str) or not url or _UNSAFE_IN_URL.search(url):
        raise OutboundRefused("bad_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundRefused("bad_url") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise OutboundRefused("scheme")
    if "@" in parts.netloc:
        raise OutboundRefused("credentials_in_url")
    host = canonical_host(parts.hostname)
    port = port or DEFAULT_PORTS[scheme]
    if port == 0:
        raise OutboundRefused("bad_url")
    addresses = _resolve_before(host, port, deadline)
    opened = _is_open(scheme, host, port, parts.path or "/", addresses)
    if not opened and not all(address_is_public(address) for address in addresses):
        raise OutboundRefused("private_address")
    if scheme == "http" and not (settings.DEBUG or opened):
        raise OutboundRefused("scheme")
    shown_host = f"[{host}]" if ":" in host else host
    netloc = shown_host if parts.port is None else f"{shown_host}:{parts.port}"
    normalised = urlunsplit((scheme, netloc, parts.path, parts.query, ""))
    return normalised, _Exchange(host, port, str(addresses[0]), deadline)


def check_operator_url(url: str) -> str:
    """Return the normalised operator-typed URL, or raise OutboundRefused saying what to change."""
    text = url.strip() if isinstance(url, str) else ""
    normalised, _exchange = _check(text, _Deadline.after(float(settings.HTTP_TIMEOUT)))
    return normalised


def display_url(url: str) -> str:
    """Return a URL as it may be stored or shown: no credentials, query or deep path.

    For Events, logs and pages (webhooks): `https://hooks.example.com/services/…?…`. A
    webhook's path and query often carry its secret, so only the first path segment is kept.
    """
    try:
        parts = urlsplit(str(url).strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(not a valid address)"
    if not parts.scheme or not host:
        return "(not a valid address)"
    shown_host = f"[{host}]" if ":" in host else host
    segments = [segment for segment in parts.path.split("/") if segment]
    path = f"/{segments[0]}" if segments else "/"
    if len(segments) > 1:
        path += "/…"
    return f"{parts.scheme.lower()}://{shown_host}{port}{path}" + ("?…" if parts.query else "")


# The watchdog: the total deadline, whatever the server does.


class _Watchdog:
    """Shut a socket down at its deadline, waking any read blocked on it; one thread for all.

    It holds a duplicate of the socket's descriptor (shutdown acts on the socket, not the
    descriptor), so it never touches a descriptor number the process has reused meanwhile.
    """

    def __init__(self):
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, socket.socket] = {}
        self._numbers = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, sock: socket.socket, deadline: float) -> int:
        duplicate = sock.dup()
        with self._condition:
            number = next(self._numbers)
            self._armed[number] = duplicate
            heapq.heappush(self._heap, (deadline, number))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="outbound-watchdog", daemon=True
                )
                self._thread.start()
            self._condition.notify()
        return number

    def disarm(self, number: int) -> None:
        with self._condition:
            duplicate = self._armed.pop(number, None)
        if duplicate is not None:
            duplicate.close()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap:
                    self._condition.wait()
                deadline, number = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                heapq.heappop(self._heap)
                duplicate = self._armed.pop(number, None)
            if duplicate is not None:
                try:
                    duplicate.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                duplicate.close()

    def after_fork(self) -> None:
        """Start afresh in a forked child (a Celery prefork worker): threads do not fork."""
        self.__init__()


_watchdog = _Watchdog()
_current_exchange: contextvars.ContextVar[_Exchange | None] = contextvars.ContextVar(
    "outbound_exchange", default=None
)


def _after_fork() -> None:
    global _dns_pool, _dns_lock, _kept_pools
    _dns_pool, _dns_lock = None, threading.Lock()
    _watchdog.after_fork()
    _kept_pools = None  # the parent's sockets stay the parent's: the child opens its own


os.register_at_fork(after_in_child=_after_fork)


# Transport: pinned connections, kept alive per checked address.


class _PinnedConnection:
    """Connect to the address the adapter checked for this exchange, never to a fresh DNS answer.

    The watchdog watches the socket for one exchange at a time (`watch`), from the moment the
    exchange takes the connection until it goes back to its pool or is closed.
    """

    _watch: int | None = None
    _handing_over = False
    address: str | None = None  # the checked address the socket is connected to
    idle_since = 0.0

    def _new_conn(self) -> socket.socket:
        exchange = _current_exchange.get()
        if (
            exchange is None
            or canonical_host(self.host) != exchange.host
            or self.port != exchange.port
        ):
            raise OutboundRefused("bad_url")
        try:
            sock = urllib3.util.connection.create_connection(
                (exchange.address, self.port),
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        except TimeoutError as error:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from error
        except OSError as error:
            raise NewConnectionError(
                self, f"Failed to establish a new connection: {error}"
            ) from error
        self.address = exchange.address
        self.watch(sock, exchange)
        return sock

    def watch(self, sock: socket.socket, exchange: _Exchange) -> None:
        self.unwatch()
        self._watch = _watchdog.arm(sock, exchange.deadline.at)

    def unwatch(self) -> None:
        if self._watch is not None:
            _watchdog.disarm(self._watch)
            self._watch = None

    def getresponse(self, *args, **kwargs):
        # http.client closes the connection here when the answer ends with the socket, handing
        # the socket to the response: the watch stays until the pool gets the connection back.
        self._handing_over = True
        try:
            return super().getresponse(*args, **kwargs)
        finally:
            self._handing_over = False

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.address = None
            if not self._handing_over:
                self.unwatch()


class _PinnedHTTPConnection(_PinnedConnection, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnection, HTTPSConnection):
    pass


class _KeptPool:
    """A pool of one (scheme, host, port, checked address): a connection serves one exchange at a
    time, and an exchange only while the connection is fresh enough to keep."""

    def _get_conn(self, timeout=None):
        conn = super()._get_conn(timeout)
        exchange = _current_exchange.get()
        if getattr(conn, "sock", None) is None:
            return conn  # connects in _new_conn, checked and watched there
        idle = time.monotonic() - conn.idle_since
        if (
            exchange is None
            or exchange.fresh
            or conn.address != exchange.address
            or idle >= float(settings.OUTBOUND_KEEP_ALIVE_SECONDS)
        ):
            conn.close()
            return conn
        exchange.reused = True
        conn.watch(conn.sock, exchange)
        return conn

    def _put_conn(self, conn) -> None:
        if conn is not None:
            conn.unwatch()
            if float(settings.OUTBOUND_KEEP_ALIVE_SECONDS) <= 0:
                conn.close()
            conn.idle_since = time.monotonic()
        super()._put_conn(conn)


class _HTTPPool(_KeptPool, HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _HTTPSPool(_KeptPool, HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _KeptPools(PoolManager):
    """The process's pools, one per urllib3 pool key and checked address (see the docstring)."""

    def __init__(self):
        super().__init__(num_pools=KEPT_POOLS, maxsize=KEPT_PER_POOL, block=False)
        self.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def connection_from_pool_key(self, pool_key, request_context):
        exchange = _current_exchange.get()
        address = exchange.address if exchange is not None else None
        return super().connection_from_pool_key((pool_key, address), request_context)


KEPT_POOLS = 64  # least recently used pools beyond these are closed
KEPT_PER_POOL = 8  # idle connections kept per pool (more may be open at once)
_kept_pools: _KeptPools | None = None
_kept_lock = threading.Lock()


def _pools() -> _KeptPools:
    global _kept_pools
    with _kept_lock:
        if _kept_pools is None:
            _kept_pools = _KeptPools()
        return _kept_pools


def _replayable(request) -> bool:
    return request.body is None or isinstance(request.body, (bytes, str))


def _size_text(limit: int) -> str:
    if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} KB"
    return f"{limit} bytes"


class _CappedBody:
    """The response body, read through a size cap and the exchange's deadline."""

    def __init__(self, raw, *, limit: int, deadline: _Deadline):
        self._raw = raw
        self._limit = limit
        self._deadline = deadline
        self._count = 0

    def __getattr__(self, name):
        return getattr(self._raw, name)

    def _take(self, size: int) -> None:
        self._count += size
        if self._count > self._limit:
            self._raw.close()
            raise OutboundRefused(
                "too_large", MESSAGES["too_large"].format(limit=_size_text(self._limit))
            )
        self._in_time()

    def _in_time(self) -> None:
        # Past the deadline the watchdog has shut the socket: an end of body then is a cut-off.
        if self._deadline.passed():
            self._raw.close()
            raise self._deadline.refusal()

    def stream(self, amt: int = 2**16, decode_content=None):
        try:
            for chunk in self._raw.stream(amt, decode_content=decode_content):
                self._take(len(chunk))
                yield chunk
        except OutboundRefused:
            raise
        except Exception:
            self._in_time()
            raise
        self._in_time()

    def read(self, amt=None, decode_content=None, **kwargs):
        if amt is None:
            return b"".join(self.stream(decode_content=decode_content))
        try:
            data = self._raw.read(amt, decode_content=decode_content, **kwargs)
        except Exception:
            self._in_time()
            raise
        self._take(len(data))
        return data


def _bounded(timeout, deadline: _Deadline) -> tuple[float, float]:
    """Return (connect, read) socket timeouts no longer than what is left of the deadline."""
    left = deadline.left()
    if isinstance(timeout, tuple):
        connect, read = timeout
    elif isinstance(timeout, urllib3.Timeout):
        connect, read = timeout.connect_timeout, timeout.read_timeout
    else:
        connect = read = timeout
    return tuple(min(v, left) if isinstance(v, (int, float)) else left for v in (connect, read))


class OutboundAdapter(HTTPAdapter):
    """Check every request at send time, pin its connection, cap its answer in size and time."""

    def __init__(
        self,
        *,
        max_bytes: int | None = None,
        stream_max_bytes: int | None = None,
        timeout: float | None = None,
    ):
        self.max_bytes = max_bytes
        self.stream_max_bytes = stream_max_bytes
        self.timeout = timeout
        super().__init__(max_retries=0)

    __attrs__ = HTTPAdapter.__attrs__ + ["max_bytes", "stream_max_bytes", "timeout"]

    def init_poolmanager(self, *args, **kwargs):
        self.poolmanager = _pools()

    def close(self) -> None:
        """The pools are the process's: closing a session leaves them to the next one."""

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        raise OutboundRefused("proxy")

    def _limit(self, stream: bool) -> int:
        limit = self.max_bytes if self.max_bytes is not None else settings.OUTBOUND_MAX_BYTES
        if stream and self.stream_max_bytes is not None:
            limit = self.stream_max_bytes
        return int(limit)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        if proxies and any(proxies.values()):
            raise OutboundRefused("proxy")
        deadline = _Deadline.after(
            float(self.timeout if self.timeout is not None else settings.HTTP_TIMEOUT)
        )
        _normalised, exchange = _check(request.url, deadline)
        token = _current_exchange.set(exchange)

        def attempt():
            return super(OutboundAdapter, self).send(
                request,
                stream=True,  # the body is read below, through the caps
                timeout=_bounded(timeout, deadline),
                verify=True if verify is False else verify,
                cert=cert,
                proxies=None,
            )

        try:
            try:
                response = attempt()
            except requests.ConnectionError:
                # A kept connection the server closed as the request left: once more, anew.
                if not exchange.reused or deadline.passed() or not _replayable(request):
                    raise
                exchange.reused, exchange.fresh = False, True
                response = attempt()
        except OutboundRefused:
            raise
        except Exception:
            if deadline.passed():
                raise deadline.refusal() from None
            raise
        finally:
            _current_exchange.reset(token)
        limit = self._limit(stream)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            response.close()
            raise OutboundRefused(
                "too_large", MESSAGES["too_large"].format(limit=_size_text(limit))
            )
        # Session.send reads a non-streamed body right after this returns: through the caps too.
        response.raw = _CappedBody(response.raw, limit=limit, deadline=deadline)
        return response


# Sessions.


def _no_redirect_target(response):
    """Redirects are never followed: a 3xx is the answer."""
    return


def _refuse_mount(prefix, adapter):
    raise TypeError("a hardened outbound session takes no other transport adapter")


def harden(
    http: requests.Session,
    *,
    max_bytes: int | None = None,
    stream_max_bytes: int | None = None,
    timeout: float | None = None,
) -> requests.Session:
    """Make a Session (or an OAuth1Session/OAuth2Session) send only through OutboundAdapter."""
    adapter = OutboundAdapter(
        max_bytes=max_bytes, stream_max_bytes=stream_max_bytes, timeout=timeout
    )
    for previous in http.adapters.values():
        previous.close()
    http.adapters.clear()
    requests.Session.mount(http, "https://", adapter)
    requests.Session.mount(http, "http://", adapter)
    http.mount = _refuse_mount
    # No proxies or .netrc credentials from the environment, no redirects from the answer.
    http.trust_env = False
    http.proxies = {}
    http.get_redirect_target = _no_redirect_target
    return http


def session(
    *,
    max_bytes: int | None = None,
    stream_max_bytes: int | None = None,
    timeout: float | None = None,
) -> requests.Session:
    """Return a requests.Session for work on a tenant's behalf (see the module docstring)."""
    return harden(
        requests.Session(), max_bytes=max_bytes, stream_max_bytes=stream_max_bytes, timeout=timeout
    )


def is_hardened(http: requests.Session) -> bool:
    """Return whether every request of this session goes through OutboundAdapter."""
    return (
        bool(http.adapters)
        and all(isinstance(adapter, OutboundAdapter) for adapter in http.adapters.values())
        and http.get_redirect_target is _no_redirect_target
        and not http.trust_env
    )
