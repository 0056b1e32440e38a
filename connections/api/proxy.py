"""/api/proxy/<connection id>/<path>: call the app with the connection's credentials injected.

API tokens with the `proxy` scope only. The algorithm is connections/services/proxy.py; this
module reads the HTTP request (body through PROXY_MAX_REQUEST_BYTES), applies the token's rate
limit, finds the connection (the tenant's own or a published global one; anything else is 404)
and turns the app's answer into the response: its status, its end-to-end headers, its body
(streamed when large). The proxy's own refusals carry `X-Proxy-Refused: <code>` and the error
shape, so a caller can tell them from the app's answers.
"""

import uuid

from django.conf import settings
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.views.decorators.debug import sensitive_variables
from ninja import Router

from ..models import TokenScope
from ..services import lookups
from ..services.proxy import (
    ProxyRefused,
    connection_for_proxy,
    proxy_call,
    rate_limit_check,
)
from .auth import token_auth
from .errors import api_error
from .schemas import ErrorOut

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
CONSUMER_HEADER = "X-Consumer"
ERRORS = {
    400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 413: ErrorOut, 422: ErrorOut,
    429: ErrorOut, 502: ErrorOut, 503: ErrorOut, 504: ErrorOut,
}  # fmt: skip
DESCRIPTION = (
    "Sends the request to the app's base URL + `path` with the connection's credentials applied "
    "by its auth mode (OAuth2 bearer, OAuth1 signature, API key, basic, custom headers and "
    "query); the caller never sees them. Works for the company's connections and for global "
    "connections. Query string and body are passed on; end-to-end headers too, except "
    "Authorization, Cookie and hop-by-hop headers. The access token is refreshed first when "
    "due, and once more after a 401. The answer is the app's status, body and end-to-end "
    "headers (no Set-Cookie, hop-by-hop or credential headers); 429 and 5xx keep the app's "
    "Retry-After. Name the flow in the `X-Consumer` header (default: the token's name). "
    "The proxy's own refusals have the `X-Proxy-Refused` header: 400 `path_refused` (the path "
    "would leave the base URL), 413 `body_too_large`, 429 `rate_limited` (per token, with "
    "Retry-After), 422 `connection_expired`, 502 `response_too_large`/`app_unreachable`, "
    "504 `app_timeout`.\n\nToken scope: `proxy`."
)

router = Router(tags=["proxy"])


def _refused(refusal: ProxyRefused):
    headers = {"X-Proxy-Refused": refusal.code, "Cache-Control": "no-store"}
    if refusal.retry_after:
        headers["Retry-After"] = str(int(refusal.retry_after))
    return api_error(refusal.status, refusal.code, refusal.message, headers=headers)


def _body(request) -> bytes:
    limit = int(settings.PROXY_MAX_REQUEST_BYTES)
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        raise ProxyRefused(413, "body_too_large", _too_large(limit))
    body = request.read(limit + 1)
    if len(body) > limit:
        raise ProxyRefused(413, "body_too_large", _too_large(limit))
    return body


def _too_large(limit: int) -> str:
    return f"The request body is larger than the proxy accepts ({limit} bytes, PROXY_MAX_REQUEST_BYTES)."


@sensitive_variables("body", "headers")
def proxy_endpoint(request, pk: uuid.UUID, path: str):
    caller = request.auth
    caller.require(TokenScope.PROXY)
    try:
        rate_limit_check(caller.token)
        body = _body(request)
    except ProxyRefused as refusal:
        return _refused(refusal)
    connection = connection_for_proxy(
        tenant=caller.tenant, pk=pk, token=caller.token,
        generation=getattr(request, "lookup_generation", lookups.UNREAD),
    )  # fmt: skip
    if connection is None:
        raise Http404("No such connection.")
    headers = {k: v for k, v in request.headers.items() if k.lower() != CONSUMER_HEADER.lower()}
    try:
        answer = proxy_call(
            connection,
            tenant=caller.tenant,
            token=caller.token,
            consumer=request.headers.get(CONSUMER_HEADER) or caller.token.name,
            method=request.method,
            path=path,
            query=request.META.get("QUERY_STRING", ""),
            headers=headers,
            body=body,
        )
    except ProxyRefused as refusal:
        if refusal.status == 404:
            raise Http404("No such connection.") from None
        return _refused(refusal)
    if not 100 <= answer.status <= 599:
        answer.close()
        return _refused(ProxyRefused(502, "bad_answer", "The app answered with an invalid status."))
    if answer.content is not None:
        response = HttpResponse(answer.content, status=answer.status)
        # Written when the WSGI server closes the response, after the bytes left (Django runs
        # its resource closers then, before request_finished): the caller does not wait for it.
        response._resource_closers.append(answer.record)
    else:
        response = StreamingHttpResponse(answer.chunks(), status=answer.status)
    if not any(name.lower() == "content-type" for name, _ in answer.headers):
        del response["Content-Type"]
    for name, value in answer.headers:
        response[name] = value
    return response


def _register():
    """One operation per method, so each has its own operationId in the OpenAPI document."""
    for method in METHODS:

        def view(request, pk: uuid.UUID, path: str):
            return proxy_endpoint(request, pk, path)

        view.__name__ = f"proxy_{method.lower()}"
        router.add_api_operation(
            "/{uuid:pk}/{path:path}",
            [method],
            view,
            auth=[token_auth],
            response=ERRORS,
            url_name=f"proxy_{method.lower()}",
            summary=f"Proxy a {method} request to the app",
            description=DESCRIPTION,
        )


_register()
