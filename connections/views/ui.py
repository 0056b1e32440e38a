"""Small dashboard endpoints: the colour theme switch and the live status of a connection page."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from .. import selectors
from ..models import UiPreference
from ..permissions import tenant_required
from ..services.preferences import ui_theme_set

RECENT_HEALTH = 10


@require_POST
@login_required
def theme_set(request):
    """Store the chosen theme; answer 204 to scripts, else go back to the page it came from."""
    theme = request.POST.get("theme", "")
    if theme not in UiPreference.Theme.values:
        return HttpResponseBadRequest("Choose system, light or dark.", content_type="text/plain")
    ui_theme_set(user=request.user, theme=theme, session=request.session)
    if request.headers.get("X-Requested-With") == "fetch":
        return HttpResponse(status=204)
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(target if safe else "connections:list")


def _live(request, connection, *, can_check, testid=""):
    context = {
        "testid": testid,
        "connection": connection,
        "app": connection.app,
        "health": list(connection.health.all()[:RECENT_HEALTH]),
        "can_check": can_check,
    }
    response = render(request, "connections/_live.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@tenant_required()
def connection_live(request, pk):
    """Render the parts of a connection page that checks and refreshes change (polled)."""
    connection = selectors.connection_get_for_tenant(tenant=request.tenant, pk=pk)
    return _live(
        request, connection, can_check=connection.is_live and request.membership.can_create
    )


@require_GET
@tenant_required()
def global_live(request, pk):
    """Render the parts of a global connection page that checks change (polled)."""
    connection = selectors.global_connection_get(pk=pk)
    return _live(
        request, connection, can_check=request.membership.can_create, testid="global-health"
    )
