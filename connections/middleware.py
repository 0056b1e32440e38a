"""Resolve the current tenant of a signed-in user: the session's choice, else the first membership."""

import ipaddress

from django.conf import settings

from .models import Member

SESSION_KEY = "tenant_id"


def membership_for(request):
    """Return the Member row for the request's user and chosen tenant, or None."""
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Member.objects.filter(user=user).select_related("tenant").order_by("tenant__name")
    chosen = request.session.get(SESSION_KEY)
    if chosen is not None:
        member = memberships.filter(tenant_id=chosen).first()
        if member is not None:
            return member
    member = memberships.first()
    if member is not None:
        request.session[SESSION_KEY] = member.tenant_id
    return member


class TenantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = membership_for(request)
        request.tenant = request.membership.tenant if request.membership else None
        return self.get_response(request)


def client_ip(request) -> str | None:
    """Return the client's address: REMOTE_ADDR, or the one our proxies appended (BEHIND_PROXY)."""
    remote = request.META.get("REMOTE_ADDR")
    if not settings.BEHIND_PROXY:
        return remote
    hops = max(settings.PROXY_HOPS, 1)
    chain = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(chain) < hops:
        return remote  # it did not come through all our proxies
    try:
        return str(ipaddress.ip_address(chain[-hops]))
    except ValueError:
        return remote
