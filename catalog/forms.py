"""Forms of the catalog: the browsing filters, and the admin forms validated by catalog.schema."""

import yaml
from django import forms
from django.utils.translation import gettext_lazy as _

from .models import App, AuthMode, Category, OAuthClient
from .schema import OAUTH_CLIENT_MODES, normalize_app, validate_app
from .services import app_columns


class CatalogFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label=_("Search"))
    category = forms.ChoiceField(required=False, choices=[("", _("All categories"))] + Category.choices)
    auth = forms.ChoiceField(required=False, choices=[("", _("Any authentication"))] + AuthMode.choices)

    def values(self) -> dict:
        """Return cleaned filters; invalid input counts as no filter."""
        if not self.is_valid():
            return {"q": "", "category": "", "auth": ""}
        return {k: (self.cleaned_data.get(k) or "").strip() for k in ("q", "category", "auth")}


class SpecField(forms.CharField):
    """The provider spec as YAML (or JSON, a subset of YAML) text."""

    widget = forms.Textarea(attrs={"rows": 30, "cols": 100, "class": "ac-monospace"})

    def prepare_value(self, value):
        if isinstance(value, dict):
            return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100)
        return value

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return {}
        try:
            data = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise forms.ValidationError(f"invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None
        if not isinstance(data, dict):
            raise forms.ValidationError("app: must be a mapping")
        return data


class AppAdminForm(forms.ModelForm):
    """Edit an app through its spec: validated by catalog.schema, the same messages as sync_catalog."""

    spec = SpecField(
        label=_("Provider spec (YAML or JSON)"),
        help_text=_("The same format as catalog/providers/*.yaml, for one app. "
                    "Name, category, auth mode, description, docs URL and setup steps are taken from it."),
    )

    class Meta:
        model = App
        fields = ["spec", "enabled", "source", "tenant_clients_allowed"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "source" in self.fields:
            self.fields["source"].help_text = _(
                "Apps from provider files are overwritten by sync_catalog; "
                "choose \"Django admin\" to keep your edits."
            )

    def clean_spec(self):
        spec = self.cleaned_data["spec"]
        errors = validate_app(spec)
        if errors:
            raise forms.ValidationError([f"app '{spec.get('slug', '?')}': {e}" for e in errors])
        return normalize_app(spec)

    def clean(self):
        cleaned = super().clean()
        spec = cleaned.get("spec")
        if spec:
            clash = App.objects.filter(slug=spec["slug"]).exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error("spec", f"app '{spec['slug']}': slug: already used by another app")
        return cleaned

    def save(self, commit=True):
        app = super().save(commit=False)
        spec = self.cleaned_data["spec"]
        app.slug = spec["slug"]
        for name, value in app_columns(spec).items():
            setattr(app, name, value)
        if commit:
            app.save()
        return app


class OAuthClientAdminForm(forms.ModelForm):
    """Register an OAuth client; the secret is write-only (never displayed, blank keeps it)."""

    client_secret_value = forms.CharField(
        label=_("Client secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Write-only: stored encrypted in the vault and never shown again. "
                    "Leave blank to keep the current secret."),
    )
    scopes_override_text = forms.CharField(
        label=_("Scope override"),
        required=False,
        help_text=_("Space-separated scopes replacing the app's default scopes; blank uses the defaults."),
    )

    class Meta:
        model = OAuthClient
        fields = ["app", "client_id"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "app" in self.fields:
            self.fields["app"].queryset = App.objects.filter(auth_mode__in=OAUTH_CLIENT_MODES)
        if self.instance.pk:
            self.fields["scopes_override_text"].initial = " ".join(self.instance.scopes_override or [])
        else:
            self.fields["client_secret_value"].help_text = _("Stored encrypted in the vault; never shown again.")

    def clean(self):
        cleaned = super().clean()
        app = cleaned.get("app") or (self.instance.app if self.instance.app_id else None)
        if app is not None and not app.needs_oauth_client:
            self.add_error("app", _("Only OAuth apps have a client registration."))
        has_secret = bool(self.instance.pk and self.instance.client_secret_id)
        if not cleaned.get("client_secret_value") and not has_secret:
            self.add_error("client_secret_value", _("Required for a new registration."))
        return cleaned

    @property
    def scopes_override(self) -> list:
        return (self.cleaned_data.get("scopes_override_text") or "").split()

