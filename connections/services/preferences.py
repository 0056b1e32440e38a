"""Writes of per-user dashboard preferences."""

from ..models import SESSION_THEME, UiPreference


def ui_theme_set(*, user, theme: str, session=None) -> UiPreference:
    """Store the user's theme (system, light or dark) and, when given, in their session."""
    if theme not in UiPreference.Theme.values:
        raise ValueError(f"Unknown theme {theme!r}.")
    preference, _created = UiPreference.objects.update_or_create(
        user=user, defaults={"theme": theme}
    )
    if session is not None:
        session[SESSION_THEME] = theme
    return preference
