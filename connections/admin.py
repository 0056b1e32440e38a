"""Django admin for every connections model: what system administrators see and do.

No secret ever reaches these pages: credential, webhook-secret and pending-secret foreign
keys, token hashes and OAuth state hashes are excluded everywhere. Tenant-owned models are
read through `all_objects` (their default manager), on purpose: the admin sees every tenant.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from .models import (
    ApiToken,
    Attempt,
    Connection,
    Event,
    GlobalConnection,
    HealthCheck,
    Member,
    PublicationRequest,
    Tenant,
    Usage,
)

RECENT_HEALTH = 10
RECENT_EVENTS = 20


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the product's services only: staff look, they don't type."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _health_table(checks):
    if not checks:
        return _("No checks yet.")
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                f"{check.created_at:%Y-%m-%d %H:%M:%S}",
                check.get_kind_display(),
                "ok" if check.ok else (check.get_error_code_display() or "failed"),
                check.http_status or "",
                check.message,
            )
            for check in checks
        ),
    )
    return format_html(
        '<table class="ac-health"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>HTTP</th><th>{}</th>'
        "</tr></thead><tbody>{}</tbody></table>",
        _("When"), _("Kind"), _("Result"), _("Message"), rows,
    )


def _events_table(events):
    if not events:
        return _("No events yet.")
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
        (
            (
                f"{event.created_at:%Y-%m-%d %H:%M:%S}",
                event.kind,
                event.actor or _("system"),
                event.detail or "",
            )
            for event in events
        ),
    )
    return format_html(
        '<table class="ac-timeline"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>'
        "</thead><tbody>{}</tbody></table>",
        _("When"), _("Event"), _("Who"), _("Detail"), rows,
    )


def recent_health(obj):
    """Return the latest health checks of a Connection or GlobalConnection."""
    field = "global_connection" if isinstance(obj, GlobalConnection) else "connection"
    return list(HealthCheck.objects.filter(**{field: obj}).order_by("-created_at", "-id")[:RECENT_HEALTH])


def recent_events(obj):
    """Return the latest timeline events of a Connection or GlobalConnection."""
    field = "global_connection" if isinstance(obj, GlobalConnection) else "connection"
    return list(
        Event.all_objects.filter(**{field: obj}).select_related("actor").order_by("-created_at", "-id")[
            :RECENT_EVENTS
        ]
    )


# Fields a connection shows in the admin: everything but the credentials Secret.
CONNECTION_FIELDS = (
    "id", "name", "app", "status", "account_label", "scopes", "config",
    "authorized_at", "expires_at", "last_refreshed_at", "last_checked_at", "last_used_at",
    "consecutive_failures", "last_error_code", "last_error_message", "rotation_flagged_at",
    "revoked_at", "created_at", "updated_at",
)


class ConnectionHealthMixin:
    @admin.display(description=_("Health (latest checks)"))
    def health(self, obj):
        return _health_table(recent_health(obj))

    @admin.display(description=_("Timeline"))
    def timeline(self, obj):
        return _events_table(recent_events(obj))


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "webhook_url", "created_at")
    search_fields = ("name", "slug")
    fields = ("name", "slug", "webhook_url", "created_at")
    readonly_fields = ("created_at",)
    prepopulated_fields = {"slug": ("name",)}
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role", "tenant")
    list_select_related = ("user", "tenant")
    search_fields = ("user__username", "user__email", "tenant__name", "tenant__slug")
    raw_id_fields = ("user",)
    autocomplete_fields = ("tenant",)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("name", "prefix", "tenant", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = ("tenant", ("revoked_at", admin.EmptyFieldListFilter))
    list_select_related = ("tenant", "created_by")
    search_fields = ("name", "prefix", "tenant__name")
    fields = ("name", "prefix", "tenant", "created_by", "created_at", "last_used_at", "revoked_at")


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


@admin.register(Connection)
class ConnectionAdmin(ConnectionHealthMixin, ReadOnlyAdmin):
    list_display = ("name", "tenant", "app", "status", "account_label", "last_checked_at", "expires_at")
    list_filter = ("status", "app", "tenant")
    list_select_related = ("tenant", "app")
    search_fields = ("=id", "name", "account_label", "tenant__name", "app__name")
    fields = ("tenant",) + CONNECTION_FIELDS + ("created_by", "health", "timeline")
    readonly_fields = ("health", "timeline")
    show_full_result_count = False


class PublishedFilter(admin.SimpleListFilter):
    title = _("published")
    parameter_name = "published"

    def lookups(self, request, model_admin):
        return (("yes", _("Published")), ("no", _("Unpublished")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(unpublished_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(unpublished_at__isnull=False)
        return queryset


@admin.register(GlobalConnection)
class GlobalConnectionAdmin(ConnectionHealthMixin, admin.ModelAdmin):
    """System administrators maintain global connections: check, unpublish, revoke at the provider."""

    list_display = (
        "name", "app", "status", "account_label", "source_tenant", "published_at", "unpublished_at",
        "last_checked_at",
    )
    list_filter = ("status", PublishedFilter, "app")
    list_select_related = ("app", "source_tenant", "approved_by")
    search_fields = ("=id", "name", "account_label", "app__name", "source_tenant__name")
    fields = CONNECTION_FIELDS + (
        "source_tenant", "source_connection", "approved_by", "published_at", "unpublished_at",
        "health", "timeline",
    )
    readonly_fields = fields
    actions = ("check_selected",)
    change_form_template = "admin/connections/globalconnection/change_form.html"

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("<uuid:pk>/check/", view(self.check_view), name="%s_%s_check" % info),
            path("<uuid:pk>/unpublish/", view(self.unpublish_view), name="%s_%s_unpublish" % info),
            path("<uuid:pk>/revoke/", view(self.revoke_view), name="%s_%s_revoke" % info),
        ] + super().get_urls()

    def _get_for_change(self, request, pk):
        if not self.has_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(GlobalConnection.objects.select_related("app", "source_tenant"), pk=pk)

    def _change_url(self, obj):
        return reverse("admin:connections_globalconnection_change", args=[obj.pk])

    @admin.action(description=_("Check selected global connections now"), permissions=["change"])
    def check_selected(self, request, queryset):
        for global_connection in queryset.select_related("app"):
            self._check(request, global_connection)

    def _check(self, request, global_connection):
        from .services.publication import PublicationError, global_check

        try:
            check = global_check(global_connection=global_connection, actor=request.user)
        except PublicationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return
        if check.ok:
            self.message_user(request, _("%(name)s: check passed.") % {"name": global_connection}, messages.SUCCESS)
        else:
            self.message_user(
                request,
                _("%(name)s: check failed (%(message)s).") % {"name": global_connection, "message": check.message or check.get_error_code_display()},
                messages.ERROR,
            )

    def check_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self._get_for_change(request, pk)
        self._check(request, obj)
        return HttpResponseRedirect(self._change_url(obj))

    def _confirmation(self, request, obj, *, template, title, perform, done_message):
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            result = perform()
            self.message_user(request, done_message, messages.SUCCESS)
            warning = getattr(result, "revocation_warning", "")
            if warning:
                self.message_user(
                    request, _("The app did not confirm the revocation: %(message)s") % {"message": warning}, messages.WARNING
                )
            return HttpResponseRedirect(self._change_url(obj))
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "object": obj,
            "source": obj.source_connection_id
            and Connection.all_objects.select_related("tenant").filter(pk=obj.source_connection_id).first(),
            "change_url": self._change_url(obj),
        }
        return TemplateResponse(request, template, context)

    def unpublish_view(self, request, pk):
        from .services.publication import global_unpublish

        obj = self._get_for_change(request, pk)
        return self._confirmation(
            request, obj,
            template="admin/connections/globalconnection/unpublish_confirmation.html",
            title=_("Unpublish %(name)s") % {"name": obj},
            perform=lambda: global_unpublish(global_connection=obj, actor=request.user),
            done_message=_("%(name)s is unpublished: tenants no longer see it; the source connection keeps working.")
            % {"name": obj},
        )

    def revoke_view(self, request, pk):
        from .services.publication import global_revoke

        obj = self._get_for_change(request, pk)
        return self._confirmation(
            request, obj,
            template="admin/connections/globalconnection/revoke_confirmation.html",
            title=_("Revoke %(name)s at the provider") % {"name": obj},
            perform=lambda: global_revoke(global_connection=obj, actor=request.user),
            done_message=_("%(name)s is revoked at the provider.") % {"name": obj},
        )


class PublicationRequestAdmin(admin.ModelAdmin):
    """Staff review publication requests; approving or rejecting needs review_publicationrequest."""

    list_display = (
        "__str__", "tenant", "app", "connection_status", "status", "requested_by", "created_at", "reviewed_by",
        "reviewed_at",
    )
    list_filter = (
        "status",
        ("connection__app", admin.RelatedOnlyFieldListFilter),
        ("connection__tenant", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("connection__tenant", "connection__app", "requested_by", "reviewed_by")
    search_fields = (
        "connection__name", "connection__account_label", "connection__tenant__name", "connection__app__name",
        "reason", "requested_by__username", "review_note",
    )
    fields = (
        "connection", "status", "reason", "requested_by", "created_at", "reviewed_by", "reviewed_at",
        "review_note", "global_connection",
    )
    readonly_fields = fields
    actions = ("approve_selected", "reject_selected")
    change_form_template = "admin/connections/publicationrequest/change_form.html"
    date_hierarchy = "created_at"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_review_permission(self, request, obj=None):
        return request.user.is_active and request.user.has_perm("connections.review_publicationrequest")

    @admin.display(description=_("tenant"), ordering="connection__tenant__name")
    def tenant(self, obj):
        return obj.connection.tenant

    @admin.display(description=_("app"), ordering="connection__app__name")
    def app(self, obj):
        return obj.connection.app

    @admin.display(description=_("connection status"), ordering="connection__status")
    def connection_status(self, obj):
        return obj.connection.get_status_display()

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/approve/", view(self.approve_view), name="%s_%s_approve" % info),
            path("<int:pk>/reject/", view(self.reject_view), name="%s_%s_reject" % info),
        ] + super().get_urls()

    def _change_url(self, obj):
        return reverse("admin:connections_publicationrequest_change", args=[obj.pk])

    def _approve(self, request, publication_request, note):
        from .services.publication import PublicationError, publication_approve

        try:
            _request, created = publication_approve(
                publication_request=publication_request, reviewer=request.user, note=note
            )
        except PublicationError as error:
            self.message_user(request, f"{publication_request}: {error.message}", messages.ERROR)
            return
        if created:
            self.message_user(
                request, _("%(name)s is approved and published to every tenant.") % {"name": publication_request.connection},
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request, _("%(name)s was already approved: nothing changed.") % {"name": publication_request.connection},
                messages.INFO,
            )

    def _reject(self, request, publication_request, note):
        from .services.publication import PublicationError, publication_reject

        try:
            _request, changed = publication_reject(
                publication_request=publication_request, reviewer=request.user, note=note
            )
        except PublicationError as error:
            self.message_user(request, f"{publication_request}: {error.message}", messages.ERROR)
            return
        if changed:
            self.message_user(request, _("%(name)s: request rejected.") % {"name": publication_request.connection}, messages.SUCCESS)
        else:
            self.message_user(
                request, _("%(name)s was already rejected: nothing changed.") % {"name": publication_request.connection},
                messages.INFO,
            )

    @admin.action(description=_("Approve selected publication requests"), permissions=["review"])
    def approve_selected(self, request, queryset):
        for publication_request in queryset.select_related("connection__app", "connection__tenant", "requested_by"):
            self._approve(request, publication_request, note="")

    @admin.action(description=_("Reject selected publication requests"), permissions=["review"])
    def reject_selected(self, request, queryset):
        queryset = queryset.select_related("connection__app", "connection__tenant", "requested_by")
        note = request.POST.get("note", "").strip()
        if request.POST.get("confirm") == "yes" and note:
            for publication_request in queryset:
                self._reject(request, publication_request, note)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Reject publication requests"),
            "opts": self.opts,
            "queryset": queryset,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "note_missing": request.POST.get("confirm") == "yes" and not note,
            "note": note,
        }
        return TemplateResponse(request, "admin/connections/publicationrequest/reject_selected.html", context)

    def _review_target(self, request, pk):
        if request.method != "POST":
            return None
        if not self.has_review_permission(request):
            raise PermissionDenied
        return get_object_or_404(
            PublicationRequest.objects.select_related("connection__app", "connection__tenant", "requested_by"), pk=pk
        )

    def approve_view(self, request, pk):
        obj = self._review_target(request, pk)
        if obj is None:
            return HttpResponseNotAllowed(["POST"])
        self._approve(request, obj, note=request.POST.get("note", "").strip())
        return HttpResponseRedirect(self._change_url(obj))

    def reject_view(self, request, pk):
        obj = self._review_target(request, pk)
        if obj is None:
            return HttpResponseNotAllowed(["POST"])
        note = request.POST.get("note", "").strip()
        if not note:
            self.message_user(request, _("Write a note telling the requester why the request is rejected."), messages.ERROR)
        else:
            self._reject(request, obj, note)
        return HttpResponseRedirect(self._change_url(obj))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if obj is not None:
            connection = Connection.all_objects.select_related("app", "tenant", "created_by").get(pk=obj.connection_id)
            extra_context.update(
                {
                    "connection": connection,
                    "health_checks": recent_health(connection),
                    "events": recent_events(connection),
                    "can_review": self.has_review_permission(request, obj),
                    "publication_request": obj,
                    "connection_admin_url": reverse("admin:connections_connection_change", args=[connection.pk]),
                    "global_admin_url": obj.global_connection_id
                    and reverse("admin:connections_globalconnection_change", args=[obj.global_connection_id]),
                }
            )
        return super().change_view(request, object_id, form_url, extra_context)


admin.site.register(PublicationRequest, PublicationRequestAdmin)


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

