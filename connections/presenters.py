"""How connections read on a page and in an email: error explanations and the audit timeline.

Views, templates (the `ui` library), the API and alert emails all take their words from here,
so an error code or an Event kind reads the same everywhere.
"""

from django.contrib import messages
from django.utils.translation import gettext_lazy as _

from .models import ConnectionStatus, ErrorCode, EventKind

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
        "remedy": _(
            "Click “Re-authorize” to link the account again; the connection keeps its name and history."
        ),
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
        "remedy": _(
            "Nothing is wrong with your credentials. Try again in a few minutes; checks retry on their own."
        ),
    },
}
UNKNOWN_ERROR = {"title": _("Error"), "cause": _("Something went wrong."), "remedy": _("Try again.")}


def explain(code) -> dict:
    """Return the title, cause and remedy shown to people for an error code."""
    try:
        code = ErrorCode(code)
    except ValueError:
        return dict(UNKNOWN_ERROR)
    return dict(EXPLANATIONS[code])


def failure_context(code, message="") -> dict:
    """Return the template context that shows a failure: its explanation, code and message."""
    return {"explanation": explain(code), "error_code": code, "error_message": message}


# The dot of each Event kind on the timeline: ok (green), fail (red), warn (amber), "" (grey).
TONES = {
    EventKind.CREATED: "ok",
    EventKind.TESTED: "ok",
    EventKind.CHECKED: "ok",
    EventKind.REAUTHORIZED: "ok",
    EventKind.PUBLISHED: "ok",
    EventKind.SUPERSEDED_GRANT_REVOKED: "ok",
    EventKind.DISCARDED_GRANT_REVOKED: "ok",
    EventKind.ATTEMPT_FAILED: "fail",
    EventKind.REVOKED: "fail",
    EventKind.GRANT_REVOKED: "fail",
    EventKind.ACCOUNT_DIFFERS: "warn",
    EventKind.STATUS_CHANGED: "warn",
    EventKind.ROTATION_DUE: "warn",
    EventKind.PUBLICATION_REJECTED: "warn",
    EventKind.LINK_REFUSED: "warn",
    EventKind.SOURCE_REAUTHORIZED: "warn",
    EventKind.PUBLICATION_REVIEW_REOPENED: "warn",
}
SUMMARY_KEYS = ("account", "previous_account", "scopes", "error_code", "message", "reason", "consumer")
STATUS_LABELS = dict(ConnectionStatus.choices)


def event_label(kind: str) -> str:
    """Return the words for an Event kind."""
    try:
        return EventKind(kind).label
    except ValueError:
        return kind.replace("_", " ").capitalize()


def _summary(event, detail: dict) -> str:
    if event.kind == EventKind.RENAMED and "from" in detail and "to" in detail:
        return f"“{detail['from']}” → “{detail['to']}”"
    if event.kind == EventKind.STATUS_CHANGED and "to" in detail:
        before = STATUS_LABELS.get(detail.get("from"), detail.get("from", "?"))
        return f"{before} → {STATUS_LABELS.get(detail['to'], detail['to'])}"
    parts = []
    for key in SUMMARY_KEYS:
        value = detail.get(key)
        if value in (None, "", []):
            continue
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(item) for item in value)
        if key == "error_code":
            value = explain(value)["title"]
        parts.append(str(value))
    return " · ".join(parts)


def decorate_events(events):
    """Give each event a label, a tone for the timeline dot and a one-line summary of its detail."""
    for event in events:
        detail = event.detail if isinstance(event.detail, dict) else {}
        tone = TONES.get(event.kind, "")
        if detail.get("ok") is False and tone == "ok":
            tone = "fail"
        event.label, event.tone = event_label(event.kind), tone
        event.summary = _summary(event, detail)[:200]
    return events


def check_result_message(request, result, name: str) -> None:
    """Tell the person the outcome of the Check they pressed."""
    if result.ok:
        messages.success(request, _("Check passed: “%(name)s” works.") % {"name": name})
    else:
        title = explain(result.error_code)["title"] if result.error_code else _("Check failed")
        messages.error(request, _("Check failed — %(title)s.") % {"title": title})
