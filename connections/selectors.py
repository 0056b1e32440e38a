"""Scoped reads of the connections app: a tenant only ever sees its own rows."""

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from catalog import selectors as catalog_selectors

from .models import (
    Attempt,
    Connection,
    ConnectionStatus,
    Event,
    GlobalConnection,
    TenantOAuthClient,
    WebhookDelivery,
)

ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]


def connection_get_for_tenant(*, tenant, pk) -> Connection:
    """Return the tenant's connection, or raise Http404 when missing or not the tenant's."""
    try:
        return Connection.objects.for_tenant(tenant).select_related("app", "created_by", "credentials", "oauth_client").get(pk=pk)
    except (Connection.DoesNotExist, ValidationError, ValueError, TypeError):
        raise Http404("No such connection.") from None


def _filtered(qs, *, app, status, q) -> QuerySet:
    """Apply the list filters shared by tenant and global connections; revoked only when asked."""
    if app:
        qs = qs.filter(app__slug=app) if isinstance(app, str) else qs.filter(app=app)
    if status:
        qs = qs.filter(status=status)
    else:
        qs = qs.exclude(status=ConnectionStatus.REVOKED)
    if q:
        q = q.strip()
        qs = qs.filter(Q(name__icontains=q) | Q(account_label__icontains=q) | Q(app__name__icontains=q))
    return qs.order_by("name", "id")


def connection_list_for_tenant(*, tenant, app=None, status=None, q=None) -> QuerySet:
    """Return the tenant's connections, filtered; revoked ones only when status asks for them."""
    qs = Connection.objects.for_tenant(tenant).select_related("app", "created_by")
    return _filtered(qs, app=app, status=status, q=q)


def attempt_get_for_tenant(*, tenant, pk) -> Attempt:
    """Return the tenant's attempt, or raise Http404."""
    try:
        return Attempt.objects.for_tenant(tenant).select_related("app", "connection", "created_by").get(pk=pk)
    except (Attempt.DoesNotExist, ValidationError, ValueError, TypeError):
        raise Http404("No such attempt.") from None


def attempt_list_for_connection(*, connection) -> QuerySet:
    """Return the attempts that re-authorized (or created) a connection, newest first."""
    return Attempt.objects.for_tenant(connection.tenant).filter(connection=connection).select_related("created_by")


def events_for(connection) -> QuerySet:
    """Return a connection's (or global connection's) timeline, newest first."""
    if isinstance(connection, GlobalConnection):
        return Event.all_objects.filter(global_connection=connection).select_related("actor")
    return Event.objects.for_tenant(connection.tenant).filter(
        connection=connection
    ).select_related("actor")


def global_connections_visible(*, app=None, status=None, q=None) -> QuerySet:
    """Return the published global connections every tenant may see (read-only)."""
    qs = GlobalConnection.objects.filter(unpublished_at__isnull=True).select_related("app")
    return _filtered(qs, app=app, status=status, q=q)


def global_connection_get(*, pk) -> GlobalConnection:
    """Return a visible global connection, or raise Http404."""
    try:
        return global_connections_visible().get(pk=pk)
    except (GlobalConnection.DoesNotExist, ValidationError, ValueError, TypeError):
        raise Http404("No such global connection.") from None


def _live_of_app(tenant, app):
    return Connection.objects.for_tenant(tenant).filter(app=app).exclude(status=ConnectionStatus.REVOKED)


def connection_name_taken(*, tenant, app, name: str, exclude=None) -> bool:
    """Return whether a live connection of the tenant and app has this name (any letter case)."""
    qs = _live_of_app(tenant, app).filter(name__iexact=name.strip())
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.exists()


def ordinal(n: int) -> str:
    """Return "first" … "tenth", then "11th", "12th", "21st", "22nd", "23rd", …"""
    if 1 <= n <= len(ORDINALS):
        return ORDINALS[n - 1]
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def connection_default_name(*, tenant, app) -> str:
    """Return "My first Slack account", "My second …" when earlier live ones exist."""
    n = _live_of_app(tenant, app).count() + 1
    while True:
        name = f"My {ordinal(n)} {app.name} account"
        if not connection_name_taken(tenant=tenant, app=app, name=name):
            return name
        n += 1


def app_list_for_tenant(*, tenant, q: str = "", category: str = "", auth_mode: str = ""):
    """Return the catalog's visible apps with `connection_count`, the tenant's live connections
    of each (and `has_client`), in one query."""
    return catalog_selectors.app_list(q=q, category=category, auth_mode=auth_mode).annotate(
        connection_count=Count(
            "connections",
            filter=Q(connections__tenant=tenant) & ~Q(connections__status=ConnectionStatus.REVOKED),
        ),
    )


def tenant_client_app_ids(*, tenant) -> set:
    """Return the ids of the apps the company has a live own OAuth client for (allowed ones)."""
    return set(
        TenantOAuthClient.objects.for_tenant(tenant)
        .filter(retired_at__isnull=True, app__tenant_clients_allowed=True)
        .values_list("app_id", flat=True)
    )


def app_get_for_tenant(*, slug: str, tenant):
    """Return one visible app with its annotations, or raise Http404 (disabled apps included)."""
    app = app_list_for_tenant(tenant=tenant).filter(slug=slug).first()
    if app is None:
        raise Http404("No such app in the catalog.")
    return app


def token_connection_choices(*, tenant) -> tuple[QuerySet, QuerySet]:
    """Return (the tenant's live connections, the published global ones) a token may be limited to."""
    own = Connection.objects.for_tenant(tenant).exclude(status=ConnectionStatus.REVOKED).select_related("app")
    shared = global_connections_visible().exclude(status=ConnectionStatus.REVOKED)
    return own.order_by("name", "id"), shared.order_by("name", "id")


def webhook_deliveries_for_tenant(*, tenant, limit: int = 50) -> list:
    """Return the tenant's last `limit` webhook delivery attempts, newest first (one query)."""
    return list(WebhookDelivery.objects.for_tenant(tenant).order_by("-created_at", "-id")[:limit])
