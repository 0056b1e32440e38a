"""Read-only admin for secrets: ids, purposes and key ids only, never the ciphertext."""

from django.contrib import admin

from .models import Secret


@admin.register(Secret)
class SecretAdmin(admin.ModelAdmin):
    list_display = ("id", "purpose", "key_id", "created_at", "updated_at")
    list_filter = ("purpose", "key_id")
    search_fields = ("=id",)
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    fields = ("id", "purpose", "key_id", "created_at", "updated_at")
    readonly_fields = fields
    show_full_result_count = False  # a COUNT(*) on every page is costly on a large table

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Secrets are destroyed through vault.services, which wipes the ciphertext first.
        return False
