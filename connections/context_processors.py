from .models import Member


def tenancy(request):
    """Expose the current tenant, membership and (lazily) the user's other tenants."""
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
    }
