"""Reads of the catalog: visible apps, their categories and whether they can be linked."""

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import Lower

from .models import App, OAuthClient


def _configured():
    return Exists(OAuthClient.objects.filter(app=OuterRef("pk"), client_secret__isnull=False))


def _searched(*, q: str, auth_mode: str):
    apps = App.objects.visible()
    if q:
        apps = apps.filter(Q(name__icontains=q) | Q(slug__icontains=q.replace(" ", "-")))
    if auth_mode:
        apps = apps.filter(auth_mode=auth_mode)
    return apps


def app_list(*, q: str = "", category: str = "", auth_mode: str = ""):
    """Return visible apps annotated with `has_client` (an OAuth client is registered)."""
    apps = _searched(q=q, auth_mode=auth_mode).annotate(has_client=_configured())
    if category:
        apps = apps.filter(category=category)
    return apps.order_by(Lower("name"), "slug")  # "monday.com" among the m's, not after Zoom


def category_counts(*, q: str = "", auth_mode: str = "") -> dict:
    """Return {category: number of visible apps} for the filter chips, in one query."""
    rows = _searched(q=q, auth_mode=auth_mode).order_by().values("category").annotate(n=Count("pk"))
    return {row["category"]: row["n"] for row in rows}


def app_is_configured(app: App) -> bool:
    """Return whether the app can be linked: OAuth apps need a registered client."""
    if not app.needs_oauth_client:
        return True
    has_client = getattr(app, "has_client", None)
    if has_client is None:
        has_client = OAuthClient.objects.filter(app=app, client_secret__isnull=False).exists()
    return bool(has_client)
