"""Global connections as tenants see them: read-only, checkable, never editable."""

from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from .. import selectors
from ..models import ConnectionStatus, Role
from ..permissions import tenant_required
from ..presenters import check_result_message, explain
from ..services.publication import global_check as global_check_service

RECENT_HEALTH = 10


@require_GET
@tenant_required()
def global_detail(request, pk):
    global_connection = selectors.global_connection_get(pk=pk)
    context = {
        "connection": global_connection,
        "app": global_connection.app,
        "health": list(global_connection.health.all()[:RECENT_HEALTH]),
        "can_check": request.membership.can_create,
    }
    if global_connection.last_error_code and global_connection.status != ConnectionStatus.ACTIVE:
        context["explanation"] = explain(global_connection.last_error_code)
    return render(request, "connections/global_detail.html", context)


@require_POST
@tenant_required(Role.ADMIN, Role.OPERATOR)
def global_check(request, pk):
    global_connection = selectors.global_connection_get(pk=pk)
    result = global_check_service(global_connection=global_connection, actor=request.user)
    check_result_message(request, result, global_connection.name)
    return redirect(global_connection.get_absolute_url())
