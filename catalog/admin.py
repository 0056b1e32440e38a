"""Django admin for the catalog: apps edited through their spec, OAuth clients with a write-only secret."""

from django.contrib import admin, messages
from django.utils.html import format_html

from .forms import AppAdminForm, OAuthClientAdminForm
from .models import App, OAuthClient
from .schema import OAUTH_CLIENT_MODES
from .services import oauth_client_set


class HasClientFilter(admin.SimpleListFilter):
    title = "OAuth client"
    parameter_name = "oauth_client"

    def lookups(self, request, model_admin):
        return [("yes", "Registered"), ("no", "Not configured")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(oauth_client__isnull=False)
        if self.value() == "no":
            return queryset.filter(auth_mode__in=OAUTH_CLIENT_MODES, oauth_client__isnull=True)
        return queryset


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    form = AppAdminForm
    list_display = ["name", "slug", "category", "auth_mode", "enabled", "source", "client_status"]
    list_filter = ["category", "auth_mode", "enabled", "source", "tenant_clients_allowed", HasClientFilter]
    search_fields = ["name", "slug", "description"]
    list_select_related = ["oauth_client"]
    readonly_fields = ["slug", "name", "category", "auth_mode", "redirect_uri_display", "created_at", "updated_at"]
    actions = ["enable", "disable"]

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["spec", "enabled", "source"]})]
        return [
            (None, {"fields": ["name", "slug", "category", "auth_mode", "enabled", "source"]}),
            ("OAuth", {"fields": ["redirect_uri_display", "tenant_clients_allowed"]}),
            ("Provider spec", {"fields": ["spec"]}),
            (None, {"fields": ["created_at", "updated_at"]}),
        ]

    def get_changeform_initial_data(self, request):
        return {"source": App.Source.ADMIN, **super().get_changeform_initial_data(request)}

    @admin.display(description="OAuth client")
    def client_status(self, app):
        if not app.needs_oauth_client:
            return "—"
        try:
            app.oauth_client
        except OAuthClient.DoesNotExist:
            return format_html('<span class="ac-warning">{}</span>', "Not configured")
        return "Registered"

    @admin.display(description="Redirect URI to register")
    def redirect_uri_display(self, app):
        if not app.needs_oauth_client:
            return "— (not an OAuth app)"
        return format_html("<code>{}</code>", app.redirect_uri)

    @admin.action(description="Enable selected apps")
    def enable(self, request, queryset):
        self.message_user(request, f"{queryset.update(enabled=True)} apps enabled.")

    @admin.action(description="Disable selected apps (hidden from the catalog, connections kept)")
    def disable(self, request, queryset):
        self.message_user(request, f"{queryset.update(enabled=False)} apps disabled.")


@admin.register(OAuthClient)
class OAuthClientAdmin(admin.ModelAdmin):
    form = OAuthClientAdminForm
    list_display = ["app", "client_id", "has_secret", "updated_at"]
    search_fields = ["app__name", "app__slug", "client_id"]
    list_select_related = ["app"]
    readonly_fields = ["redirect_uri_display", "secret_status", "created_at", "updated_at"]

    def get_fieldsets(self, request, obj=None):
        main = ["app", "client_id", "client_secret_value", "scopes_override_text"]
        if obj is None:
            return [(None, {"fields": main})]
        return [
            ("Register this redirect URI with the provider", {"fields": ["redirect_uri_display"]}),
            (None, {"fields": main + ["secret_status"]}),
            (None, {"fields": ["created_at", "updated_at"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        return fields + ["app"] if obj else fields

    @admin.display(description="Redirect URI", boolean=False)
    def redirect_uri_display(self, client):
        return format_html(
            '<code class="ac-select-all">{}</code><div class="help">{}</div>',
            client.redirect_uri,
            "Paste exactly this URL as the redirect / callback URL of the OAuth app at the provider.",
        )

    @admin.display(description="Client secret")
    def secret_status(self, client):
        return "Stored encrypted (write-only)" if client.client_secret_id else "Missing"

    @admin.display(description="Secret", boolean=True)
    def has_secret(self, client):
        return bool(client.client_secret_id)

    def save_model(self, request, obj, form, change):
        client = oauth_client_set(
            app=obj.app,
            client_id=form.cleaned_data["client_id"],
            client_secret=form.cleaned_data.get("client_secret_value") or None,
            scopes_override=form.scopes_override,
        )
        obj.pk = client.pk
        obj.client_secret_id = client.client_secret_id
        obj.scopes_override = client.scopes_override
        obj._state.adding = False

    def response_add(self, request, obj, post_url_continue=None):
        messages.info(request, f"Register this redirect URI with the provider: {obj.redirect_uri}")
        return super().response_add(request, obj, post_url_continue)
