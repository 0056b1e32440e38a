"""Send an app's test request with some credentials and say whose account they open."""

import json

from catalog.hosts import path_problem, typed_test_path

from .auth import mode_for
from .auth.base import (
    REQUEST_ERRORS,
    field_label,
    join_url,
    render,
    render_url,
    retry_after_seconds,
    template_values,
    unavailable_from_exception,
    value_at,
)
from .errors import ConnectionFailure, sanitize_provider_text
from .models import ErrorCode


def account_from(payload, path: str | None) -> str:
    """Return the account label at a dotted path of a JSON answer, or "" when absent."""
    value = value_at(payload, path) if path else None
    if isinstance(value, (dict, list)) or value is None:
        return ""
    return str(value)[:255]


def refusal_in(payload, expect: dict) -> str | None:
    """Return why a 200 answer still refuses the credentials (spec test.expect), or None."""
    for path, wanted in expect.items():
        found = value_at(payload, path) if isinstance(payload, (dict, list)) else None
        if found != wanted:
            reason = value_at(payload, "error") if isinstance(payload, dict) else None
            detail = f" ({sanitize_provider_text(reason)})" if isinstance(reason, str) and reason else ""
            return f"{path} is {json.dumps(found)}, not {json.dumps(wanted)}{detail}"
    return None


def test_url(app, base_url: str, values: dict) -> str:
    """Return the URL of the app's test request, on the host its spec fixes.

    A test path that is one typed field (the Custom REST API's `{test_path}`) is a path below
    the operator's base URL: never an absolute address, `//host`, `..` or an escaped slash.
    Any other test path renders with the host rules, as a spec URL (catalog/hosts.py).
    """
    spec = app.spec or {}
    typed = typed_test_path(spec)
    if typed in values:
        problem = path_problem(str(values[typed]))
        if problem:
            raise ConnectionFailure(
                ErrorCode.TEST_FAILED, f"{app.name}'s {field_label(app, typed)}: {problem}"
            )
        return join_url(base_url, str(values[typed]))
    # join_url keeps an absolute test path as it is: render_url then holds it to the host rules.
    path = (spec.get("test") or {}).get("path", "")
    return render_url(app, join_url(spec.get("base_url", ""), path), values)


def run_test(app, config, credentials, *, existing: bool = False) -> str:
    """Send the app's test request; return the account label or raise ConnectionFailure.

    401/403 mean test_failed for a new attempt and connection_expired for an existing
    connection (`existing=True`); 5xx, 429, timeouts and connection errors mean app_unavailable.
    """
    spec = (app.spec or {}).get("test") or {}
    session = mode_for(app).session(app, config or {}, credentials or {})
    values = template_values(app, config, credentials)
    url = test_url(app, session.base_url, values)
    headers = {key: render(app, value, values) for key, value in (spec.get("headers") or {}).items()}
    kwargs = {"headers": headers}
    if spec.get("body") is not None and spec.get("method", "GET") == "POST":
        kwargs["json"] = spec["body"]
    try:
        with session:
            response = session.request(spec.get("method", "GET"), url, allow_redirects=False, **kwargs)
    except REQUEST_ERRORS as exc:
        raise unavailable_from_exception(app, exc, "API") from None
    status = response.status_code
    if status >= 500 or status == 429:
        raise ConnectionFailure(
            ErrorCode.APP_UNAVAILABLE,
            f"{app.name} answered HTTP {status} to the test request.",
            http_status=status,
            retry_after=retry_after_seconds(response),
        )
    if status in (401, 403):
        if existing:
            raise ConnectionFailure(
                ErrorCode.CONNECTION_EXPIRED,
                f"{app.name} no longer accepts this connection's credentials (HTTP {status}).",
                http_status=status,
            )
        raise ConnectionFailure(
            ErrorCode.TEST_FAILED, f"{app.name} refused the credentials (HTTP {status}).", http_status=status
        )
    if status >= 300:
        raise ConnectionFailure(
            ErrorCode.TEST_FAILED, f"{app.name} answered HTTP {status} to the test request.", http_status=status
        )
    expect = spec.get("expect") or {}
    if not spec.get("account") and not expect:
        return ""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    refusal = refusal_in(payload, expect) if expect else None
    if refusal:
        code = ErrorCode.CONNECTION_EXPIRED if existing else ErrorCode.TEST_FAILED
        raise ConnectionFailure(code, f"{app.name} refused the credentials: {refusal}.", http_status=status)
    return account_from(payload, spec.get("account"))
