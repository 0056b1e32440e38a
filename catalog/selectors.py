"""Reads of the catalog: visible apps with the tenant's connection counts, in constant queries."""

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import Lower
from django.http import Http404

from .models import OAUTH_MODES, App, OAuthClient


def _configured():
    return Exists(OAuthClient.objects.filter(app=OuterRef("pk"), client_secret__isnull=False))


def app_list_for_tenant(*, tenant, q: str = "", category: str = "", auth_mode: str = ""):
    """Return visible apps annotated with `connection_count` (the tenant's live connections)
    and `has_client` (an OAuth client is registered), in one query."""
    apps = App.objects.visible().annotate(
        connection_count=Count(
            "connections",
            filter=Q(connections__tenant=tenant) & ~Q(connections__status="revoked"),
        ),
        has_client=_configured(),
    )
    if q:
        apps = apps.filter(Q(name__icontains=q) | Q(slug__icontains=q.replace(" ", "-")))
    if category:
        apps = apps.filter(category=category)
    if auth_mode:
        apps = apps.filter(auth_mode=auth_mode)
    return apps.order_by(Lower("name"), "slug")


def category_counts(*, q: str = "", auth_mode: str = "") -> dict:
    """Return {category: number of visible apps} for the filter chips, in one query."""
    apps = App.objects.visible()
    if q:
        apps = apps.filter(Q(name__icontains=q) | Q(slug__icontains=q.replace(" ", "-")))
    if auth_mode:
        apps = apps.filter(auth_mode=auth_mode)
    rows = apps.order_by().values("category").annotate(n=Count("pk"))
    return {row["category"]: row["n"] for row in rows}


def app_get_visible(*, slug: str, tenant) -> App:
    """Return one visible app with its annotations, or raise Http404 (disabled apps included)."""
    app = app_list_for_tenant(tenant=tenant).filter(slug=slug).first()
    if app is None:
        raise Http404("No such app in the catalog.")
    return app


def app_is_configured(app: App) -> bool:
    """Return whether the app can be linked: OAuth apps need a registered client."""
    if app.auth_mode not in OAUTH_MODES:
        return True
    has_client = getattr(app, "has_client", None)
    if has_client is None:
        has_client = OAuthClient.objects.filter(app=app, client_secret__isnull=False).exists()
    return bool(has_client)
