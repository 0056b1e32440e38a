"""API key, basic and custom auth: the credentials are what the operator typed."""

from django.core.exceptions import ValidationError

from vault.services import secret_open, secret_seal

from ..models import ATTEMPT_PURPOSE
from .base import BaseMode, render, template_values

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
