"""Who may do what in a tenant: viewers see, operators create and use, admins do everything."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.translation import gettext as _

from . import selectors
from .models import Role


def tenant_required(*roles):
    """Require a signed-in member of the current tenant, optionally with one of the roles."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if request.membership is None:
                return render(request, "connections/no_tenant.html", status=403)
            if roles and request.membership.role not in roles:
                raise PermissionDenied("Your role in this company does not allow this.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


CREATORS = (Role.ADMIN, Role.OPERATOR)  # the roles that create and use connections


def can_manage(member, connection) -> bool:
    """Return whether member may edit, re-authorize or revoke the tenant's connection."""
    if member is None or member.tenant_id != connection.tenant_id:
        return False
    if member.role == Role.ADMIN:
        return True
    return member.role == Role.OPERATOR and connection.created_by_id == member.user_id


def require_manage(member, connection) -> None:
    """Raise PermissionDenied unless member may change the connection (can_manage)."""
    if not can_manage(member, connection):
        raise PermissionDenied(
            _("Only the operator who created this connection or a tenant admin can change it.")
        )


def connection_to_manage(request, pk):
    """Return the tenant's connection that the member may change; 404 or PermissionDenied."""
    connection = selectors.connection_get_for_tenant(tenant=request.tenant, pk=pk)
    require_manage(request.membership, connection)
    return connection
