"""The catalog as a company sees it: the app grid, one app's page, and the "+ New Connection"
picker (the same grid, whose cards open the connection window).

These pages live in connections/ because they show the company's own connections and need
its membership; catalog/ keeps the apps, their selectors and presenters, and imports nothing
of connections.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from catalog import selectors as catalog_selectors
from catalog.forms import CatalogFilterForm
from catalog.models import AuthMode, Category
from catalog.presenters import catalog_sections, setup_steps_for

from .. import selectors
from ..models import Role, SetupRequest
from ..permissions import CREATORS, tenant_required
from ..services.setup_requests import setup_request_dismiss, setup_request_for, setup_request_send
from ..services.tenant_clients import tenant_clients_possible


def _grid_context(request, *, picker: bool) -> dict:
    form = CatalogFilterForm(request.GET or None)
    filters = form.values() if request.GET else {"q": "", "category": "", "auth": ""}
    apps = list(
        selectors.app_list_for_tenant(
            tenant=request.tenant, q=filters["q"], category=filters["category"], auth_mode=filters["auth"]
        )
    )
    counts = catalog_selectors.category_counts(q=filters["q"], auth_mode=filters["auth"])
    labels = dict(Category.choices)

    def chip_url(category):
        params = {"q": filters["q"], "auth": filters["auth"], "category": category}
        query = urlencode({k: v for k, v in params.items() if v})
        return f"?{query}" if query else request.path

    categories = [
        {"key": key, "label": labels[key], "count": counts[key], "url": chip_url(key)}
        for key in Category.values
        if counts.get(key)
    ]
    own_clients = selectors.tenant_client_app_ids(tenant=request.tenant)
    for app in apps:
        app.configured = catalog_selectors.app_is_configured(app) or app.pk in own_clients
        if picker and app.configured:
            app.card_url = reverse("connections:create", args=[app.slug])
        else:
            app.card_url = app.get_absolute_url()
    membership = request.membership
    filtered = any(filters.values())
    return {
        "sections": catalog_sections(apps, filtered=filtered),
        "form": form,
        "filters": filters,
        "apps": apps,
        "categories": categories,
        "all_count": sum(counts.values()),
        "unconfigured_count": sum(1 for app in apps if not app.configured),
        "all_url": chip_url(""),
        "filtered": filtered,
        "auth_modes": AuthMode.choices,
        "picker": picker,
        "is_admin": bool(membership and membership.is_admin) or request.user.is_staff,
        "can_create": bool(membership and membership.can_create),
    }


@require_GET
@tenant_required()
def app_list(request):
    """The catalog: every app the company can link, grouped, filtered as the person types."""
    return _render_grid(request, "catalog/list.html", picker=False)


def _render_grid(request, template, *, picker):
    # ?partial=1 is static/js/app.js asking for the results alone while someone types.
    if request.GET.get("partial") == "1":
        template = "catalog/_results.html"
    return render(request, template, _grid_context(request, picker=picker))


@require_GET
@tenant_required(*CREATORS)
def connection_new(request):
    """The "+ New Connection" picker: the catalog grid, cards open the connection window."""
    return _render_grid(request, "catalog/picker.html", picker=True)


@require_GET
@tenant_required()
def app_detail(request, slug):
    app = selectors.app_get_for_tenant(slug=slug, tenant=request.tenant)
    membership = request.membership
    own_client = app.pk in selectors.tenant_client_app_ids(tenant=request.tenant)
    configured = catalog_selectors.app_is_configured(app) or own_client
    can_create = bool(membership and membership.can_create)
    grant = app.spec.get("oauth2") or app.spec.get("client_credentials") or {}  # its scopes
    context = {
        "app": app,
        "steps": setup_steps_for(app, staff=request.user.is_staff, configured=configured),
        "configured": configured,
        "can_create": can_create,
        "can_link": configured and can_create,
        "is_admin": bool(membership and membership.is_admin) or request.user.is_staff,
        "spec": app.spec,
        "scopes": grant.get("scopes") or [],
        "optional_scopes": grant.get("optional_scopes") or [],
        "fields": app.spec.get("fields") or [],
        "setup_request": None if configured else setup_request_for(member=request.membership, app=app),
        "tenant_client_possible": tenant_clients_possible(app),
        "is_tenant_admin": bool(membership and membership.is_admin),
        "own_client": own_client,
    }
    return render(request, "catalog/detail.html", context)


@require_POST
@tenant_required(*CREATORS)
def app_ask_setup(request, slug):
    """Ask for an unconfigured app: operators ask the company's admins, admins the platform's."""
    app = selectors.app_get_for_tenant(slug=slug, tenant=request.tenant)
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    if not safe:
        target = app.get_absolute_url()
    if catalog_selectors.app_is_configured(app):
        messages.info(request, f"{app.name} is set up: you can link an account now.")
        return redirect(target)
    setup, told = setup_request_send(member=request.membership, app=app)
    if setup.audience == SetupRequest.Audience.STAFF:
        who = "The platform administrators"
    else:
        who = f"The admins of {request.tenant.name}"
    if told:
        messages.success(
            request, f"{who} were asked to set up {app.name}. You can link an account once it is done."
        )
    else:
        messages.info(request, f"{who} were already asked to set up {app.name}.")
    return redirect(target)



@require_POST
@tenant_required(Role.ADMIN)
def setup_request_dismiss_view(request, pk):
    """Take an operator's setup request off the admins' dashboard."""
    setup = get_object_or_404(
        SetupRequest.objects.for_tenant(request.tenant).select_related("app"),
        pk=pk, audience=SetupRequest.Audience.ADMINS,
    )
    setup_request_dismiss(request=setup, actor=request.user)
    messages.success(request, f"The request to set up {setup.app.name} was dismissed.")
    return redirect("connections:list")
