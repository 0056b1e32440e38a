"""Pages of existing connections: the list (with global connections), one connection with its
health and timeline, and its Check, Rename and Revoke.

Views are thin: permission, form, one service call, render or redirect. Every state change
is a POST with CSRF.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.db.models.functions import Lower
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog.models import App

from .. import selectors
from ..auth import mode_for
from ..auth.captures import reported_values
from ..forms import HISTORY, ConnectionFilterForm, RenameForm, RevokeForm
from ..models import Connection, ConnectionStatus, Usage
from ..permissions import CREATORS, can_manage, connection_to_manage, tenant_required
from ..presenters import check_result_message, decorate_events, failure_context
from ..services import connections as connection_services
from ..services import health as health_services
from ..services.setup_requests import setup_requests_for_admins

PAGE_SIZE = 25
RECENT_USE = timedelta(days=30)


@require_GET
@tenant_required()
def connection_list(request):
    tenant = request.tenant
    apps = list(App.objects.filter(pk__in=Connection.objects.for_tenant(tenant).values("app_id")).order_by(Lower("name")))
    filters = ConnectionFilterForm(request.GET, apps=apps)
    app_slug, status, q = filters.value("app"), filters.value("status"), filters.value("q")
    app = next((candidate for candidate in apps if candidate.slug == app_slug), None)

    connections = selectors.connection_list_for_tenant(
        tenant=tenant, app=app, status=ConnectionStatus.REVOKED if status == HISTORY else (status or None), q=q or None
    )
    page = Paginator(connections, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = list(page.object_list)
    for connection in rows:
        connection.rotation_due = connection.is_rotation_due(now)

    global_connections = []
    if status != HISTORY:
        global_connections = list(
            selectors.global_connections_visible(app=app, status=status or None, q=q or None)[:100]
        )
    filtered = bool(app_slug or status or q)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "connections/list.html",
        {
            "page": page,
            "connections": rows,
            "global_connections": global_connections,
            "filters": filters,
            "filtered": filtered,
            "history": status == HISTORY,
            "query_string": query.urlencode(),
            "can_create": request.membership.can_create,
            "setup_requests": setup_requests_for_admins(tenant=tenant) if request.membership.is_admin else [],
        },
    )


@require_GET
@tenant_required()
def connection_detail(request, pk):
    connection = selectors.connection_get_for_tenant(tenant=request.tenant, pk=pk)
    return _render_detail(request, connection)


def _render_detail(request, connection, rename_form=None, status=200):
    member = request.membership
    manage = can_manage(member, connection)
    live = connection.is_live
    context = {
        "connection": connection,
        "app": connection.app,
        "rotation_due": connection.is_rotation_due(),
        "health": list(connection.health.all()[:10]),
        "usages": list(Usage.objects.for_tenant(request.tenant).filter(connection=connection)[:10]),
        "events": decorate_events(list(selectors.events_for(connection)[:50])),
        "rotation_days": settings.ROTATION_PERIOD_DAYS,
        "can_check": live and member.can_create,
        "can_manage": manage and live,
        "can_tidy": manage and not live,  # link again, remove from the history
        "rename_form": rename_form or RenameForm(connection=connection),
        "is_admin": member.is_admin,
        "reported": reported_values(connection.app, connection.config or {}),
    }
    if connection.last_error_code and connection.status != ConnectionStatus.ACTIVE:
        context.update(failure_context(connection.last_error_code, connection.last_error_message))
    return render(request, "connections/detail.html", context, status=status)


@require_POST
@tenant_required(*CREATORS)
def connection_check(request, pk):
    connection = selectors.connection_get_for_tenant(tenant=request.tenant, pk=pk)
    if not connection.is_live:
        messages.error(request, _("A revoked connection cannot be checked."))
        return redirect(connection.get_absolute_url())
    result = health_services.connection_check(connection=connection, actor=request.user)
    check_result_message(request, result, connection.name)
    return redirect(connection.get_absolute_url())


@require_POST
@tenant_required(*CREATORS)
def connection_rename(request, pk):
    connection = connection_to_manage(request, pk)
    if not connection.is_live:
        raise Http404("A revoked connection cannot be renamed.")
    form = RenameForm(request.POST, connection=connection)
    if form.is_valid():
        old = connection.name
        try:
            connection_services.connection_rename(connection=connection, name=form.cleaned_data["name"], actor=request.user)
        except (ValidationError, IntegrityError):
            form.add_error("name", _("This name is already used by another live connection of this app."))
        else:
            if old != form.cleaned_data["name"]:
                messages.success(request, _("Renamed “%(old)s” to “%(new)s”.") % {"old": old, "new": form.cleaned_data["name"]})
            return redirect(connection.get_absolute_url())
    connection.refresh_from_db()
    return _render_detail(request, connection, rename_form=form, status=400)


def _shares_grant(connection) -> bool:
    return connection_services.shared_global_connections(connection).exists()


@require_http_methods(["GET", "POST"])
@tenant_required(*CREATORS)
def connection_revoke(request, pk):
    connection = connection_to_manage(request, pk)
    if not connection.is_live:
        messages.info(request, _("This connection is already revoked."))
        return redirect(connection.get_absolute_url())
    shared = _shares_grant(connection)
    form = RevokeForm(request.POST if request.method == "POST" else None, shared=shared)
    if request.method == "POST" and form.is_valid():
        try:
            revoked = connection_services.connection_revoke(
                connection=connection, actor=request.user, confirm_shared=form.cleaned_data.get("confirm_shared", False)
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("“%(name)s” is revoked.") % {"name": connection.name})
            warning = getattr(revoked, "revocation_warning", "")
            if warning:
                messages.warning(
                    request, _("%(app)s did not confirm the revocation: %(message)s") % {"app": connection.app.name, "message": warning}
                )
            return redirect(connection.get_absolute_url())
    since = timezone.now() - RECENT_USE
    consumers = list(
        Usage.objects.for_tenant(request.tenant).filter(connection=connection, last_used_at__gte=since)[:50]
    )
    context = {"connection": connection, "app": connection.app, "form": form, "shared": shared, "consumers": consumers}
    context["revokes_at_app"] = mode_for(connection.app).revoke_supported(connection.app)
    return render(request, "connections/revoke.html", context, status=400 if request.method == "POST" else 200)


@require_http_methods(["GET", "POST"])
@tenant_required(*CREATORS)
def connection_remove(request, pk):
    """Confirm, then remove a revoked connection from the history (its timeline goes with it)."""
    connection = connection_to_manage(request, pk)
    if connection.is_live:
        messages.info(request, _("Revoke this connection before removing it from the history."))
        return redirect(connection.get_absolute_url())
    if request.method == "POST":
        connection_services.connection_delete(connection=connection, actor=request.user)
        messages.success(request, _("“%(name)s” was removed from the history.") % {"name": connection.name})
        return redirect(f"{reverse('connections:list')}?status={HISTORY}")
    return render(request, "connections/remove.html", {"connection": connection, "app": connection.app})
