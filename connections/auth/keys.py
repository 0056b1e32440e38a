"""API key, basic and custom auth: the credentials are what the operator typed."""

from vault.services import secret_open, secret_seal

from .base import BaseMode, render, template_values

ATTEMPT_PURPOSE = "attempt"


class TypedCredentialsMode(BaseMode):
    """Credentials are the app's secret fields (and, for custom, header and query rows)."""

    def start(self, attempt, *, request, secret_values) -> None:
        attempt.pending_secret = secret_seal(payload={"credentials": dict(secret_values or {})}, purpose=ATTEMPT_PURPOSE)
        attempt.save(update_fields=["pending_secret"])
        return None

    def complete(self, attempt, *, request, params) -> dict:
        return dict(secret_open(secret=attempt.pending_secret, purpose=ATTEMPT_PURPOSE)["credentials"])

    def session(self, app, config, credentials):
        session = self.base_session(app, config, credentials)
        apply = (app.spec or {}).get("apply") or {}
        values = template_values(app, config, credentials)
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
        session.auth = (render(app, basic.get("username", ""), values), render(app, basic.get("password", ""), values))
        return session


class CustomMode(TypedCredentialsMode):
    """Any REST API: the operator's own header and query rows, stored with the credentials."""

    name = "custom"

    def session(self, app, config, credentials):
        session = super().session(app, config, credentials)
        for header, value in (credentials.get("headers") or {}).items():
            session.headers[str(header)] = str(value)
        for param, value in (credentials.get("query") or {}).items():
            session.params[str(param)] = str(value)
        return session
