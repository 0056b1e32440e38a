"""What system administrators look at but never type: rows written only by the product's
services (attempts, API tokens, events, health checks, usage, proxy calls), and the health and
timeline tables shown on connection pages. No secret ever reaches these pages.
"""

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from ..models import ApiToken, Attempt, Event, HealthCheck, ProxyCall, Usage

RECENT_HEALTH = 10
RECENT_EVENTS = 20

# Fields a connection shows in the admin: everything but the credentials Secret.
CONNECTION_FIELDS = (
    "id", "name", "app", "status", "account_label", "scopes", "config",
    "authorized_at", "expires_at", "last_refreshed_at", "last_checked_at", "last_used_at",
    "consecutive_failures", "last_error_code", "last_error_message", "rotation_flagged_at",
    "revoked_at", "created_at", "updated_at",
)


def _table(css: str, headers, rows, empty: str):
    """Return an HTML table of escaped cells, or `empty` when there are no rows."""
    if not rows:
        return empty
    head = format_html_join("", "<th>{}</th>", ((header,) for header in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows)
    )
    return format_html('<table class="{}"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', css, head, body)


def health_table(checks):
    return _table(
        "ac-health",
        (_("When"), _("Kind"), _("Result"), "HTTP", _("Message")),
        [
            (
                f"{check.created_at:%Y-%m-%d %H:%M:%S}",
                check.get_kind_display(),
                "ok" if check.ok else (check.get_error_code_display() or "failed"),
                check.http_status or "",
                check.message,
            )
            for check in checks
        ],
        _("No checks yet."),
    )


def events_table(events):
    return _table(
        "ac-timeline",
        (_("When"), _("Event"), _("Who"), _("Detail")),
        [
            (
                f"{event.created_at:%Y-%m-%d %H:%M:%S}",
                event.kind,
                event.actor or _("system"),
                format_html("<code>{}</code>", event.detail or ""),
            )
            for event in events
        ],
        _("No events yet."),
    )


def recent_health(obj):
    """Return the latest health checks of a Connection or GlobalConnection."""
    return list(HealthCheck.objects.filter(**obj.as_owner()).order_by("-created_at", "-id")[:RECENT_HEALTH])


def recent_events(obj):
    """Return the latest timeline events of a Connection or GlobalConnection."""
    events = Event.all_objects.filter(**obj.as_owner()).select_related("actor")
    return list(events.order_by("-created_at", "-id")[:RECENT_EVENTS])


class ConnectionHealthMixin:
    @admin.display(description=_("Health (latest checks)"))
    def health(self, obj):
        return health_table(recent_health(obj))

    @admin.display(description=_("Timeline"))
    def timeline(self, obj):
        return events_table(recent_events(obj))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the product's services only: staff look, they don't type."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "tenant", "app", "status", "error_code", "created_by", "created_at")
    list_filter = ("status", "error_code", "is_reauthorization", "app")
    list_select_related = ("tenant", "app", "created_by")
    search_fields = ("=id", "name", "tenant__name", "app__name", "account_label")
    fields = (
        "id", "tenant", "app", "name", "scopes", "config", "status", "error_code", "error_message",
        "account_label", "is_reauthorization", "connection", "global_connection", "created_by",
        "created_at", "expires_at", "completed_at",
    )
    date_hierarchy = "created_at"


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = (
        "name", "prefix", "tenant", "scopes", "expires_at", "created_by", "created_at", "last_used_at",
        "revoked_at",
    )
    list_filter = ("tenant", ("revoked_at", admin.EmptyFieldListFilter), ("expires_at", admin.EmptyFieldListFilter))
    list_select_related = ("tenant", "created_by")
    search_fields = ("name", "prefix", "tenant__name")
    fields = (
        "name", "prefix", "tenant", "scopes", "expires_at", "all_connections", "connections",
        "global_connections", "created_by", "created_at", "last_used_at", "last_used_from", "revoked_at",
    )


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "tenant", "connection", "global_connection", "actor")
    list_filter = ("kind", ("tenant", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("tenant", "connection", "global_connection", "actor")
    search_fields = ("kind", "connection__name", "global_connection__name", "tenant__name", "actor__username")
    fields = ("created_at", "kind", "tenant", "connection", "global_connection", "actor", "detail")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(HealthCheck)
class HealthCheckAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "ok", "error_code", "http_status", "duration_ms", "target")
    list_filter = ("kind", "ok", "error_code")
    list_select_related = ("connection", "global_connection")
    search_fields = ("connection__name", "global_connection__name", "message")
    fields = (
        "created_at", "kind", "ok", "error_code", "http_status", "duration_ms", "message", "connection",
        "global_connection",
    )
    show_full_result_count = False

    @admin.display(description=_("connection"))
    def target(self, obj):
        return obj.connection or obj.global_connection


@admin.register(Usage)
class UsageAdmin(ReadOnlyAdmin):
    list_display = ("consumer", "tenant", "connection", "global_connection", "count", "last_used_at")
    list_filter = (("tenant", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("tenant", "connection", "global_connection")
    search_fields = ("consumer", "connection__name", "global_connection__name", "tenant__name")
    fields = ("tenant", "connection", "global_connection", "consumer", "count", "first_used_at", "last_used_at")


@admin.register(ProxyCall)
class ProxyCallAdmin(ReadOnlyAdmin):
    """Calls through the credential proxy: who, what, outcome (never a body, header or value)."""

    list_display = (
        "created_at", "method", "path", "status", "error_code", "duration_ms", "response_bytes",
        "consumer", "tenant", "target",
    )  # fmt: skip
    list_filter = ("method", "status", ("tenant", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("tenant", "connection", "global_connection", "token")
    search_fields = ("consumer", "path", "connection__name", "global_connection__name", "tenant__name")
    fields = (
        "created_at", "tenant", "connection", "global_connection", "token", "consumer", "method",
        "path", "status", "error_code", "duration_ms", "request_bytes", "response_bytes",
    )  # fmt: skip
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description=_("connection"))
    def target(self, obj):
        return obj.connection or obj.global_connection
