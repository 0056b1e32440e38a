"""HTTP surface of the sandbox provider: OAuth2, OAuth1, the API, switches and a home page."""

import base64
import binascii
import hmac
import json
import time

from django import forms
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from oauthlib.common import add_params_to_uri
from oauthlib.oauth1.rfc5849 import errors as oauth1_errors
from oauthlib.oauth2 import FatalClientError, OAuth2Error

from . import oauth1, oauth2, services, switches
from .models import ApiKey, BasicAccount, OAuth1Client, OAuth1RequestToken, OAuth2Client, digest

INVALID_TOKEN_CHALLENGE = 'Bearer realm="sandbox", error="invalid_token"'


class ConsentForm(forms.Form):
    email = forms.EmailField(label="Sandbox account email", initial=services.DEFAULT_EMAIL)


def _oauthlib_request(request, body=True):
    """Return (uri, http_method, body, headers) of a Django request, as oauthlib takes them."""
    headers = dict(request.headers.items())
    raw = request.body.decode("utf-8", "replace") if body and request.body else None
    return request.build_absolute_uri(), request.method, raw, headers


def _response(headers, body, status):
    response = HttpResponse(body or "", status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _switch_response(target: str):
    """Return the failure an armed switch dictates for this request, or None to answer normally."""
    switch = switches.consume(target)
    if switch is None:
        return None
    if switch.mode == "hang":
        time.sleep(min(max(switch.seconds, 0), switches.MAX_SECONDS))
        return None
    if switch.mode == "500":
        return JsonResponse({"error": "server_error", "error_description": "Sandbox switch: 500."}, status=500)
    if switch.mode == "429":
        response = JsonResponse(
            {"error": "rate_limited", "error_description": "Sandbox switch: 429."}, status=429
        )
        response["Retry-After"] = str(switch.retry_after)
        return response
    if target == "api":
        return _unauthorized()
    return JsonResponse(
        {"error": "invalid_grant", "error_description": "Sandbox switch: invalid_grant."}, status=400
    )


def _unauthorized():
    response = JsonResponse({"error": "invalid_token"}, status=401)
    response["WWW-Authenticate"] = INVALID_TOKEN_CHALLENGE
    return response


# Home page.


def home(request):
    """Show the registered clients, armed switches, counters and the API-key button."""
    return render(request, "sandbox/home.html", _home_context())


@sensitive_post_parameters()
@require_POST
def api_key_create(request):
    """Create a test API key and show it once."""
    form = ConsentForm(request.POST)
    if not form.is_valid():
        return render(request, "sandbox/home.html", _home_context(key_form=form), status=400)
    key = services.create_api_key(form.cleaned_data["email"])
    response = render(
        request,
        "sandbox/home.html",
        _home_context(new_key=key, new_key_email=form.cleaned_data["email"]),
    )
    response["Cache-Control"] = "no-store"
    return response


def _home_context(**extra):
    return {
        "oauth2_clients": OAuth2Client.objects.all(),
        "oauth1_clients": OAuth1Client.objects.all(),
        "switches": switches.active(),
        "counts": sorted(switches.counts().items()),
        "key_form": extra.pop("key_form", None) or ConsentForm(),
        "api_key_count": ApiKey.objects.count(),
        **extra,
    }


# OAuth2.


@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def oauth2_authorize(request):
    """Show the consent page for an authorization request; redirect back on Allow or Deny."""
    switches.hit("authorize")
    server = oauth2.get_server()
    uri, _, _, headers = _oauthlib_request(request, body=False)
    try:
        scopes, info = server.validate_authorization_request(uri, "GET", None, headers)
    except FatalClientError as error:
        return render(request, "sandbox/error.html", {"error": error}, status=400)
    except OAuth2Error as error:
        return HttpResponseRedirect(error.in_uri(error.redirect_uri))

    client = info["request"].client
    form = ConsentForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if request.POST.get("action") == "deny":
            params = [("error", "access_denied")]
            if info.get("state"):
                params.append(("state", info["state"]))
            return HttpResponseRedirect(add_params_to_uri(info["redirect_uri"], params))
        if form.is_valid():
            account = services.account_get_or_create(form.cleaned_data["email"])
            headers, body, status = server.create_authorization_response(
                uri, "GET", None, headers, scopes=scopes, credentials={"account": account}
            )
            return _response(headers, body, status)
    return render(
        request,
        "sandbox/consent.html",
        {"client_name": client.name, "scopes": scopes, "form": form, "protocol": "OAuth2"},
    )


@csrf_exempt
@sensitive_post_parameters()
@require_POST
def oauth2_token(request):
    """Exchange an authorization code or a refresh token for tokens."""
    switches.hit("token")
    failure = _switch_response("token")
    if failure is not None:
        return failure
    headers, body, status = oauth2.get_server().create_token_response(*_oauthlib_request(request))
    return _response(headers, body, status)


@csrf_exempt
@sensitive_post_parameters()
@require_POST
def oauth2_revoke(request):
    """Revoke an access or refresh token (RFC 7009)."""
    switches.hit("revoke")
    failure = _switch_response("revoke")
    if failure is not None:
        return failure
    headers, body, status = oauth2.get_server().create_revocation_response(*_oauthlib_request(request))
    return _response(headers, body, status)


# OAuth1.


@csrf_exempt
@sensitive_post_parameters()
@require_POST
def oauth1_request_token(request):
    """Issue a request token to a signed request."""
    switches.hit("oauth1_request_token")
    failure = _switch_response("token")
    if failure is not None:
        return failure
    endpoint = oauth1.request_token_endpoint()
    headers, body, status = endpoint.create_request_token_response(*_oauthlib_request(request))
    return _response(headers, body, status)


@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def oauth1_authorize(request):
    """Show the consent page for a request token; redirect back with a verifier on Allow."""
    switches.hit("oauth1_authorize")
    token = request.GET.get("oauth_token", "")
    row = OAuth1RequestToken.objects.select_related("client").filter(token=token).first()
    uri, _, _, headers = _oauthlib_request(request, body=False)
    try:
        realms, _ = oauth1.authorization_endpoint().get_realms_and_credentials(uri, "GET", None, headers)
    except oauth1_errors.OAuth1Error as error:
        return render(request, "sandbox/error.html", {"error": error}, status=400)

    form = ConsentForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if request.POST.get("action") == "deny":
            # OAuth1 has no standard denial; the request token is simply never authorized.
            OAuth1RequestToken.objects.filter(pk=row.pk).update(used_at=timezone.now())
            if row.callback_uri == "oob":
                return render(request, "sandbox/error.html", {"error": "Access denied."}, status=403)
            return HttpResponseRedirect(
                add_params_to_uri(row.callback_uri, [("denied", token), ("error", "access_denied")])
            )
        if form.is_valid():
            account = services.account_get_or_create(form.cleaned_data["email"])
            endpoint = oauth1.authorization_endpoint(account=account)
            try:
                headers, body, status = endpoint.create_authorization_response(
                    uri, "GET", None, headers, realms=realms
                )
            except oauth1_errors.OAuth1Error as error:
                return render(request, "sandbox/error.html", {"error": error}, status=400)
            return _response(headers, body, status)
    return render(
        request,
        "sandbox/consent.html",
        {"client_name": row.client.name, "scopes": realms, "form": form, "protocol": "OAuth1"},
    )


@csrf_exempt
@sensitive_post_parameters()
@require_POST
def oauth1_access_token(request):
    """Exchange an authorized request token and its verifier for an access token."""
    switches.hit("oauth1_access_token")
    failure = _switch_response("token")
    if failure is not None:
        return failure
    endpoint = oauth1.access_token_endpoint()
    headers, body, status = endpoint.create_access_token_response(*_oauthlib_request(request))
    return _response(headers, body, status)


# The API.


def _basic(header: str):
    try:
        decoded = base64.b64decode(header.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep:
        return None
    login = BasicAccount.objects.select_related("account").filter(username=username).first()
    if login is None or not hmac.compare_digest(login.password_digest, digest(password)):
        return None
    return login.account


def _authenticate(request):
    """Return the sandbox account the request's credentials belong to, or None."""
    api_key = request.headers.get("X-API-Key") or request.GET.get("api_key")
    if api_key:
        key = ApiKey.objects.select_related("account").filter(key_digest=digest(api_key)).first()
        return key.account if key else None
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        valid, oauth_request = oauth2.get_server().verify_request(*_oauthlib_request(request), scopes=[])
        return oauth_request.user if valid else None
    if scheme == "oauth":
        valid, oauth_request = oauth1.resource_endpoint().validate_protected_resource_request(
            *_oauthlib_request(request)
        )
        return getattr(oauth_request, "sandbox_account", None) if valid else None
    if scheme == "basic":
        return _basic(value)
    return None


@csrf_exempt
@require_http_methods(["GET", "POST"])
def api_me(request):
    """Answer with the account the credentials belong to."""
    switches.hit("api")
    failure = _switch_response("api")
    if failure is not None:
        return failure
    account = _authenticate(request)
    if account is None:
        return _unauthorized()
    return JsonResponse({"account": account.as_json()})


ECHOED_HEADERS = ("Content-Type", "Accept", "User-Agent", "X-Request-Id", "X-Flow", "Cookie")
MAX_ECHO_SIZE = 64 * 1024 * 1024


@csrf_exempt
def api_echo(request, rest=""):
    """Answer any method with what arrived (for the credential proxy's tests), when authenticated.

    Query: `size=N` answers N bytes instead (`stream=1`: without Content-Length), `status=N`
    answers that status (429 and 503 with Retry-After: 7), `echo_key=1` puts the API key
    received in a response header. Always sets a cookie and an `X-Sandbox` header.
    """
    switches.hit("api")
    failure = _switch_response("api")
    if failure is not None:
        return failure
    account = _authenticate(request)
    if account is None:
        return _unauthorized()
    size = min(int(request.GET.get("size") or 0), MAX_ECHO_SIZE) if request.GET.get("size", "").isdigit() else 0
    status = int(request.GET["status"]) if request.GET.get("status", "").isdigit() else 200
    if size and request.GET.get("stream"):
        response = StreamingHttpResponse((b"x" * min(65536, size - i) for i in range(0, size, 65536)), status=status)
    elif size:
        response = HttpResponse(b"x" * size, status=status, content_type="application/octet-stream")
    else:
        body = request.body
        response = JsonResponse(
            {
                "account": account.as_json(),
                "method": request.method,
                "path": request.path,
                "query": sorted(request.GET.keys()),
                "body": body.decode("utf-8", "replace")[:2000],
                "body_bytes": len(body),
                "authorization_scheme": request.headers.get("Authorization", "").partition(" ")[0],
                "headers": {name: request.headers[name] for name in ECHOED_HEADERS if name in request.headers},
            },
            status=status,
        )
    if status in (429, 503):
        response["Retry-After"] = "7"
    if request.GET.get("echo_key"):
        response["X-Echo-Key"] = request.headers.get("X-API-Key") or request.GET.get("api_key", "")
    response["X-Sandbox"] = "yes"
    response.set_cookie("sandbox_session", "s3cr3t-session")
    return response


# Switches.


@csrf_exempt
@require_http_methods(["GET", "POST"])
def switches_view(request):
    """Arm a switch (POST JSON {target, mode, count, seconds, retry_after}) or reset ({reset: true})."""
    if not (request.user.is_authenticated and request.user.is_staff):
        description = "Sign in as a staff user to use the switches."
        return JsonResponse({"error": "forbidden", "error_description": description}, status=403)
    # Exempt from CSRF (a JSON API), so only a JSON body: a cross-site form cannot send one.
    if request.method == "POST" and request.content_type != "application/json":
        description = "Send a JSON body (application/json)."
        answer = {"error": "invalid_request", "error_description": description}
        return JsonResponse(answer, status=415)
    if request.method == "POST":
        try:
            data = json.loads(request.body or b"{}")
            if data.get("reset"):
                switches.reset()
                if data.get("counts"):
                    switches.reset_counts()
            else:
                switches.set_switch(
                    str(data.get("target", "")),
                    str(data.get("mode", "")),
                    count=int(data.get("count", 1)),
                    seconds=float(data.get("seconds", 0)),
                    retry_after=int(data.get("retry_after", 1)),
                )
        except (ValueError, TypeError, AttributeError) as error:
            return JsonResponse({"error": "invalid_request", "error_description": str(error)}, status=400)
    return JsonResponse(
        {
            "switches": [
                {
                    "id": s.pk,
                    "target": s.target,
                    "mode": s.mode,
                    "remaining": s.remaining,
                    "seconds": s.seconds,
                    "retry_after": s.retry_after,
                }
                for s in switches.active()
            ],
            "counts": switches.counts(),
        }
    )
