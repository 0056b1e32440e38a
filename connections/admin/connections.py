"""Companies, their members and their connections in the Django admin.

No secret ever reaches these pages: credential, webhook-secret and pending-secret foreign
keys, token hashes and OAuth state hashes are excluded everywhere. Tenant-owned models are
read through `all_objects` (their default manager), on purpose: the admin sees every tenant.
"""

from django.contrib import admin

from ..models import Connection, Member, Tenant
from ..outbound import display_url
from .readonly import CONNECTION_FIELDS, ConnectionHealthMixin, ReadOnlyAdmin


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "webhook", "created_at")
    search_fields = ("name", "slug")
    # The webhook URL is the tenant admins' to set (its path and query often carry a secret):
    # staff see it masked, as Events and logs hold it.
    fields = ("name", "slug", "webhook", "created_at")
    readonly_fields = ("webhook", "created_at")
    prepopulated_fields = {"slug": ("name",)}

    @admin.display(description="Webhook")
    def webhook(self, tenant):
        return display_url(tenant.webhook_url) if tenant.webhook_url else "—"


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role", "tenant")
    list_select_related = ("user", "tenant")
    search_fields = ("user__username", "user__email", "tenant__name", "tenant__slug")
    raw_id_fields = ("user",)
    autocomplete_fields = ("tenant",)


@admin.register(Connection)
class ConnectionAdmin(ConnectionHealthMixin, ReadOnlyAdmin):
    list_display = ("name", "tenant", "app", "status", "account_label", "last_checked_at", "expires_at")
    list_filter = ("status", "app", "tenant")
    list_select_related = ("tenant", "app")
    search_fields = ("=id", "name", "account_label", "tenant__name", "app__name")
    fields = ("tenant",) + CONNECTION_FIELDS + ("created_by", "health", "timeline")
    readonly_fields = ("health", "timeline")
    show_full_result_count = False
