"""JSON API for flows and scripts: session or `Authorization: Bearer <tenant API token>`.

Errors are `{"error": {"code": …, "message": …}}` with the matching HTTP status; rows of
another tenant answer 404 exactly like missing ones. Token requests are CSRF-exempt; session
requests that change something need the CSRF token like any form.
"""

import json
from functools import wraps

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from catalog.models import App

from . import selectors
from .client import credentials_for_token
from .errors import ConnectionFailure, ConnectionUnusable
from .models import Attempt, ConnectionStatus, ErrorCode, GlobalConnection, Role
from .presenters import explain
from .services import attempts as attempt_services
from .services import health
from .services.tokens import api_token_authenticate

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25
ERROR_STATUS = {
    ErrorCode.APP_UNAVAILABLE: 503,
    ErrorCode.TEST_FAILED: 422,
    ErrorCode.AUTHORIZATION_REJECTED: 422,
    ErrorCode.CONNECTION_EXPIRED: 422,
}
READ_ROLES = (Role.ADMIN, Role.OPERATOR, Role.VIEWER)
WRITE_ROLES = (Role.ADMIN, Role.OPERATOR)
TOKEN_ROLE = "token"  # a tenant API token may read, create and check


def api_error(status: int, code: str, message: str, **extra) -> JsonResponse:
    body = {"error": {"code": str(code), "message": str(message), **extra}}
    return JsonResponse(body, status=status)


class ApiCaller:
    """Who is calling: the tenant, the user (None for tokens), the role, the token."""

    def __init__(self, *, tenant, user, role, token=None):
        self.tenant, self.user, self.role, self.token = tenant, user, role, token

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES or self.role == TOKEN_ROLE


def _csrf_rejects(request) -> bool:
    check = CsrfViewMiddleware(lambda req: HttpResponse())
    check.process_request(request)
    return check.process_view(request, None, (), {}) is not None


def api_view(methods, *, write=False):
    """Authenticate by token or session, check the method and role, answer JSON errors."""

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            header = request.headers.get("Authorization", "")
            if header:
                scheme, _, raw = header.partition(" ")
                token = api_token_authenticate(raw.strip()) if scheme.lower() == "bearer" else None
                if token is None:
                    response = api_error(401, "unauthorized", "The API token is missing, unknown or revoked.")
                    response["WWW-Authenticate"] = 'Bearer realm="api"'
                    return response
                request.api_token = token
                caller = ApiCaller(tenant=token.tenant, user=None, role=TOKEN_ROLE, token=token)
            else:
                if not request.user.is_authenticated:
                    response = api_error(401, "unauthorized", "Sign in or send an API token.")
                    response["WWW-Authenticate"] = 'Bearer realm="api"'
                    return response
                membership = getattr(request, "membership", None)
                if membership is None:
                    return api_error(403, "forbidden", "You are not a member of any company.")
                if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE") and _csrf_rejects(request):
                    return api_error(403, "csrf_failed", "CSRF verification failed: send the X-CSRFToken header.")
                caller = ApiCaller(tenant=membership.tenant, user=request.user, role=membership.role)
            if request.method not in methods:
                response = api_error(405, "method_not_allowed", f"Use {' or '.join(methods)}.")
                response["Allow"] = ", ".join(methods)
                return response
            needs_write = write(request) if callable(write) else write
            if needs_write and not caller.can_write:
                return api_error(403, "forbidden", "Your role in this company can only read connections.")
            try:
                return view(request, caller, *args, **kwargs)
            except Http404 as exc:
                return api_error(404, "not_found", str(exc) or "Not found.")

        return wrapper

    return decorator


def _iso(value):
    return value.isoformat() if value else None


def _error(code, message):
    if not code:
        return None
    return {"code": code, "message": message, **{k: str(v) for k, v in explain(code).items()}}


def serialize_connection(connection) -> dict:
    is_global = isinstance(connection, GlobalConnection)
    return {
        "id": str(connection.id),
        "kind": "global" if is_global else "tenant",
        "name": connection.name,
        "app": {"slug": connection.app.slug, "name": connection.app.name, "auth_mode": connection.app.auth_mode},
        "status": connection.status,
        "status_label": str(ConnectionStatus(connection.status).label),
        "account_label": connection.account_label,
        "scopes": list(connection.scopes or []),
        "authorized_at": _iso(connection.authorized_at),
        "expires_at": _iso(connection.expires_at),
        "last_checked_at": _iso(connection.last_checked_at),
        "last_refreshed_at": _iso(connection.last_refreshed_at),
        "revoked_at": _iso(connection.revoked_at),
        "created_at": _iso(connection.created_at),
        "last_error": _error(connection.last_error_code, connection.last_error_message),
        "read_only": is_global,
    }


def serialize_attempt(attempt: Attempt, authorize_url: str | None = None) -> dict:
    data = {
        "id": str(attempt.id),
        "status": attempt.status,
        "app": attempt.app.slug,
        "name": attempt.name,
        "scopes": list(attempt.scopes or []),
        "reauthorization": attempt.is_reauthorization,
        "account_label": attempt.account_label,
        "awaiting_account_confirmation": attempt_services.attempt_awaits_account_confirmation(attempt),
        "created_at": _iso(attempt.created_at),
        "expires_at": _iso(attempt.expires_at),
        "completed_at": _iso(attempt.completed_at),
        "connection": str(attempt.connection_id) if attempt.connection_id else None,
        "error": _error(attempt.error_code, attempt.error_message),
    }
    if authorize_url:
        data["authorize_url"] = authorize_url
    return data


def _body(request) -> dict:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            raise ValidationError("The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ValidationError("The body must be a JSON object.")
        return data
    data = {key: request.POST.get(key) for key in request.POST}
    if "scopes" in request.POST:
        data["scopes"] = request.POST.getlist("scopes")
    return data


def _validation_error(exc: ValidationError) -> JsonResponse:
    fields = exc.message_dict if hasattr(exc, "error_dict") else {}
    message = "; ".join(m for messages in (fields.values() if fields else [exc.messages]) for m in messages)
    extra = {"fields": fields} if fields else {}
    return api_error(400, "invalid", message, **extra)


def _page(request):
    try:
        size = min(MAX_PAGE_SIZE, max(1, int(request.GET.get("page_size", DEFAULT_PAGE_SIZE))))
        number = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        raise ValidationError("page and page_size are numbers.") from None
    return size, number


@api_view(("GET", "POST"), write=lambda request: request.method == "POST")
def connections_collection(request, caller):
    """GET: the tenant's and the global connections (paginated). POST: start an attempt."""
    if request.method == "POST":
        return _create(request, caller)
    try:
        size, number = _page(request)
    except ValidationError as exc:
        return _validation_error(exc)
    filters = {"app": request.GET.get("app") or None, "status": request.GET.get("status") or None,
               "q": request.GET.get("q") or None}
    kind = request.GET.get("kind")  # "tenant", "global", or both when absent
    own = selectors.connection_list_for_tenant(tenant=caller.tenant, **filters)
    shared = selectors.global_connections_visible(**filters) if kind != "tenant" else None
    own_count = own.count() if kind != "global" else 0
    shared_count = shared.count() if shared is not None else 0
    total = own_count + shared_count
    start, end = (number - 1) * size, number * size
    rows = list(own[start:end]) if start < own_count else []
    if shared is not None and end > own_count:
        rows += list(shared[max(0, start - own_count): end - own_count])
    pages = max(1, -(-total // size))
    return JsonResponse({
        "count": total,
        "page": number,
        "pages": pages,
        "page_size": size,
        "results": [serialize_connection(row) for row in rows],
    })


def _create(request, caller):
    try:
        data = _body(request)
        slug = (data.get("app") or "").strip() if isinstance(data.get("app"), str) else ""
        if not slug:
            raise ValidationError({"app": "Name the app by its slug."})
        app = App.objects.visible().filter(slug=slug).first()
        if app is None:
            raise ValidationError({"app": f"There is no app “{slug[:64]}” in the catalog."})
        scopes = data.get("scopes")
        if isinstance(scopes, str):
            scopes = scopes.replace(",", " ").split()
        fields = data.get("fields") or {}
        if not isinstance(fields, dict):
            raise ValidationError({"fields": "fields is an object of field key → value."})
        attempt, url = attempt_services.attempt_start(
            tenant=caller.tenant, user=caller.user, app=app, name=str(data.get("name") or ""),
            scopes=scopes, field_values=fields, request=request,
        )
    except ValidationError as exc:
        return _validation_error(exc)
    body = serialize_attempt(attempt, url)
    if attempt.status == Attempt.Status.FAILED:
        status = ERROR_STATUS.get(attempt.error_code, 422)
        response = JsonResponse(
            {"error": {"code": attempt.error_code, "message": attempt.error_message}, "attempt": body}, status=status
        )
        return response
    if attempt.connection_id and attempt.status == Attempt.Status.SUCCEEDED:
        body["connection"] = serialize_connection(attempt.connection)
    return JsonResponse(body, status=201)


@api_view(("GET",))
def connection_item(request, caller, pk):
    """The tenant's connection, or a global one, by id."""
    try:
        connection = selectors.connection_get_for_tenant(tenant=caller.tenant, pk=pk)
    except Http404:
        connection = selectors.global_connection_get(pk=pk)
    return JsonResponse(serialize_connection(connection))


@api_view(("GET",))
def attempt_test(request, caller, pk):
    """Report an attempt: pending, succeeded (with its connection) or failed (with its error)."""
    attempt = selectors.attempt_get_for_tenant(tenant=caller.tenant, pk=pk)
    body = serialize_attempt(attempt)
    if attempt.connection_id and attempt.status == Attempt.Status.SUCCEEDED:
        body["connection"] = serialize_connection(attempt.connection)
    if attempt.status == Attempt.Status.FAILED:
        return JsonResponse(
            {"error": {"code": attempt.error_code, "message": attempt.error_message}, "attempt": body},
            status=ERROR_STATUS.get(attempt.error_code, 422),
        )
    return JsonResponse(body)


@api_view(("GET",), write=True)
def connection_check(request, caller, pk):
    """Check a connection now (refreshing first when due) and report the result."""
    connection = selectors.connection_get_for_tenant(tenant=caller.tenant, pk=pk)
    try:
        check = health.connection_check(connection=connection, actor=caller.user)
    except ConnectionUnusable as exc:
        return api_error(409, "unusable", str(exc))
    connection = selectors.connection_get_for_tenant(tenant=caller.tenant, pk=pk)
    body = {
        "ok": check.ok,
        "checked_at": _iso(check.created_at),
        "duration_ms": check.duration_ms,
        "connection": serialize_connection(connection),
    }
    if check.ok:
        return JsonResponse(body)
    status = ERROR_STATUS.get(check.error_code, 422)
    response = JsonResponse({"error": {"code": check.error_code, "message": check.message}, **body}, status=status)
    return response


@api_view(("GET",))
def connection_credentials(request, caller, pk):
    """Return fresh credentials to a tenant API token (own or global connections); record usage."""
    if caller.token is None:
        return api_error(403, "token_required", "Credentials are given to API tokens only, never to a browser session.")
    try:
        connection, credentials = credentials_for_token(
            token=caller.token, pk=pk, consumer=request.GET.get("consumer") or caller.token.name
        )
    except ConnectionUnusable:
        raise Http404("No such connection.") from None
    except ConnectionFailure as failure:
        response = api_error(ERROR_STATUS.get(failure.code, 422), failure.code, failure.message)
        if failure.retry_after:
            response["Retry-After"] = str(int(failure.retry_after))
        return response
    response = JsonResponse({"connection": serialize_connection(connection), "credentials": credentials})
    response["Cache-Control"] = "no-store"
    return response
