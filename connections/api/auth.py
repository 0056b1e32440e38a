"""Who calls the API: a tenant API token (`Authorization: Bearer act_…`) or a signed-in member.

A request with an Authorization header is judged by the token alone (a bad one is 401, it
never falls back to the session). A session request that changes something needs the CSRF
token like any form (`X-CSRFToken`); so does every session call of an endpoint that changes
state even on GET (the check), so a cross-site navigation cannot run it.

What a caller may do is one rule per scope (`ApiCaller.require`): a token needs the scope
itself; a member needs the role that the web pages ask for the same action.
"""

from dataclasses import dataclass

from django.conf import settings
from django.http import Http404, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.debug import sensitive_variables
from ninja.security import APIKeyCookie, HttpBearer

from ..middleware import client_ip
from ..models import ApiToken, Member, Role, Tenant, TokenScope
from ..permissions import can_manage
from ..services import lookups
from ..services.tokens import api_token_authenticate
from .errors import ApiError

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
WRITE_ROLES = (Role.ADMIN, Role.OPERATOR)
# Scopes a member's role grants in a session; credentials and the proxy are for tokens only.
SESSION_ROLES = {
    TokenScope.READ: (Role.ADMIN, Role.OPERATOR, Role.VIEWER),
    TokenScope.CHECK: WRITE_ROLES,
    TokenScope.ATTEMPTS: WRITE_ROLES,
    TokenScope.MANAGE: WRITE_ROLES,  # and then can_manage() on the connection itself
    TokenScope.CREDENTIALS: (),
    TokenScope.PROXY: (),
}


@dataclass
class ApiCaller:
    """The tenant a request acts for, and who acts: a member (session) or a token."""

    tenant: Tenant
    member: Member | None = None
    token: ApiToken | None = None

    @property
    def user(self):
        return self.member.user if self.member is not None else None

    def require(self, scope: TokenScope) -> None:
        """Raise ApiError 403 unless the caller may act with this scope."""
        if self.token is not None:
            if not self.token.has_scope(scope):
                raise ApiError(
                    403,
                    "insufficient_scope",
                    f"This API token lacks the “{scope.value}” scope; create a token with it.",
                    required_scope=scope.value,
                )
            return
        if not SESSION_ROLES[scope]:
            raise ApiError(
                403,
                "token_required",
                "Credentials are given to API tokens only, never to a browser session."
                if scope == TokenScope.CREDENTIALS
                else f"The “{scope.value}” scope is for API tokens only.",
            )
        if self.member.role not in SESSION_ROLES[scope]:
            raise ApiError(403, "forbidden", "Your role in this company can only read connections.")

    def may_use(self, connection) -> bool:
        """Return whether a restricted token may see the connection (members see all they can)."""
        return self.token is None or self.token.may_use(connection)

    def require_visible(self, connection):
        """Return the connection, or raise Http404 when this token is not allowed to see it."""
        if not self.may_use(connection):
            raise Http404("No such connection.")
        return connection

    def require_manage(self, connection) -> None:
        """Raise ApiError 403 unless the caller may rename or revoke this tenant connection."""
        self.require(TokenScope.MANAGE)
        if self.token is None and not can_manage(self.member, connection):
            raise ApiError(
                403,
                "forbidden",
                "Operators manage only the connections they created; ask an admin.",
            )


def client_address(request) -> str | None:
    """Return the caller's IP address (connections.middleware.client_ip: BEHIND_PROXY, PROXY_HOPS)."""
    return client_ip(request) or None


def csrf_rejects(request, *, even_if_safe: bool = False) -> bool:
    """Return whether Django's CSRF check refuses the request (judged as a POST if even_if_safe)."""
    method = request.method
    if even_if_safe and method in SAFE_METHODS:
        request.method = "POST"  # the middleware waves safe methods through; judge this one
    try:
        check = CsrfViewMiddleware(lambda req: HttpResponse())
        request.csrf_processing_done = False
        check.process_request(request)
        return check.process_view(request, None, (), {}) is not None
    finally:
        request.method = method


class ApiTokenAuth(HttpBearer):
    """`Authorization: Bearer <tenant API token>`; the token's scopes decide what it may do."""

    openapi_bearerFormat = "act_…"
    openapi_description = (
        "A tenant API token from the API tokens page. Each endpoint names the scope it needs; "
        "a token without it gets 403 insufficient_scope."
    )

    @sensitive_variables()
    def __call__(self, request):
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        token = None
        if scheme.lower() == "bearer":
            # Read once per request: the proxy's connection lookup uses the same generation.
            request.lookup_generation = lookups.generation()
            token = api_token_authenticate(
                raw.strip(), address=client_address(request), generation=request.lookup_generation
            )
        if token is None:
            raise ApiError(
                401,
                "unauthorized",
                "The API token is missing, unknown, expired or revoked.",
                headers={"WWW-Authenticate": 'Bearer realm="api"'},
            )
        # Attempts started with a token are not bound to a browser session (auth/base.py).
        request.api_token = token
        return ApiCaller(tenant=token.tenant, token=token)

    def authenticate(self, request, token):  # pragma: no cover - __call__ does the work
        return None


class SessionAuth(APIKeyCookie):
    """Django's session cookie of a signed-in member, acting in the current company."""

    param_name = settings.SESSION_COOKIE_NAME
    openapi_description = (
        "The session of a signed-in member (role: viewer reads; operator and admin create, check "
        "and manage). Unsafe methods, and GET of the check, need the X-CSRFToken header."
    )

    def __init__(self, *, csrf_on_get: bool = False):
        self.csrf_on_get = csrf_on_get
        super().__init__(csrf=True)

    def __call__(self, request):
        if request.headers.get("Authorization") or not request.user.is_authenticated:
            return None
        member = getattr(request, "membership", None)
        if member is None:
            raise ApiError(403, "forbidden", "You are not a member of any company.")
        if request.method not in SAFE_METHODS or self.csrf_on_get:
            if csrf_rejects(request, even_if_safe=self.csrf_on_get):
                raise ApiError(
                    403, "csrf_failed", "CSRF verification failed: send the X-CSRFToken header."
                )
        return ApiCaller(tenant=member.tenant, member=member)

    def authenticate(self, request, key):  # pragma: no cover - __call__ does the work
        return None


token_auth = ApiTokenAuth()
session_auth = SessionAuth()
# For endpoints that change state on GET: the session call needs the CSRF header anyway.
session_auth_csrf_always = SessionAuth(csrf_on_get=True)
DEFAULT_AUTH = [token_auth, session_auth]
