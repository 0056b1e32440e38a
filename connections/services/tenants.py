"""Tenant settings: the alert webhook URL and its signing secret (sealed in the vault)."""

import secrets

from django.db import transaction

from vault.services import secret_destroy, secret_replace, secret_seal

from ..models import Event, Tenant

WEBHOOK_SECRET_PREFIX = "whsec_"


@transaction.atomic
def tenant_webhook_set(*, tenant: Tenant, url: str, actor) -> str | None:
    """Save the webhook URL; return a new signing secret (to show once) when none existed yet."""
    tenant.webhook_url = url
    tenant.save(update_fields=["webhook_url"])
    Event.all_objects.create(tenant=tenant, actor=actor, kind="webhook_updated", detail={"url": url})
    if url and tenant.webhook_secret_id is None:
        return tenant_webhook_secret_rotate(tenant=tenant, actor=actor)
    return None


@transaction.atomic
def tenant_webhook_secret_rotate(*, tenant: Tenant, actor) -> str:
    """Generate a new webhook signing secret, seal it (purpose "webhook") and return it once."""
    value = WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)
    if tenant.webhook_secret_id is None:
        tenant.webhook_secret = secret_seal(payload={"secret": value}, purpose="webhook")
        tenant.save(update_fields=["webhook_secret"])
    else:
        secret_replace(secret=tenant.webhook_secret, payload={"secret": value})
    Event.all_objects.create(tenant=tenant, actor=actor, kind="webhook_secret_rotated", detail={})
    return value


@transaction.atomic
def tenant_webhook_clear(*, tenant: Tenant, actor) -> None:
    """Remove the webhook URL and destroy its signing secret."""
    secret = tenant.webhook_secret
    tenant.webhook_url = ""
    tenant.webhook_secret = None
    tenant.save(update_fields=["webhook_url", "webhook_secret"])
    if secret is not None:
        secret_destroy(secret=secret)
    Event.all_objects.create(tenant=tenant, actor=actor, kind="webhook_removed", detail={})
