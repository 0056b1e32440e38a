"""Per-user dashboard preferences (the colour theme) and the session hooks of the dashboard."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db import models
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

# The session caches the user's theme, so rendering a page costs no query.
SESSION_THEME = "ui_theme"


class UiPreference(models.Model):
    """One user's dashboard preferences, kept across sessions and devices."""

    class Theme(models.TextChoices):
        SYSTEM = "system", _("System")
        LIGHT = "light", _("Light")
        DARK = "dark", _("Dark")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="ui_preference",
        verbose_name=_("user"),
    )
    theme = models.CharField(_("theme"), max_length=8, choices=Theme.choices, default=Theme.SYSTEM)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("UI preference")
        verbose_name_plural = _("UI preferences")

    def __str__(self):
        return f"{self.user} · {self.theme}"


@receiver(user_logged_in, dispatch_uid="connections.ui_theme_on_login")
def _remember_theme_in_session(sender, request, user, **kwargs):
    """Copy the user's theme into the new session once, at sign-in."""
    if request is None or not hasattr(request, "session"):
        return
    theme = UiPreference.objects.filter(user=user).values_list("theme", flat=True).first()
    request.session[SESSION_THEME] = theme or UiPreference.Theme.SYSTEM


@receiver(user_logged_out, dispatch_uid="connections.signed_out_message")
def _say_signed_out(sender, request, user, **kwargs):
    """Tell the sign-in page that signing out worked (a message outlives the session)."""
    if request is not None and user is not None:
        messages.info(request, _("You are signed out."))
