"""Connection failures: what went wrong (a code and a message safe to show), and provider text
made safe to show. The words people read for each code are in presenters.py.
"""

import re

from .models import ErrorCode
from .presenters import explain

MAX_PROVIDER_TEXT = 160


# The code of a ValidationError for a typed value no request may use (the API answers 422).
UNSAFE_VALUE = "unsafe"


class ConnectionFailure(Exception):
    """A connection step failed; `message` is safe to show (never a secret)."""

    def __init__(self, code, message, http_status=None, retry_after=None, provider_error=None):
        self.code = ErrorCode(code)
        self.message = str(message)
        self.http_status = http_status
        self.retry_after = retry_after
        # The OAuth error string ("invalid_grant", …) when the provider sent one.
        self.provider_error = provider_error
        super().__init__(self.message)

    def __reduce__(self):
        # Pickle-safe (Celery, multiprocessing): rebuild from the same arguments.
        return (ConnectionFailure, (self.code.value, self.message, self.http_status, self.retry_after, self.provider_error))

    def __repr__(self):
        return f"ConnectionFailure({self.code.value!r}, {self.message!r}, http_status={self.http_status!r})"

    @property
    def explanation(self) -> dict:
        return explain(self.code)


class ConnectionUnusable(Exception):
    """The connection cannot be used, checked or refreshed (revoked, unpublished, no secret)."""


class CallbackRejected(ConnectionFailure):
    """An OAuth callback that must not be acted on (missing, wrong, replayed or expired state)."""

    def __init__(self, message, attempt=None):
        super().__init__(ErrorCode.AUTHORIZATION_REJECTED, message, http_status=400)
        self.attempt = attempt

    def __reduce__(self):
        return (CallbackRejected, (self.message,))


_TOKENISH = re.compile(r"[A-Za-z0-9_\-\.~+/=]{24,}")
_UNSAFE = re.compile(r"[^\w\s.,:;!?'()\-/@]")


def sanitize_provider_text(text, limit: int = MAX_PROVIDER_TEXT) -> str:
    """Return provider-supplied text safe to show: one line, short, no token-like strings."""
    if not text:
        return ""
    text = " ".join(str(text).split())
    text = _UNSAFE.sub("", text)
    text = _TOKENISH.sub("[…]", text)
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text
