from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .choices import AuthMode, Category
from .schema import uses_oauth_client

__all__ = ["AuthMode", "Category", "App", "OAuthClient"]


class AppQuerySet(models.QuerySet):
    def visible(self):
        """Return enabled apps, hiding the sandbox's apps when the sandbox is off."""
        qs = self.filter(enabled=True)
        if not settings.SANDBOX_ENABLED:
            qs = qs.exclude(category=Category.SANDBOX)
        return qs


class App(models.Model):
    """One connectable third-party application of the catalog."""

    class Source(models.TextChoices):
        FILE = "file", _("Provider file")
        ADMIN = "admin", _("Django admin")

    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=120)
    category = models.CharField(_("category"), max_length=32, choices=Category.choices)
    description = models.TextField(_("description"), blank=True)
    auth_mode = models.CharField(_("auth mode"), max_length=32, choices=AuthMode.choices)
    spec = models.JSONField(_("provider spec"), default=dict)
    docs_url = models.URLField(_("docs URL"), blank=True)
    setup_steps = models.TextField(_("setup steps"), blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    # Set by system administrators (Django admin), never by provider files: whether a tenant
    # admin may register the company's own OAuth client ("bring your own app") for this app.
    tenant_clients_allowed = models.BooleanField(
        _("tenants may register their own OAuth client"), default=False,
        help_text=_("Tenant admins may then register their company's own client id and secret."),
    )
    source = models.CharField(_("source"), max_length=8, choices=Source.choices, default=Source.FILE)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = AppQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("app")
        verbose_name_plural = _("apps")
        indexes = [models.Index(fields=["category", "name"])]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("catalog:app", args=[self.slug])

    @property
    def needs_oauth_client(self) -> bool:
        """Return whether the app is linked through a registered OAuth client."""
        return uses_oauth_client(self.auth_mode)

    @property
    def redirect_uri(self) -> str:
        """Return the callback URL to register with the provider for this app."""
        return f"{settings.BASE_URL}{reverse('connections:callback', args=[self.slug])}"

    @property
    def docs_link(self) -> str:
        """Return the docs URL to show, the sandbox's placeholder rendered ({sandbox}/sandbox/)."""
        if self.docs_url.startswith("{sandbox}"):
            return settings.SANDBOX_URL + self.docs_url.removeprefix("{sandbox}")
        return self.docs_url

    @property
    def initials(self) -> str:
        words = [w for w in self.name.replace("-", " ").split() if w[:1].isalnum()]
        return ("".join(w[0] for w in words[:2]) or self.name[:2]).upper()


class OAuthClient(models.Model):
    """Our registration with an OAuth provider: client id, and the client secret in the vault."""

    app = models.OneToOneField(App, on_delete=models.CASCADE, related_name="oauth_client")
    client_id = models.CharField(_("client id"), max_length=255)
    client_secret = models.ForeignKey(
        "vault.Secret", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    scopes_override = models.JSONField(_("scope override"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("OAuth client registration")
        verbose_name_plural = _("OAuth client registrations")

    def __str__(self):
        return f"OAuth client for {self.app}"

    @property
    def redirect_uri(self) -> str:
        return self.app.redirect_uri
