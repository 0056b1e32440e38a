from django.conf import settings

from .models import Member

SECTIONS = {
    "connections": "connections",
    "catalog": "catalog",
    "tenants:members": "members",
    "tenants:tokens": "tokens",
    "tenants:token_revoke": "tokens",
    "tenants:settings": "settings",
}


def _section(request):
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    return SECTIONS.get(f"{match.namespace}:{match.url_name}") or SECTIONS.get(match.namespace, "")


def tenancy(request):
    """Expose the current tenant, membership, the active nav section and (lazily) the user's other tenants."""
    membership = getattr(request, "membership", None)

    def other_memberships():
        if not membership:
            return []
        return list(
            Member.objects.filter(user=request.user)
            .exclude(pk=membership.pk)
            .select_related("tenant")
            .order_by("tenant__name")
        )

    return {
        "tenant": getattr(request, "tenant", None),
        "membership": membership,
        "other_memberships": other_memberships,
        "nav_section": _section(request),
        "demo_hint": settings.DEBUG,
    }
