"""Values an app reports after the token, kept in the connection's config (catalog/SPEC.md).

`captures` name where each value comes from: the token answer (`token`), the callback's query
(`callback`) or the answer of the spec's `lookup`, one request sent with the fresh token
(`lookup`). A value is read at a dotted path (`team.id`, `accounts.0.base_uri`), checked
against its format (a `hostname` must match the spec's allowed_hosts; a URL given for a
`hostname` capture keeps its host only) and stored in the attempt's config, so that base_url,
headers and the test request can name it and the connection page can show it.
"""

from urllib.parse import urlsplit

from django.views.decorators.debug import sensitive_variables

from catalog import hosts

from .. import outbound
from ..errors import ConnectionFailure
from ..models import ErrorCode
from .base import (
    REQUEST_ERRORS,
    TimeoutSession,
    choice_hosts,
    render,
    render_url,
    template_values,
    unavailable_from_exception,
    unavailable_from_response,
    value_at,
)

MAX_LENGTH = 500


@sensitive_variables("credentials", "token", "values")
def capture_values(app, *, config: dict, token: dict, params: dict, credentials: dict, auth) -> dict:
    """Return {capture key: value} read from the token answer, the callback and the lookup.

    Raises ConnectionFailure (test_failed) when a required value is missing or breaks its
    format, naming the value by its label, never quoting it; the connection is not created.
    """
    spec = app.spec or {}
    captures = spec.get("captures") or []
    if not captures:
        return {}
    sources = {"token": dict(token or {}), "callback": dict(params or {})}
    if any(capture["from"] == "lookup" for capture in captures):
        sources["lookup"] = lookup_answer(app, spec["lookup"], config=config, credentials=credentials, auth=auth)
    return _read(app, captures, sources)


def callback_values(app, params: dict) -> dict:
    """Return {capture key: value} of the `from: callback` captures, read before the code exchange.

    A callback capture may name an enum field (zoho-crm `accounts_host` from `accounts-server`):
    the value reported replaces the chosen one, with the hosts that choice sets, so the token
    request, refresh, revoke and calls go where the provider named; it must be one of the
    field's choices. Raises ConnectionFailure like capture_values, before any request is sent.
    """
    captures = [c for c in (app.spec or {}).get("captures") or [] if c["from"] == "callback"]
    return _read(app, captures, {"callback": dict(params or {})}) if captures else {}


def _read(app, captures: list, sources: dict) -> dict:
    values = {}
    for capture in captures:
        raw = value_at(sources[capture["from"]], capture["path"])
        if raw is None or raw == "" or isinstance(raw, (dict, list, bool)):
            if capture.get("optional"):
                continue
            raise ConnectionFailure(
                ErrorCode.TEST_FAILED,
                f"{app.name} did not report the {capture['label']} this app needs; try linking again.",
            )
        value = _checked(app, capture, str(raw))
        values[capture["key"]] = value
        replaced = _field_replaced(app.spec or {}, capture["key"])
        if replaced is not None:
            values.update(choice_hosts(replaced, value))  # the hosts that choice sets (zoho-desk)
    return values


def _checked(app, capture: dict, value: str) -> str:
    """Return the value to keep for a capture, or raise ConnectionFailure saying what is wrong."""
    spec = app.spec or {}
    fmt = capture.get("format") or "text"
    if fmt == "hostname" and "://" in value:
        value = _host_of(value)
    problem = None
    if len(value) > MAX_LENGTH:
        problem = f"longer than {MAX_LENGTH} characters"
    else:
        in_url = any("{" + capture["key"] + "}" in template for _path, template in hosts.spec_url_templates(spec))
        problem = hosts.field_value_problem(
            value, format=None if fmt == "text" else fmt, allowed_hosts=spec.get("allowed_hosts") or (),
            in_url=in_url,
        )  # fmt: skip
    field = _field_replaced(spec, capture["key"])
    if field is not None:  # the value replaces a choice (Zoho's accounts-server): a listed one only
        kept = value.lower() if fmt in ("hostname", "subdomain") else value
        options = field.get("enum") or []
        if not problem and kept in [option["value"] for option in options]:
            return kept
        raise ConnectionFailure(
            ErrorCode.TEST_FAILED,
            f"{app.name} answered with a {capture['label']} this app does not accept; it links accounts of "
            + ", ".join(option.get("label") or option["value"] for option in options)
            + " only.",
        )
    if problem:
        raise ConnectionFailure(
            ErrorCode.TEST_FAILED,
            f"{app.name} reported a {capture['label']} this app does not accept: {problem}",
        )
    return value.lower() if fmt in ("hostname", "subdomain") else value


def _field_replaced(spec: dict, key: str) -> dict | None:
    """Return the field a capture replaces (a callback capture naming an enum field), or None."""
    return next((field for field in spec.get("fields") or [] if field["key"] == key), None)


def _host_of(url: str) -> str:
    """Return the host of a bare origin URL (`https://acme.my.salesforce.com`), else ""."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError for a malformed port)
    except ValueError:
        return ""
    if (
        parts.scheme != "https" or parts.path not in ("", "/") or parts.query or parts.fragment
        or "@" in parts.netloc or parts.port is not None
    ):  # fmt: skip
        return ""
    return host


@sensitive_variables("credentials", "values", "headers")
def lookup_answer(app, lookup: dict, *, config: dict, credentials: dict, auth):
    """Send the spec's lookup with the fresh token; return its JSON answer or raise ConnectionFailure."""
    values = {**template_values(app, config), "access_token": credentials.get("access_token") or ""}
    url = render_url(app, lookup["url"], values)
    headers = {name: render(app, value, values) for name, value in (lookup.get("headers") or {}).items()}
    with outbound.harden(TimeoutSession()) as http:
        http.auth = None if "Authorization" in headers else auth
        try:
            response = http.request(lookup.get("method") or "GET", url, headers=headers)
        except REQUEST_ERRORS as exc:
            raise unavailable_from_exception(app, exc, "account lookup") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise unavailable_from_response(app, response, "account lookup")
    if response.status_code >= 400:
        raise ConnectionFailure(
            ErrorCode.AUTHORIZATION_REJECTED,
            f"{app.name} refused the account lookup (HTTP {response.status_code}).",
            http_status=response.status_code,
        )
    try:
        return response.json()
    except ValueError:
        raise ConnectionFailure(ErrorCode.TEST_FAILED, f"{app.name}'s account lookup did not answer JSON.") from None


def reported_values(app, config: dict) -> list[dict]:
    """Return [{label, value}] of the captured values a connection holds, for its page."""
    return [
        {"label": capture["label"], "value": config[capture["key"]]}
        for capture in (app.spec or {}).get("captures") or []
        if config.get(capture["key"]) not in (None, "")
    ]
