"""Connection failures and the words shown to people for each error code."""

import re

from django.utils.translation import gettext_lazy as _

from .models import ErrorCode

MAX_PROVIDER_TEXT = 160

EXPLANATIONS = {
    ErrorCode.AUTHORIZATION_REJECTED: {
        "title": _("Authorization rejected"),
        "cause": _(
            "The app did not grant access: the consent was denied or cancelled, the sign-in link "
            "expired or was already used, or the app refused our request for access."
        ),
        "remedy": _(
            "Click “Link an account” again and approve the access at the app. If it keeps "
            "failing, ask a system administrator to check the app's OAuth client registration."
        ),
    },
    ErrorCode.CONNECTION_EXPIRED: {
        "title": _("Connection expired"),
        "cause": _(
            "The app no longer accepts this connection's credentials: the access was revoked at "
            "the app, the password or key was changed, or the grant timed out."
        ),
        "remedy": _("Click “Re-authorize” to link the account again; the connection keeps its name and history."),
    },
    ErrorCode.TEST_FAILED: {
        "title": _("Test failed"),
        "cause": _(
            "The app refused the credentials when we tried them: the key, password or account "
            "details are wrong, or the account lacks the needed permission."
        ),
        "remedy": _("Check the values you typed (copy the key again from the app) and try again."),
    },
    ErrorCode.APP_UNAVAILABLE: {
        "title": _("App unavailable"),
        "cause": _(
            "The app did not answer properly: it was down, too slow, returned a server error or "
            "asked us to slow down."
        ),
        "remedy": _("Nothing is wrong with your credentials. Try again in a few minutes; checks retry on their own."),
    },
}


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


class CallbackRejected(ConnectionFailure):
    """An OAuth callback that must not be acted on (missing, wrong, replayed or expired state)."""

    def __init__(self, message, attempt=None):
        super().__init__(ErrorCode.AUTHORIZATION_REJECTED, message, http_status=400)
        self.attempt = attempt

    def __reduce__(self):
        return (CallbackRejected, (self.message,))


def explain(code) -> dict:
    """Return the title, cause and remedy shown to people for an error code."""
    try:
        code = ErrorCode(code)
    except ValueError:
        return {"title": _("Error"), "cause": _("Something went wrong."), "remedy": _("Try again.")}
    return dict(EXPLANATIONS[code])


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
