"""Tenant API tokens: created once (plaintext shown once), stored as a SHA-256 hash, revocable."""

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from ..models import ApiToken, EventKind, Tenant
from .events import event_record

TOKEN_PREFIX = "act_"
PREFIX_CHARS = 12  # "act_" + 8 characters: enough to recognise a token in a list
LAST_USED_RESOLUTION = 60  # seconds: don't write last_used_at on every request


def token_hash(raw: str) -> str:
    """Return the SHA-256 hex digest stored for a raw token."""
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, tenant: Tenant, name: str, actor) -> tuple[ApiToken, str]:
    """Create a token for the tenant; return it with its plaintext, which is never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.all_objects.create(
        tenant=tenant,
        name=name.strip(),
        token_hash=token_hash(raw),
        prefix=raw[:PREFIX_CHARS],
        created_by=actor,
    )
    event_record(
        kind=EventKind.API_TOKEN_CREATED, tenant=tenant, actor=actor,
        detail={"name": token.name, "prefix": token.prefix},
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor) -> ApiToken:
    """Revoke the token; it stops authenticating at once. Revoking twice changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        event_record(
            kind=EventKind.API_TOKEN_REVOKED, tenant=token.tenant, actor=actor,
            detail={"name": token.name, "prefix": token.prefix},
        )
    return token


def api_token_authenticate(raw: str) -> ApiToken | None:
    """Return the live token matching a raw bearer value (with its tenant), or None."""
    if not raw or not isinstance(raw, str) or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.all_objects.select_related("tenant")
        .filter(token_hash=token_hash(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > LAST_USED_RESOLUTION:
        ApiToken.all_objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
