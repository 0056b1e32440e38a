"""What every auth mode shares: templates from the provider spec, sessions with a timeout, state."""

import hashlib
import secrets

import requests
from django.conf import settings

from catalog.templating import TemplateError, render_template

from ..errors import ConnectionFailure
from ..models import ErrorCode

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
    values = {}
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
        raise ConnectionFailure(
            ErrorCode.TEST_FAILED,
            f"{app.name} is missing a setting: {exc.errors[0] if exc.errors else 'a value'}.",
        ) from None


def join_url(base: str, path: str) -> str:
    """Return path when absolute, else base_url + path."""
    if path.startswith(("http://", "https://")):
        return path
    if not path:
        return base
    return base.rstrip("/") + "/" + path.lstrip("/")


def state_hash(state: str, *, bound: bool = True) -> str:
    raw = state if bound else UNBOUND_STATE_PREFIX + state
    return hashlib.sha256(raw.encode()).hexdigest()


def new_state() -> str:
    return secrets.token_urlsafe(32)


def is_session_bound(request) -> bool:
    """Return whether a callback for this request's attempt must come from the same session."""
    return request is not None and hasattr(request, "session") and getattr(request, "api_token", None) is None


def bind_state(attempt, request, state: str) -> None:
    """Store the state's hash on the attempt and, for browsers, tie it to the session."""
    bound = is_session_bound(request)
    attempt.state_hash = state_hash(state, bound=bound)
    if bound:
        request.session[SESSION_STATE_PREFIX + attempt.state_hash] = str(attempt.id)


class BaseMode:
    """One auth mode. Subclasses fill the interface; provider differences come from app.spec."""

    name = ""
    redirects = False  # True when start() sends the person to the provider

    def start(self, attempt, *, request, secret_values) -> str | None:
        raise NotImplementedError

    def complete(self, attempt, *, request, params) -> dict:
        raise NotImplementedError

    def callback_state(self, params) -> str | None:
        """Return the value of a callback that identifies its attempt (the state)."""
        return None

    def session(self, app, config, credentials) -> requests.Session:
        raise NotImplementedError

    def refresh(self, app, config, credentials) -> dict:
        raise ConnectionFailure(ErrorCode.CONNECTION_EXPIRED, f"{app.name} connections cannot be refreshed.")

    def revoke(self, app, config, credentials) -> None:
        return None

    def can_refresh(self, app, credentials) -> bool:
        return False

    def granted_scopes(self, attempt, credentials) -> list:
        return []

    def expires_at(self, credentials) -> float | None:
        return None

    def base_session(self, app, config, credentials) -> TimeoutSession:
        """Return a session with the app's static headers and its base_url attribute."""
        values = template_values(app, config, credentials)
        session = TimeoutSession()
        spec = app.spec or {}
        for header, template in (spec.get("headers") or {}).items():
            session.headers[header] = render(app, template, values)
        session.base_url = render(app, spec.get("base_url", ""), values)
        return session
