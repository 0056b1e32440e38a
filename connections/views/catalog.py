"""The catalog as a company sees it: the app grid, one app's page, and the "+ New Connection"
picker (the same grid, whose cards open the connection window).

These pages live in connections/ because they show the company's own connections and need
its membership; catalog/ keeps the apps, their selectors and presenters, and imports nothing
of connections.
"""

from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from catalog import selectors as catalog_selectors
from catalog.forms import CatalogFilterForm
from catalog.models import AuthMode, Category
from catalog.presenters import setup_step_items

from .. import selectors
from ..permissions import CREATORS, tenant_required
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
    return {
        "form": form,
        "filters": filters,
        "apps": apps,
        "categories": categories,
        "all_count": sum(counts.values()),
        "unconfigured_count": sum(1 for app in apps if not app.configured),
        "all_url": chip_url(""),
        "filtered": any(filters.values()),
        "auth_modes": AuthMode.choices,
        "picker": picker,
        "is_admin": bool(membership and membership.is_admin) or request.user.is_staff,
        "can_create": bool(membership and membership.can_create),
    }


@require_GET
@tenant_required()
def app_list(request):
    return render(request, "catalog/list.html", _grid_context(request, picker=False))


@require_GET
@tenant_required(*CREATORS)
def connection_new(request):
    """The "+ New Connection" picker: the catalog grid, cards open the connection window."""
    return render(request, "catalog/picker.html", _grid_context(request, picker=True))


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
        "steps": setup_step_items(app.setup_steps),
        "configured": configured,
        "can_create": can_create,
        "can_link": configured and can_create,
        "is_admin": bool(membership and membership.is_admin) or request.user.is_staff,
        "spec": app.spec,
        "scopes": grant.get("scopes") or [],
        "optional_scopes": grant.get("optional_scopes") or [],
        "fields": app.spec.get("fields") or [],
        "tenant_client_possible": tenant_clients_possible(app),
        "is_tenant_admin": bool(membership and membership.is_admin),
        "own_client": own_client,
    }
    return render(request, "catalog/detail.html", context)
