"""Tenant settings: the alert webhook URL and its signing secret (sealed in the vault)."""

from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from vault.services import secret_destroy, secret_replace, secret_seal

from ..models import WEBHOOK_PURPOSE, EventKind, Tenant
from ..outbound import display_url
from .events import event_record
from .webhooks import secret_generate


@transaction.atomic
def tenant_webhook_set(*, tenant: Tenant, url: str, actor) -> str | None:
    """Save the webhook URL; return a new signing secret (to show once) when none existed yet."""
    tenant.webhook_url = url
    tenant.save(update_fields=["webhook_url"])
    event_record(kind=EventKind.WEBHOOK_UPDATED, tenant=tenant, actor=actor, detail={"url": display_url(url)})
    if url and tenant.webhook_secret_id is None:
        return tenant_webhook_secret_rotate(tenant=tenant, actor=actor)
    return None


@transaction.atomic
@sensitive_variables("value")
def tenant_webhook_secret_rotate(*, tenant: Tenant, actor) -> str:
    """Generate a new Standard Webhooks signing secret, seal it (purpose "webhook"), return it once."""
    value = secret_generate()
    if tenant.webhook_secret_id is None:
        tenant.webhook_secret = secret_seal(payload={"secret": value}, purpose=WEBHOOK_PURPOSE)
        tenant.save(update_fields=["webhook_secret"])
    else:
        secret_replace(secret=tenant.webhook_secret, payload={"secret": value})
    event_record(kind=EventKind.WEBHOOK_SECRET_ROTATED, tenant=tenant, actor=actor)
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
    event_record(kind=EventKind.WEBHOOK_REMOVED, tenant=tenant, actor=actor)
