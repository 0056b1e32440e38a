"""Template context of the dashboard's chrome: the colour theme of the page."""

from .models import SESSION_THEME, UiPreference

THEMES = [
    (value, label, icon)
    for (value, label), icon in zip(UiPreference.Theme.choices, ("monitor", "sun", "moon"))
]


def theme(request):
    """Expose the signed-in user's theme (from the session; "system" otherwise) and the choices."""
    session = getattr(request, "session", None)
    value = session.get(SESSION_THEME) if session is not None else None
    if value not in UiPreference.Theme.values:
        value = UiPreference.Theme.SYSTEM
    return {"theme": value, "theme_choices": THEMES}
