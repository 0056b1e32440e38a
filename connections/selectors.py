"""Scoped reads of the connections app: a tenant only ever sees its own rows."""

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Attempt, Connection, ConnectionStatus, Event, GlobalConnection


def connection_get_for_tenant(*, tenant, pk) -> Connection:
    """Return the tenant's connection, or raise Http404 when missing or not the tenant's."""
    try:
        return Connection.objects.for_tenant(tenant).select_related("app", "created_by", "credentials").get(pk=pk)
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


def token_connection_choices(*, tenant) -> tuple[QuerySet, QuerySet]:
    """Return (the tenant's live connections, the published global ones) a token may be limited to."""
    own = Connection.objects.for_tenant(tenant).exclude(status=ConnectionStatus.REVOKED).select_related("app")
    shared = global_connections_visible().exclude(status=ConnectionStatus.REVOKED)
    return own.order_by("name", "id"), shared.order_by("name", "id")
