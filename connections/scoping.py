"""Tenant scoping: tenant-owned models refuse reads that do not name a tenant.

`Model.objects.for_tenant(tenant)` is the way in. System code that must see every tenant
(beat jobs, the Django admin, management commands) uses `Model.all_objects` on purpose,
which makes such reads visible in review and in `git grep all_objects`.
"""

from django.db import models


class UnscopedQueryError(RuntimeError):
    """A tenant-owned model was queried without naming the tenant."""


def _refuse(name):
    def method(self, *args, **kwargs):
        raise UnscopedQueryError(
            f"{self.model.__name__}.objects.{name}() has no tenant: use "
            f"{self.model.__name__}.objects.for_tenant(tenant), or "
            f"{self.model.__name__}.all_objects for system jobs."
        )

    method.__name__ = name
    return method


class TenantScopedManager(models.Manager):
    """Manager whose only read is for_tenant(); every unscoped read raises."""

    def for_tenant(self, tenant):
        if tenant is None or getattr(tenant, "pk", None) is None:
            raise UnscopedQueryError(f"{self.model.__name__}.objects.for_tenant() needs a saved tenant.")
        return super().get_queryset().filter(tenant=tenant)

    for _name in (
        "all", "filter", "exclude", "get", "first", "last", "count", "exists", "iterator",
        "values", "values_list", "aggregate", "annotate", "order_by", "select_related",
        "prefetch_related", "in_bulk", "get_or_create", "update_or_create", "update", "delete",
    ):
        locals()[_name] = _refuse(_name)
    del _name
