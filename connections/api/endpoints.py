"""/api/connections: list, get, create and test attempts, check, credentials, rename, revoke.

Each endpoint first requires its scope (`ApiCaller.require`), then reads through the tenant-
scoped selectors: another tenant's rows, and rows a restricted token may not use, answer 404
exactly like missing ones. Writes go through the services, which record the Events.
"""

import uuid

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.debug import sensitive_variables
from ninja import Query, Router
from ninja.responses import Status

from catalog.models import App
from catalog.selectors import app_is_configured

from .. import selectors
from ..client import UseProxy, credentials_for_token
from ..errors import ConnectionFailure, ConnectionUnusable
from ..models import Attempt, Connection, ConnectionStatus, ErrorCode, GlobalConnection, TokenScope
from ..presenters import explain
from ..services import attempts as attempt_services
from ..services import health
from ..services.connections import connection_rename, connection_revoke
from .auth import session_auth_csrf_always, token_auth
from .errors import ApiError, api_error, django_validation_error
from .schemas import (
    AttemptFailedOut,
    AttemptIn,
    AttemptOut,
    CheckFailedOut,
    CheckOut,
    ConnectionOut,
    ConnectionPage,
    CredentialsOut,
    CredentialsQuery,
    ErrorOut,
    ListQuery,
    RenameIn,
    RevokeIn,
    RevokeOut,
)

MAX_PAGE_SIZE = 100
ERROR_STATUS = {
    ErrorCode.APP_UNAVAILABLE: 503,
    ErrorCode.TEST_FAILED: 422,
    ErrorCode.AUTHORIZATION_REJECTED: 422,
    ErrorCode.CONNECTION_EXPIRED: 422,
}
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut}

router = Router(tags=["connections"])


def _scope_note(scope: TokenScope) -> str:
    return f"\n\nToken scope: `{scope.value}`."


def _iso(value):
    return value.isoformat() if value else None


def _error(code, message):
    if not code:
        return None
    return {"code": code, "message": message, **{k: str(v) for k, v in explain(code).items()}}


def serialize_connection(connection) -> dict:
    is_global = isinstance(connection, GlobalConnection)
    app = connection.app
    return {
        "id": str(connection.id),
        "kind": "global" if is_global else "tenant",
        "name": connection.name,
        "app": {"slug": app.slug, "name": app.name, "auth_mode": app.auth_mode},
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
        "awaiting_account_confirmation": attempt_services.attempt_awaits_account_confirmation(
            attempt
        ),
        "created_at": _iso(attempt.created_at),
        "expires_at": _iso(attempt.expires_at),
        "completed_at": _iso(attempt.completed_at),
        "connection": str(attempt.connection_id) if attempt.connection_id else None,
        "error": _error(attempt.error_code, attempt.error_message),
    }
    if authorize_url:
        data["authorize_url"] = authorize_url
    if attempt.connection_id and attempt.status == Attempt.Status.SUCCEEDED:
        data["connection"] = serialize_connection(attempt.connection)
    return data


def _attempt_failed(attempt: Attempt, body: dict) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": attempt.error_code, "message": attempt.error_message}, "attempt": body},
        status=ERROR_STATUS.get(attempt.error_code, 422),
    )


def _visible_connection(caller, pk):
    """Return the tenant's or a global connection the caller may see, or raise Http404."""
    try:
        connection = selectors.connection_get_for_tenant(tenant=caller.tenant, pk=pk)
    except Http404:
        connection = selectors.global_connection_get(pk=pk)
    return caller.require_visible(connection)


def _tenant_connection(caller, pk) -> Connection:
    """Return a tenant connection the caller may see; a global one is read-only here (403)."""
    connection = _visible_connection(caller, pk)
    if isinstance(connection, GlobalConnection):
        raise ApiError(
            403, "read_only", "Global connections are maintained by system administrators."
        )
    return connection


def _restricted(caller, own, shared):
    """Narrow the list querysets to what a restricted token may use (subqueries: no extra query)."""
    token = caller.token
    if token is None or token.all_connections:
        return own, shared
    own = own.filter(pk__in=token.connections.values("pk"))
    shared = (
        shared.filter(pk__in=token.global_connections.values("pk")) if shared is not None else None
    )
    return own, shared


@router.get(
    "",
    response={200: ConnectionPage, **ERRORS},
    url_name="connections",
    summary="List connections",
    description="The company's connections, then the global ones, paginated."
    + _scope_note(TokenScope.READ),
)
def connection_list(request, filters: Query[ListQuery]):
    caller = request.auth
    caller.require(TokenScope.READ)
    size, number = min(MAX_PAGE_SIZE, filters.page_size), filters.page
    selection = {
        "app": filters.app or None,
        "status": filters.status.value if filters.status else None,
        "q": filters.q or None,
    }
    kind = filters.kind.value if filters.kind else None
    own = selectors.connection_list_for_tenant(tenant=caller.tenant, **selection)
    shared = selectors.global_connections_visible(**selection) if kind != "tenant" else None
    own, shared = _restricted(caller, own, shared)
    own_count = own.count() if kind != "global" else 0
    shared_count = shared.count() if shared is not None else 0
    total = own_count + shared_count
    start, end = (number - 1) * size, number * size
    rows = list(own[start:end]) if start < own_count else []
    if shared is not None and end > own_count:
        rows += list(shared[max(0, start - own_count) : end - own_count])
    return {
        "count": total,
        "page": number,
        "pages": max(1, -(-total // size)),
        "page_size": size,
        "results": [serialize_connection(row) for row in rows],
    }


@router.post(
    "",
    response={
        201: AttemptOut,
        409: ErrorOut,
        422: AttemptFailedOut,
        503: AttemptFailedOut,
        **ERRORS,
    },
    url_name="connection_create",
    summary="Create a connection (start an attempt)",
    description=(
        "Stores a pending attempt. OAuth apps answer 201 with the `authorize_url` to send the "
        "person to; typed credentials (API key, basic, custom) are tested at once: 201 with the "
        "connection, or 422/503 with the error. 409 `app_not_configured` when the app's OAuth "
        "client is not registered yet (a system administrator must act)."
        + _scope_note(TokenScope.ATTEMPTS)
    ),
)
# Every local below this view may hold typed secrets (fields, rows, the vault payload).
@sensitive_variables()
def connection_create(request, payload: AttemptIn):
    caller = request.auth
    caller.require(TokenScope.ATTEMPTS)
    app = App.objects.visible().filter(slug=payload.app.strip()).first()
    if app is None:
        raise ValidationError(
            {"app": f"There is no app “{payload.app.strip()[:64]}” in the catalog."}
        )
    if not app_is_configured(app):
        raise ApiError(
            409,
            "app_not_configured",
            f"{app.name} has no OAuth client registration yet: a system administrator must add one "
            "in the Django admin (OAuth client registrations) before accounts can be linked.",
        )
    field_values = payload.field_values()
    attempt, url = attempt_services.attempt_start(
        tenant=caller.tenant,
        user=caller.user,
        app=app,
        name=payload.name,
        scopes=payload.scopes,
        field_values=field_values,
        request=request,
    )
    body = serialize_attempt(attempt, url)
    if attempt.status == Attempt.Status.FAILED:
        return _attempt_failed(attempt, body)
    return Status(201, body)


@router.get(
    "/{uuid:pk}",
    response={200: ConnectionOut, **ERRORS},
    url_name="connection",
    summary="Get a connection",
    description="The company's connection, or a global one, by id." + _scope_note(TokenScope.READ),
)
def connection_get(request, pk: uuid.UUID):
    caller = request.auth
    caller.require(TokenScope.READ)
    return serialize_connection(_visible_connection(caller, pk))


@router.patch(
    "/{uuid:pk}",
    response={200: ConnectionOut, **ERRORS},
    url_name="connection_rename",
    summary="Rename a connection",
    description=(
        "Members: admins rename any connection, operators the ones they created. "
        "Global connections are read-only (403 `read_only`)." + _scope_note(TokenScope.MANAGE)
    ),
)
def connection_rename_endpoint(request, pk: uuid.UUID, payload: RenameIn):
    caller = request.auth
    caller.require(TokenScope.MANAGE)
    connection = _tenant_connection(caller, pk)
    caller.require_manage(connection)
    connection = connection_rename(connection=connection, name=payload.name, actor=caller.user)
    return serialize_connection(connection)


@router.post(
    "/{uuid:pk}/revoke",
    response={200: RevokeOut, 409: ErrorOut, **ERRORS},
    url_name="connection_revoke",
    summary="Revoke a connection",
    description=(
        "Revokes at the provider when it can, destroys the stored credentials and keeps the "
        "connection (status `revoked`) for history; revoking twice changes nothing. 409 "
        "`shared_with_global` when a global connection shares the authorization, unless "
        "`confirm_shared` is true. Same roles as rename." + _scope_note(TokenScope.MANAGE)
    ),
)
def connection_revoke_endpoint(request, pk: uuid.UUID, payload: RevokeIn | None = None):
    caller = request.auth
    caller.require(TokenScope.MANAGE)
    connection = _tenant_connection(caller, pk)
    caller.require_manage(connection)
    try:
        connection = connection_revoke(
            connection=connection,
            actor=caller.user,
            confirm_shared=bool(payload and payload.confirm_shared),
        )
    except ValidationError as exc:
        if getattr(exc, "code", None) == "shared":
            raise ApiError(409, "shared_with_global", " ".join(exc.messages)) from None
        return django_validation_error(exc)
    warning = connection.revocation_warning
    connection = selectors.connection_get_for_tenant(tenant=caller.tenant, pk=pk)
    return {"connection": serialize_connection(connection), "revocation_warning": warning}


@router.get(
    "/{uuid:pk}/test",
    response={200: AttemptOut, 422: AttemptFailedOut, 503: AttemptFailedOut, **ERRORS},
    url_name="attempt_test",
    summary="Test an attempt (report its state)",
    description=(
        "`pk` is an attempt id: pending, succeeded (with its connection) or failed (422/503 with "
        "its error)." + _scope_note(TokenScope.ATTEMPTS)
    ),
)
def attempt_test(request, pk: uuid.UUID):
    caller = request.auth
    caller.require(TokenScope.ATTEMPTS)
    attempt = selectors.attempt_get_for_tenant(tenant=caller.tenant, pk=pk)
    body = serialize_attempt(attempt)
    if attempt.status == Attempt.Status.FAILED:
        return _attempt_failed(attempt, body)
    return body


CHECK_OPTIONS = {
    "auth": [token_auth, session_auth_csrf_always],
    "response": {200: CheckOut, 409: ErrorOut, 422: CheckFailedOut, 503: CheckFailedOut, **ERRORS},
    "summary": "Check a connection now",
}
CHECK_DESCRIPTION = (
    "Refreshes first when the access token is due, then sends the app's test request. It changes "
    "state, so a session call needs the X-CSRFToken header on GET as on POST."
    + _scope_note(TokenScope.CHECK)
)


@router.get(
    "/{uuid:pk}/check",
    url_name="connection_check",
    **CHECK_OPTIONS,
    description=CHECK_DESCRIPTION + " GET is kept for existing flows; prefer POST.",
)
def connection_check(request, pk: uuid.UUID):
    return _check(request, pk)


@router.post(
    "/{uuid:pk}/check",
    url_name="connection_check_post",
    **CHECK_OPTIONS,
    description=CHECK_DESCRIPTION,
)
def connection_check_post(request, pk: uuid.UUID):
    return _check(request, pk)


def _check(request, pk):
    caller = request.auth
    caller.require(TokenScope.CHECK)
    connection = caller.require_visible(
        selectors.connection_get_for_tenant(tenant=caller.tenant, pk=pk)
    )
    try:
        check = health.connection_check(connection=connection, actor=caller.user)
    except ConnectionUnusable as exc:
        raise ApiError(409, "unusable", str(exc)) from None
    connection = selectors.connection_get_for_tenant(tenant=caller.tenant, pk=pk)
    body = {
        "ok": check.ok,
        "checked_at": _iso(check.created_at),
        "duration_ms": check.duration_ms,
        "connection": serialize_connection(connection),
    }
    if check.ok:
        return body
    return JsonResponse(
        {"error": {"code": check.error_code, "message": check.message}, **body},
        status=ERROR_STATUS.get(check.error_code, 422),
    )


@router.get(
    "/{uuid:pk}/credentials",
    response={200: CredentialsOut, 409: ErrorOut, 422: ErrorOut, 503: ErrorOut, **ERRORS},
    url_name="connection_credentials",
    summary="Fetch fresh credentials",
    description=(
        "API tokens only (a session gets 403 `token_required`): the connection's fresh "
        "credentials, refreshed first when due, never the refresh token. Records one use for "
        "`consumer`. A global connection published by another company answers 403 `use_proxy` "
        "(call it through /api/proxy/<id>/<path>) unless the system administrator who approved "
        "it allowed credential sharing." + _scope_note(TokenScope.CREDENTIALS)
    ),
)
@sensitive_variables()
def connection_credentials(
    request, response: HttpResponse, pk: uuid.UUID, params: Query[CredentialsQuery]
):
    caller = request.auth
    caller.require(TokenScope.CREDENTIALS)
    try:
        connection, credentials = credentials_for_token(
            token=caller.token, pk=pk, consumer=params.consumer or caller.token.name
        )
    except ConnectionUnusable:
        raise Http404("No such connection.") from None
    except UseProxy as refusal:
        raise ApiError(403, "use_proxy", str(refusal)) from None
    except ConnectionFailure as failure:
        headers = {"Retry-After": str(int(failure.retry_after))} if failure.retry_after else None
        return api_error(
            ERROR_STATUS.get(failure.code, 422), failure.code, failure.message, headers=headers
        )
    response["Cache-Control"] = "no-store"
    return {"connection": serialize_connection(connection), "credentials": credentials}
