"""Auth modes: one class per mode behind one interface, chosen by the app's auth mode.

Interface (connections/auth/base.py, BaseMode):
  start(attempt, *, request, secret_values) -> redirect URL or None (None: credentials ready)
  complete(attempt, *, request, params) -> credentials dict
  session(app, config, credentials) -> requests.Session that signs requests (timeout set)
  refresh(app, config, credentials) -> new credentials dict (raises ConnectionFailure)
  revoke(app, config, credentials) -> None (the spec's revoke style, auth/revoke.py)
What callers ask instead of comparing auth modes: redirects, needs_client, has_scopes,
takes_rows, expiring, can_refresh(), revoke_supported(), revokes_released_grants(),
single_grant(), requested_scopes(), split_values().
"""

import logging

from .base import BaseMode
from .client_credentials import ClientCredentialsMode
from .keys import ApiKeyMode, BasicMode, CustomMode
from .oauth1 import OAuth1Mode
from .oauth2 import OAuth2Mode

# These libraries log request bodies, tokens and URLs (with query keys) at DEBUG level.
for _name in ("requests_oauthlib", "oauthlib", "urllib3.connectionpool"):
    logging.getLogger(_name).setLevel(logging.INFO)

MODES: dict[str, BaseMode] = {
    mode.name: mode
    for mode in (
        OAuth2Mode(), OAuth1Mode(), ApiKeyMode(), BasicMode(), CustomMode(), ClientCredentialsMode(),
    )
}


def get_mode(auth_mode: str) -> BaseMode:
    """Return the auth mode for an App.auth_mode value."""
    try:
        return MODES[str(auth_mode)]
    except KeyError:
        raise ValueError(f"Unknown auth mode {auth_mode!r}.") from None


def mode_for(app) -> BaseMode:
    """Return the auth mode of an app."""
    return get_mode(app.auth_mode)


def expiring_modes() -> list[str]:
    """Return the auth modes whose access tokens expire and are refreshed (for sweeps)."""
    return [name for name, mode in MODES.items() if mode.expiring]


__all__ = ["MODES", "get_mode", "mode_for", "expiring_modes", "BaseMode"]
