"""API key, basic and custom auth: the credentials are what the operator typed."""

import re
from urllib.parse import quote, urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

from catalog.templating import TemplateError, render_template, template_names
from vault.services import secret_open, secret_seal

from .. import outbound
from ..errors import ConnectionFailure
from ..models import ATTEMPT_PURPOSE, ErrorCode
from .base import BaseMode, TimeoutSession, field_label, render, template_values

CUSTOM_ROWS = {"headers": "header", "query": "query parameter"}


def typed_rows(value, label: str) -> dict:
    """Return custom header/query rows as a dict from a dict or a list of (name, value) pairs."""
    if not value:
        return {}
    if isinstance(value, dict):
        items = value.items()
    else:
        items = []
        for row in value:
            if isinstance(row, dict):
                items.append((row.get("name", ""), row.get("value", "")))
            else:
                items.append(tuple(row))
    result = {}
    for name, row_value in items:
        name = str(name or "").strip()
        if not name:
            continue
        if any(c in name for c in "\r\n:") or " " in name and label == "headers":
            raise ValidationError({label: f"“{name[:40]}” is not a valid {CUSTOM_ROWS[label]} name."})
        row_value = str(row_value or "")
        if "\r" in row_value or "\n" in row_value:
            raise ValidationError({label: f"The value of “{name[:40]}” must be on one line."})
        result[name] = row_value
    return result


# apply.path_prefix once rendered: one path segment of RFC 3986 unreserved characters and ":",
# not starting with "." (so never "." or ".."): nothing in it can end the segment, start a query
# or a fragment, name a user@host or climb out of the path. Checked when typed and when sent.
SAFE_PREFIX = re.compile(r"/(?!\.)[A-Za-z0-9._~:-]+")
PREFIX_PROBLEM = "it may hold only letters, digits and - _ . ~ : (it becomes part of the request path)."


def _prefix_template(app) -> str:
    return ((app.spec or {}).get("apply") or {}).get("path_prefix") or ""


@sensitive_variables("values", "rendered")
def path_prefix_problems(app, values: dict) -> dict:
    """Return {field key: message} for the fields that would make apply.path_prefix unsafe.

    The field's `pattern` refuses such a value first; this holds even for a spec without one.
    Never quotes the value.
    """
    template = _prefix_template(app)
    if not template:
        return {}
    try:
        rendered = render_template(template, values)
    except TemplateError:
        return {}  # a missing value is the required-field check's to report
    if SAFE_PREFIX.fullmatch(rendered):
        return {}
    names = [name for name in template_names(template) if name in values] or template_names(template)
    return {name: f"{field_label(app, name)} cannot be used: {PREFIX_PROBLEM}" for name in names}


class PathPrefixSession(TimeoutSession):
    """A session that puts a secret prefix in front of each request's path (apply.path_prefix:
    Telegram's /bot<token>) at send time only, and takes it out of whatever comes back.

    `base_url`, the URL a caller passes, `response.url`, `response.request.url` and the text of
    any exception raised never hold it; the prefix is only on the wire. A request to any other
    scheme, host or port than base_url's is refused before anything is sent: the credential
    travels to the app's own host only.
    """

    path_prefix = ""
    hidden: tuple = ()  # the prefix and the secret values in it, plain and percent-encoded

    def send(self, request, **kwargs):
        shown = request.url
        parts, origin = urlsplit(shown), urlsplit(self.base_url)
        base_path = origin.path.rstrip("/")
        same_origin = (parts.scheme.lower(), parts.netloc.lower()) == (origin.scheme.lower(), origin.netloc.lower())
        if not same_origin or not (parts.path == base_path or parts.path.startswith(base_path + "/")):
            raise outbound.OutboundRefused(
                "bad_url", f"This connection's credential goes only to {origin.scheme}://{origin.netloc}."
            )
        wire = request.copy()  # the caller's request keeps its URL; only this copy is sent
        path = self.path_prefix + (parts.path or "/")
        wire.url = urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
        failure = None
        try:
            response = super().send(wire, **kwargs)
        except Exception as exc:  # noqa: BLE001 (re-raised below, without the prefix in its text)
            failure = self._scrubbed(exc, request)
        if failure is not None:
            raise failure  # outside the except block: no __context__ holding the original
        self._shown(response, request)
        return response

    @staticmethod
    def _shown(response, request) -> None:
        """Point the response at the caller's request and URL (no prefix)."""
        response.request, response.url = request, request.url
        raw = getattr(response.raw, "_raw", response.raw)
        if hasattr(raw, "url"):
            try:
                raw.url = request.url
            except (AttributeError, TypeError):
                pass

    def _clean(self, text) -> str:
        text = str(text)
        for secret in self.hidden:
            text = text.replace(secret, "…")
        return text

    def _scrubbed(self, exc: Exception, request) -> Exception:
        """Return the exception with the prefix taken out of its text (requests and urllib3 put
        the requested URL there), its request and response the caller's, and its chain cut (the
        wrapped urllib3 error holds the URL)."""
        exc.args = tuple(self._clean(arg) for arg in exc.args)
        if getattr(exc, "request", None) is not None:
            exc.request = request
        if getattr(exc, "response", None) is not None:
            self._shown(exc.response, request)
        if isinstance(getattr(exc, "message", None), str):
            exc.message = self._clean(exc.message)
        exc.__cause__ = None
        exc.__context__ = None
        exc.__suppress_context__ = True
        return exc


@sensitive_variables("values", "secrets_")
def hidden_forms(prefix: str, secrets_) -> tuple:
    """Return the texts an error must not show: the prefix and each secret, plain and encoded."""
    forms = set()
    for text in (prefix, *secrets_):
        text = str(text)
        if len(text) >= 4:
            forms |= {text, quote(text, safe=""), quote(text, safe="/"), quote(text, safe="/:")}
    return tuple(sorted(forms, key=len, reverse=True))


class TypedCredentialsMode(BaseMode):
    """Credentials are the app's secret fields (and, for custom, header and query rows)."""

    def start(self, attempt, *, request, secret_values) -> None:
        attempt.pending_secret = secret_seal(
            payload={"credentials": dict(secret_values or {})}, purpose=ATTEMPT_PURPOSE
        )
        attempt.save(update_fields=["pending_secret"])
        return None

    def complete(self, attempt, *, request, params) -> dict:
        return dict(secret_open(secret=attempt.pending_secret, purpose=ATTEMPT_PURPOSE)["credentials"])

    def split_values(self, app, field_values) -> tuple[dict, dict]:
        config, secret_values = super().split_values(app, field_values)
        problems = path_prefix_problems(app, template_values(app, config, secret_values))
        if problems:
            raise ValidationError(problems)
        return config, secret_values

    @sensitive_variables("credentials", "values", "rendered")
    def session(self, app, config, credentials):
        apply = (app.spec or {}).get("apply") or {}
        values = template_values(app, config, credentials)
        prefix = _prefix_template(app)
        session_class = PathPrefixSession if prefix else None
        session = self.base_session(app, config, credentials, session_class=session_class)
        if prefix:
            rendered = render(app, prefix, values)
            if not SAFE_PREFIX.fullmatch(rendered):
                labels = ", ".join(field_label(app, name) for name in path_prefix_problems(app, values)) or "credential"
                raise ConnectionFailure(
                    ErrorCode.TEST_FAILED, f"{app.name}'s {labels} cannot be used: {PREFIX_PROBLEM}"
                )
            session.path_prefix = rendered
            named = [values[name] for name in template_names(prefix) if name in values]
            session.hidden = hidden_forms(rendered, named)
        for header, template in (apply.get("headers") or {}).items():
            session.headers[header] = render(app, template, values)
        for param, template in (apply.get("query") or {}).items():
            session.params[param] = render(app, template, values)
        return session


class ApiKeyMode(TypedCredentialsMode):
    name = "api_key"


class BasicMode(TypedCredentialsMode):
    name = "basic"

    def session(self, app, config, credentials):
        session = super().session(app, config, credentials)
        basic = (app.spec or {}).get("basic") or {}
        values = template_values(app, config, credentials)
        session.auth = (
            render(app, basic.get("username", ""), values),
            render(app, basic.get("password", ""), values),
        )
        return session


class CustomMode(TypedCredentialsMode):
    """Any REST API: the operator's own header and query rows, stored with the credentials."""

    name = "custom"
    takes_rows = True

    def split_values(self, app, field_values) -> tuple[dict, dict]:
        config, secret_values = super().split_values(app, field_values)
        for label in CUSTOM_ROWS:
            secret_values[label] = typed_rows((field_values or {}).get(label), label)
        return config, secret_values

    def session(self, app, config, credentials):
        session = super().session(app, config, credentials)
        for header, value in (credentials.get("headers") or {}).items():
            session.headers[str(header)] = str(value)
        for param, value in (credentials.get("query") or {}).items():
            session.params[str(param)] = str(value)
        return session
