"""What every auth mode shares: the interface, templates from the provider spec, sessions with a
timeout, OAuth state, the app's OAuth client, and how failures of an app's endpoint read.

Callers never compare auth modes: they ask the mode (`mode.redirects`, `mode.needs_client`,
`mode.can_refresh(app, credentials)`, `mode.requested_scopes(...)`, `mode.split_values(...)`,
`mode.revoke_supported(app)`), as allauth's callers ask `provider.supports_redirect`.
"""

import hashlib
import os
import re
import secrets
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError

from catalog import hosts
from catalog.models import OAuthClient
from catalog.schema import LOOPBACK_HOSTS
from catalog.services import oauth_client_secret
from catalog.templating import TemplateError, render_template
from vault.services import secret_open

from .. import outbound
from ..errors import UNSAFE_VALUE, ConnectionFailure
from ..models import TENANT_CLIENT_PURPOSE, ErrorCode, TenantOAuthClient

# What a request to an app raises when it gets no answer (unavailable_from_exception reads it).
REQUEST_ERRORS = (requests.RequestException, outbound.OutboundRefused)

SESSION_STATE_PREFIX = "connections.oauth_state."
# Attempts started without a browser session (API token) hash their state in another domain,
# so a callback can tell that no session binding is expected for them.
UNBOUND_STATE_PREFIX = "unbound:"


def http_timeout() -> float:
    return float(settings.HTTP_TIMEOUT)


class TimeoutSession(requests.Session):
    """A requests.Session whose every request has a timeout (settings.HTTP_TIMEOUT by default)."""

    base_url = ""

    def request(self, method, url, *args, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = http_timeout()
        return super().request(method, url, *args, **kwargs)


def template_values(app, config=None, secrets_=None) -> dict:
    """Return the values `{placeholders}` of the app's spec may use."""
    # A field's default stands for a value never typed (connections made before the field existed).
    values = {}
    for field in (app.spec or {}).get("fields") or []:
        if isinstance(field.get("default"), str) and field["default"] and not field.get("secret"):
            values[field["key"]] = field["default"]
            values.update(choice_hosts(field, field["default"]))
    for source in (config or {}, secrets_ or {}):
        for key, value in source.items():
            if isinstance(value, (str, int, float)):
                values[key] = value
    values["sandbox"] = settings.SANDBOX_URL
    return values


def render(app, template, values) -> str:
    """Render one spec template, or raise ConnectionFailure naming the missing setting."""
    if template is None:
        return ""
    try:
        return render_template(str(template), values)
    except TemplateError as exc:
        raise _missing_setting(app, exc) from None


def _missing_setting(app, exc: TemplateError) -> ConnectionFailure:
    return ConnectionFailure(
        ErrorCode.TEST_FAILED,
        f"{app.name} is missing a setting: {exc.errors[0] if exc.errors else 'a value'}.",
    )


def field_label(app, key) -> str:
    """Return the label a person sees for one of the app's fields (its key when undeclared)."""
    spec = app.spec or {}
    for field in [*(spec.get("fields") or []), *(spec.get("captures") or [])]:
        if field.get("key") == key:
            return field.get("label") or key
    return str(key)


def render_url(app, template, values, *, grant: bool = False) -> str:
    """Render one of the spec's URL templates so that it keeps the scheme and host the spec fixes.

    catalog/hosts.py decides: a placeholder in the host takes only whole DNS labels (format
    subdomain) or a host of the spec's allowed_hosts; elsewhere a value cannot leave its path
    segment or query value. Captured values count as fields; `grant` lets a revoke URL name the
    grant's tokens (hosts.GRANT_NAMES). Raises ConnectionFailure (test_failed) naming the setting to change,
    never quoting its value; nothing is sent.
    """
    if not template:
        return ""
    spec = app.spec or {}
    try:
        return hosts.render_url(
            str(template), values,
            fields=hosts.spec_fields(spec, path="oauth2.revoke.url" if grant else ""),
            allowed_hosts=spec.get("allowed_hosts") or (),
        )  # fmt: skip
    except hosts.UnsafeUrl as exc:
        if exc.field:
            message = f"{app.name}'s {field_label(app, exc.field)} cannot be used: {exc.problem}"
        else:
            message = f"{app.name}'s address could not be built safely from its settings."
        raise ConnectionFailure(ErrorCode.TEST_FAILED, message) from None
    except TemplateError as exc:
        raise _missing_setting(app, exc) from None


def choice_hosts(field: dict, value) -> dict:
    """Return the host names an enum choice sets ({} for other fields and values)."""
    for option in field.get("enum") or []:
        if option["value"] == value:
            return dict(option.get("hosts") or {})
    return {}


def field_choice_problem(field: dict, value: str) -> str | None:
    """Return what is wrong with a typed value under its field's enum and pattern, or None.

    Never quotes the value (it may be a secret typed into the wrong field).
    """
    label = field.get("label") or field["key"]
    options = field.get("enum") or []
    if options and value not in {option["value"] for option in options}:
        return f"Choose one of: {', '.join(option['label'] for option in options)}."
    pattern = field.get("pattern")
    if pattern:
        try:
            matches = re.fullmatch(pattern, value) is not None
        except re.error:
            matches = False
        if not matches:
            example = field.get("example")
            return f"{label} should look like {example}." if example else f"{label} does not have the expected form."
    return None


def _unsafe(message: str) -> ValidationError:
    return ValidationError(message, code=UNSAFE_VALUE)


def unsafe_values(app, values: dict, *, skip=()) -> dict:
    """Return {field key: ValidationError (code "unsafe")} for typed values no request may use.

    Checked before anything is created or sent: each field's format (catalog/hosts.py), every
    URL of the spec rendered with these values under the host rules, an operator URL's
    addresses (connections.outbound: public, or opened by OUTBOUND_ALLOW), and a typed test
    path (a path below the base URL, never an address). Messages never quote the value.
    """
    spec = app.spec or {}
    fields = spec.get("fields") or []
    allowed_hosts = spec.get("allowed_hosts") or ()
    errors = {}
    for field in fields:
        key, value = field["key"], values.get(field["key"])
        if key in skip or value is None or value == "" or not field.get("format"):
            continue
        problem = hosts.field_value_problem(
            value, format=field["format"], allowed_hosts=allowed_hosts,
            suffix=_suffix_for(spec, key),
        )  # fmt: skip
        if problem is None and field["format"] == "url":
            try:
                outbound.check_operator_url(str(value))
            except outbound.OutboundRefused as refused:
                problem = refused.message
        if problem:
            errors[key] = _unsafe(problem)
    typed_path = hosts.typed_test_path(spec)
    for path, template in hosts.spec_url_templates(spec):
        try:
            if path == "test.path" and typed_path in values:
                problem = hosts.path_problem(str(values[typed_path]))
                if problem and typed_path not in errors and typed_path not in skip:
                    errors[typed_path] = _unsafe(problem)
                continue
            hosts.render_url(
                template, {**values, "sandbox": settings.SANDBOX_URL},
                fields=hosts.spec_fields(spec, path=path), allowed_hosts=allowed_hosts,
            )  # fmt: skip
        except hosts.UnsafeUrl as exc:
            if exc.field and exc.field not in errors and exc.field not in skip:
                errors[exc.field] = _unsafe(exc.problem)
        except TemplateError:
            continue  # a value still missing is the required-field check's to report
    return errors


def _suffix_for(spec: dict, key: str) -> str:
    """Return the fixed host after a subdomain field (".zendesk.com"), for its hint."""
    for _path, template in hosts.spec_url_templates(spec):
        if "{" + key + "}" in template:
            suffix = hosts.host_suffix(template, fields=spec.get("fields") or [])
            if suffix:
                return suffix
    return ""


def value_at(payload, path: str):
    """Return the value at a dotted path of a JSON answer (`team.id`, `0.tenantId`), or None
    when absent: account labels, expectations, captures and nested tokens read answers with it."""
    value = payload
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def join_url(base: str, path: str) -> str:
    """Return path when absolute, else base_url + path."""
    if path.startswith(("http://", "https://")):
        return path
    if not path:
        return base
    return base.rstrip("/") + "/" + path.lstrip("/")


def allow_loopback_http(url: str) -> None:
    """Let oauthlib use plain http for the sandbox and loopback only (development and tests)."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        return
    sandbox = settings.SANDBOX_ENABLED and url.startswith(settings.SANDBOX_URL)
    if sandbox or (parts.hostname or "") in LOOPBACK_HOSTS:
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


# --- OAuth state -----------------------------------------------------------------------------


def state_hash(state: str, *, bound: bool = True) -> str:
    raw = state if bound else UNBOUND_STATE_PREFIX + state
    return hashlib.sha256(raw.encode()).hexdigest()


def new_state() -> str:
    return secrets.token_urlsafe(32)


def is_session_bound(request) -> bool:
    """Return whether a callback for this request's attempt must come from the same session."""
    return (
        request is not None
        and hasattr(request, "session")
        and getattr(request, "api_token", None) is None
    )


def bind_state(attempt, request, state: str) -> None:
    """Store the state's hash on the attempt and, for browsers, tie it to the session."""
    bound = is_session_bound(request)
    attempt.state_hash = state_hash(state, bound=bound)
    if bound:
        request.session[SESSION_STATE_PREFIX + attempt.state_hash] = str(attempt.id)


# --- The app's OAuth client and its endpoints' failures --------------------------------------


# The credentials key naming the company's own OAuth client that minted them (its pk); absent
# when the platform's client did. Sealed with the tokens, so every mode method that receives
# credentials (session, refresh, revoke) signs with the client that minted the grant.
TENANT_CLIENT_KEY = "tenant_client"


def tenant_client_secret(client: TenantOAuthClient) -> str:
    """Return the plaintext secret of a company's OAuth client (for the provider only)."""
    return secret_open(secret=client.client_secret, purpose=TENANT_CLIENT_PURPOSE)["client_secret"]


def _retired_failure(app, client) -> ConnectionFailure:
    what = "replaced" if client is not None and client.retired_reason == "replaced" else "removed"
    return ConnectionFailure(
        ErrorCode.CONNECTION_EXPIRED,
        f"Your company's own {app.name} OAuth client that linked this connection was {what}: "
        "re-authorize the connection.",
    )


def oauth_client_for(app, credentials=None, *, tenant_client=None):
    """Return (client, client_secret): the company's own client that minted the credentials (or
    `tenant_client`, an attempt's), else the platform's registration.

    A company client that was replaced or removed raises connection_expired (re-authorize);
    no registration at all raises app_unavailable.
    """
    pk = (credentials or {}).get(TENANT_CLIENT_KEY)
    if tenant_client is None and pk:
        tenant_client = (
            TenantOAuthClient.all_objects.select_related("client_secret").filter(pk=pk, app=app).first()
        )
        if tenant_client is None:
            raise _retired_failure(app, None)
    if tenant_client is not None:
        if not tenant_client.is_live or not tenant_client.client_secret_id:
            raise _retired_failure(app, tenant_client)
        return tenant_client, tenant_client_secret(tenant_client)
    try:
        client = app.oauth_client
    except OAuthClient.DoesNotExist:
        raise ConnectionFailure(
            ErrorCode.APP_UNAVAILABLE,
            f"{app.name} has no OAuth client registration yet: a system administrator must add one.",
        ) from None
    secret = oauth_client_secret(client) if client.client_secret_id else ""
    return client, secret


def retry_after_seconds(response) -> float | None:
    """Return the Retry-After of a response in seconds, or None."""
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def unavailable_from_response(app, response, where: str) -> ConnectionFailure:
    """Return the app_unavailable failure for a 5xx or 429 answer of one of the app's endpoints."""
    return ConnectionFailure(
        ErrorCode.APP_UNAVAILABLE,
        f"{app.name} answered HTTP {response.status_code} at its {where}.",
        http_status=response.status_code,
        retry_after=retry_after_seconds(response),
    )


def unavailable_from_exception(app, exc, where: str) -> ConnectionFailure:
    """Return the failure for a request that did not get an answer (REQUEST_ERRORS).

    A request the outbound layer refused to send (a private address, a scheme…) is
    test_failed with its message: nothing was asked of the app, so nothing is transient about
    it. A timeout or an unreachable host is app_unavailable.
    """
    if isinstance(exc, outbound.OutboundRefused) and not isinstance(exc, requests.RequestException):
        return ConnectionFailure(ErrorCode.TEST_FAILED, f"{app.name}'s {where} was not called: {exc.message}")
    if isinstance(exc, requests.Timeout):
        message = f"{app.name} did not answer within {http_timeout():g} seconds at its {where}."
    elif isinstance(exc, requests.ConnectionError):
        message = f"{app.name} could not be reached at its {where}."
    else:
        message = f"The request to {app.name}'s {where} failed ({type(exc).__name__})."
    return ConnectionFailure(ErrorCode.APP_UNAVAILABLE, message)


# --- The interface ---------------------------------------------------------------------------


class BaseMode:
    """One auth mode. Subclasses fill the interface; provider differences come from app.spec."""

    name = ""
    redirects = False  # start() sends the person to the provider, who calls the callback back
    needs_client = False  # the app needs an OAuth client registration before it can be linked
    has_scopes = False  # the connection window offers the app's scopes
    takes_rows = False  # the operator types their own header and query rows
    expiring = False  # access tokens expire and are renewed by refresh()

    def start(self, attempt, *, request, secret_values) -> str | None:
        """Begin an attempt; return the provider's authorize URL, or None when credentials are ready."""
        raise NotImplementedError

    def complete(self, attempt, *, request, params) -> dict:
        """Return the attempt's credentials (after the callback, for redirecting modes)."""
        raise NotImplementedError

    def callback_state(self, params) -> str | None:
        """Return the value of a callback that identifies its attempt (the state)."""
        return None

    def session(self, app, config, credentials) -> requests.Session:
        """Return a session that signs requests to the app with the credentials."""
        raise NotImplementedError

    def refresh(self, app, config, credentials) -> dict:
        """Return renewed credentials, or raise ConnectionFailure."""
        raise ConnectionFailure(ErrorCode.CONNECTION_EXPIRED, f"{app.name} connections cannot be refreshed.")

    def revoke(self, app, config, credentials) -> None:
        """Withdraw the grant at the app, when the app supports it (revoke_supported)."""
        return None

    def revoke_supported(self, app) -> bool:
        """Return whether revoke() withdraws anything at the app."""
        return False

    def revokes_released_grants(self, app) -> bool:
        """Return whether a grant we let go of (superseded or never used) is revoked at the app.

        Only where each consent makes its own grant: revoking one then leaves the others alive.
        """
        return False

    def single_grant(self, app) -> bool:
        """Return whether the app keeps one live grant per user and client (a new consent returns it)."""
        return False

    def can_refresh(self, app, credentials) -> bool:
        """Return whether these credentials can be renewed without the person."""
        return False

    def expired_statuses(self, app) -> frozenset:
        """Return the statuses with which the app says the access token has expired."""
        return frozenset({401})

    def requested_scopes(self, app, scopes, connection=None) -> list:
        """Return the scopes an attempt asks for (the connection's or the defaults when none)."""
        return []

    def granted_scopes(self, attempt, credentials) -> list:
        return []

    def expires_at(self, credentials) -> float | None:
        return None

    def split_values(self, app, field_values) -> tuple[dict, dict]:
        """Return (config, secret values) from the operator's typed values; ValidationError when missing."""
        field_values = dict(field_values or {})
        config, secret_values, errors = {}, {}, {}
        for field in (app.spec or {}).get("fields") or []:
            key = field["key"]
            value = field_values.get(key)
            if value is None or value == "":
                value = field.get("default", "")
            value = str(value).strip() if not field.get("secret") else str(value)
            if not value.strip():
                if field.get("required", True) and not field.get("optional", False):
                    errors[key] = f"{field.get('label', key)} is required."
                continue
            problem = field_choice_problem(field, value)
            if problem:
                errors[key] = problem
                continue
            (secret_values if field.get("secret") else config)[key] = value
            config.update(choice_hosts(field, value))
        errors.update(unsafe_values(app, {**config, **secret_values}, skip=errors))
        if errors:
            raise ValidationError(errors)
        return config, secret_values

    def base_session(self, app, config, credentials, *, session_class=None) -> TimeoutSession:
        """Return a session with the app's static headers and its base_url attribute."""
        values = template_values(app, config, credentials)
        session = outbound.harden((session_class or TimeoutSession)())
        spec = app.spec or {}
        for header, template in (spec.get("headers") or {}).items():
            session.headers[header] = render(app, template, values)
        session.base_url = render_url(app, spec.get("base_url", ""), values)
        return session
