"""Auth modes: one class per mode behind one interface, chosen by the app's auth mode.

Interface (see connections/auth/base.py):
  start(attempt, *, request, secret_values) -> redirect URL or None (None: credentials ready)
  complete(attempt, *, request, params) -> credentials dict
  session(app, config, credentials) -> requests.Session that signs requests (timeout set)
  refresh(app, config, credentials) -> new credentials dict (oauth2; raises ConnectionFailure)
  revoke(app, config, credentials) -> None (RFC 7009 when the spec has a revoke_url)
"""

import logging

from .base import BaseMode
from .keys import ApiKeyMode, BasicMode, CustomMode
from .oauth1 import OAuth1Mode
from .oauth2 import OAuth2Mode

# These libraries log request bodies, tokens and URLs (with query keys) at DEBUG level.
for _name in ("requests_oauthlib", "oauthlib", "urllib3.connectionpool"):
    logging.getLogger(_name).setLevel(logging.INFO)

MODES: dict[str, BaseMode] = {
    mode.name: mode for mode in (OAuth2Mode(), OAuth1Mode(), ApiKeyMode(), BasicMode(), CustomMode())
}


def get_mode(auth_mode: str) -> BaseMode:
    """Return the auth mode for an App.auth_mode value."""
    try:
        return MODES[str(auth_mode)]
    except KeyError:
        raise ValueError(f"Unknown auth mode {auth_mode!r}.") from None


__all__ = ["MODES", "get_mode", "BaseMode"]
