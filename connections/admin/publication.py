"""Publication in the Django admin: system administrators review publication requests
(approve or reject, from the changelist or the change page, with a note) and maintain global
connections (check, unpublish, revoke at the provider).
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from ..models import Connection, GlobalConnection, PublicationRequest
from ..services.publication import (
    PublicationError,
    global_check,
    global_revoke,
    global_unpublish,
    publication_approve,
    publication_reject,
)
from .readonly import (
    CONNECTION_FIELDS,
    ConnectionHealthMixin,
    ReadOnlyAdmin,
    recent_events,
    recent_health,
)


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
        "allow_credential_sharing", "health", "timeline",
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
        obj = self._get_for_change(request, pk)
        return self._confirmation(
            request, obj,
            template="admin/connections/globalconnection/revoke_confirmation.html",
            title=_("Revoke %(name)s at the provider") % {"name": obj},
            perform=lambda: global_revoke(global_connection=obj, actor=request.user),
            done_message=_("%(name)s is revoked at the provider.") % {"name": obj},
        )


class PublicationRequestAdmin(ReadOnlyAdmin):
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

    def _review(self, request, publication_request, review, *, done, already):
        """Run one review service; tell the reviewer what happened (or why it was refused)."""
        try:
            _request, changed = review()
        except PublicationError as error:
            self.message_user(request, f"{publication_request}: {error.message}", messages.ERROR)
            return
        name = {"name": publication_request.connection}
        if changed:
            self.message_user(request, done % name, messages.SUCCESS)
        else:
            self.message_user(request, already % name, messages.INFO)

    def _approve(self, request, publication_request, note, allow_credential_sharing=False):
        self._review(
            request, publication_request,
            lambda: publication_approve(
                publication_request=publication_request,
                reviewer=request.user,
                note=note,
                allow_credential_sharing=allow_credential_sharing,
            ),
            done=_("%(name)s is approved and published to every tenant."),
            already=_("%(name)s was already approved: nothing changed."),
        )

    def _reject(self, request, publication_request, note):
        self._review(
            request, publication_request,
            lambda: publication_reject(publication_request=publication_request, reviewer=request.user, note=note),
            done=_("%(name)s: request rejected."),
            already=_("%(name)s was already rejected: nothing changed."),
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
        self._approve(
            request,
            obj,
            note=request.POST.get("note", "").strip(),
            allow_credential_sharing=request.POST.get("allow_credential_sharing") == "on",
        )
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
