"""The API's one error shape, `{"error": {"code": …, "message": …}}`, for every failure.

Our own refusals raise ApiError; the handlers installed by `install_error_handlers` turn
ninja's validation errors, Django's ValidationError, Http404, PermissionDenied, bad bodies and
authentication failures into the same shape with the right status. Anything unexpected is
logged like Django logs a 500 (with the request, so error mails work) and answered 500 with
the shape; with DEBUG on it is re-raised for Django's technical page.
"""

from django.conf import settings
from django.core import signals
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.utils.log import log_response
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from ..errors import UNSAFE_VALUE

MAX_MESSAGE = 600
MAX_FIELD_KEY = 80


class ApiError(Exception):
    """A refusal the API answers as `{"error": {"code", "message", …extra}}` with `status`."""

    def __init__(self, status: int, code: str, message: str, *, headers=None, **extra):
        self.status, self.code, self.message = status, str(code), str(message)
        self.headers = dict(headers or {})
        self.extra = extra
        super().__init__(self.message)


def api_error(status: int, code: str, message: str, *, headers=None, **extra) -> JsonResponse:
    """Return the error shape as a JSON response."""
    response = JsonResponse(
        {"error": {"code": str(code), "message": str(message)[:MAX_MESSAGE], **extra}},
        status=status,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _from_api_error(request, exc: ApiError):
    return api_error(exc.status, exc.code, exc.message, headers=exc.headers, **exc.extra)


def _field_key(loc) -> str:
    """Return "name", "page" for the locations ("body", "payload", "name"), ("query", "page")."""
    # Pydantic names union members in the location ("function-after[…]"): not a field.
    parts = [str(part) for part in loc if "[" not in str(part)]
    if parts and parts[0] in ("body", "form"):
        parts = parts[2:] if len(parts) > 2 else parts[1:]
    elif parts and parts[0] in ("query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts)[:MAX_FIELD_KEY] or "body"


def _from_ninja_validation(request, exc: NinjaValidationError):
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        # Pydantic's "msg" never quotes the input: a rejected value may be a secret.
        message = str(error.get("msg", "Invalid value.")).removeprefix("Value error, ")
        fields.setdefault(_field_key(error.get("loc", ())), []).append(message)
    message = "; ".join(f"{key}: {' '.join(messages)}" for key, messages in fields.items())
    return api_error(400, "invalid", message or "The request is not valid.", fields=fields)


def django_validation_error(exc: DjangoValidationError):
    """Return a service's ValidationError as 400 `invalid`, with `fields` when it names them."""
    fields = exc.message_dict if hasattr(exc, "error_dict") else {}
    messages = [m for ms in fields.values() for m in ms] if fields else exc.messages
    extra = {"fields": fields} if fields else {}
    message = "; ".join(messages) or "The request is not valid."
    errors = [e for es in exc.error_dict.values() for e in es] if fields else exc.error_list
    if any(error.code == UNSAFE_VALUE for error in errors):
        # A host, URL or path no request may use: understood, refused (nothing was created).
        return api_error(422, "unsafe_value", message, **extra)
    return api_error(400, "invalid", message, **extra)


def _from_django_validation(request, exc: DjangoValidationError):
    return django_validation_error(exc)


def _from_http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, ApiError):  # our body parser's refusal, wrapped by ninja
        return _from_api_error(request, exc.__cause__)
    if exc.__cause__ is not None and not isinstance(exc.__cause__, ValueError):
        return _from_unexpected(request, exc.__cause__)  # a bug in the parser, not a bad body
    if isinstance(exc, AuthenticationError):
        return unauthorized("Sign in or send an API token.")
    if exc.status_code == 400:
        return api_error(400, "invalid", "The body is not valid JSON.")
    return api_error(exc.status_code, "error", str(exc))


def unauthorized(message: str) -> JsonResponse:
    return api_error(
        401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="api"'}
    )


def not_found(request=None, exc=None):
    message = (
        str(exc) if isinstance(exc, Http404) and str(exc).startswith("No such") else "Not found."
    )
    return api_error(404, "not_found", message)


def method_not_allowed(response: HttpResponseNotAllowed) -> JsonResponse:
    methods = sorted(
        method.strip() for method in response["Allow"].split(",")
    )  # ninja's order is a set's
    return api_error(
        405,
        "method_not_allowed",
        f"Use {' or '.join(methods)}.",
        headers={"Allow": ", ".join(methods)},
    )


def _from_permission_denied(request, exc: PermissionDenied):
    return api_error(403, "forbidden", str(exc) or "You may not do this.")


def _from_suspicious(request, exc: SuspiciousOperation):
    if isinstance(exc, RequestDataTooBig):
        return api_error(413, "body_too_large", "The body is too large.")
    return api_error(400, "bad_request", "The request was refused as malformed.")


def _from_unexpected(request, exc: Exception):
    if settings.DEBUG:
        raise exc
    response = api_error(
        500, "server_error", "Something went wrong on our side; it was logged. Try again later."
    )
    # What Django's handler does for an uncaught exception: tell listeners, log with the request.
    signals.got_request_exception.send(sender=None, request=request)
    log_response(
        "Internal Server Error: %s",
        request.path,
        response=response,
        request=request,
        exception=exc,
    )
    return response


def install_error_handlers(api) -> None:
    """Answer every failure inside the ninja API with the error shape."""
    api.add_exception_handler(ApiError, _from_api_error)
    api.add_exception_handler(NinjaValidationError, _from_ninja_validation)
    api.add_exception_handler(DjangoValidationError, _from_django_validation)
    api.add_exception_handler(HttpError, _from_http_error)
    api.add_exception_handler(Http404, not_found)
    api.add_exception_handler(PermissionDenied, _from_permission_denied)
    api.add_exception_handler(SuspiciousOperation, _from_suspicious)
    api.add_exception_handler(Exception, _from_unexpected)
