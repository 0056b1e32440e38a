"""System checks: refuse to start without a well-formed vault keyring."""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from .keyring import KeyringError, parse_keyring


@checks.register(checks.Tags.security, deploy=False)
def check_vault_keys(app_configs=None, **kwargs):
    try:
        parse_keyring(getattr(settings, "VAULT_KEYS", ""))
    except KeyringError as exc:
        return [
            checks.Error(
                str(exc),
                hint="See README.md: 'Environment variables' and 'Rotating vault keys'.",
                id="vault.E001",
            )
        ]
    return []


@checks.register(checks.Tags.security)
def check_secret_key(app_configs=None, **kwargs):
    if not settings.SECRET_KEY:
        return [
            checks.Error(
                "SECRET_KEY is not set.",
                hint="Set SECRET_KEY to a long random string (50+ characters).",
                id="vault.E002",
            )
        ]
    return []


def require_keyring() -> None:
    """Stop a server or worker process at start-up when VAULT_KEYS is missing or malformed.

    gunicorn and Celery do not run system checks, so without this a bad key would only
    surface at the first secret a user tries to open.
    """
    try:
        parse_keyring(getattr(settings, "VAULT_KEYS", ""))
    except KeyringError as exc:
        raise ImproperlyConfigured(str(exc)) from None
