"""Tenant API tokens: created once (plaintext shown once), stored as a SHA-256 hash, revocable.

A token carries scopes (`TokenScope`: least privilege is `read` only), an optional expiry and,
optionally, the list of tenant and global connections it may use. Authentication records when
and from which address it was last used.
"""

import hashlib
import ipaddress
import secrets
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from ..models import ApiToken, EventKind, Tenant, TokenScope
from . import lookups
from .events import event_record

TOKEN_PREFIX = "act_"
PREFIX_CHARS = 12  # "act_" + 8 characters: enough to recognise a token in a list
LAST_USED_RESOLUTION = 60  # seconds: don't write last_used_at on every request
MAX_RAW_LENGTH = 200


@sensitive_variables("raw")
def token_hash(raw: str) -> str:
    """Return the SHA-256 hex digest stored for a raw token."""
    return hashlib.sha256(raw.encode()).hexdigest()


def _clean_scopes(scopes) -> list:
    known = {scope.value for scope in TokenScope}
    chosen = [str(scope) for scope in scopes or []]
    unknown = sorted(set(chosen) - known)
    if unknown:
        raise ValidationError({"scopes": f"Unknown scope {', '.join(unknown)[:80]}."})
    if not chosen:
        raise ValidationError({"scopes": "Choose at least one scope."})
    return [scope.value for scope in TokenScope if scope.value in chosen]  # canonical order


@sensitive_variables("raw")
@transaction.atomic
def api_token_create(
    *,
    tenant: Tenant,
    name: str,
    actor,
    scopes=(TokenScope.READ,),
    expires_at: datetime | None = None,
    connections=None,
    global_connections=None,
) -> tuple[ApiToken, str]:
    """Create a token for the tenant; return it with its plaintext, which is never stored.

    `connections` / `global_connections` restrict the token to those connections (the tenant's
    own, and global ones); when both are None it may use every connection the tenant sees.
    """
    scopes = _clean_scopes(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "Choose an expiry in the future."})
    restricted = connections is not None or global_connections is not None
    connections = list(connections or [])
    global_connections = list(global_connections or [])
    if any(connection.tenant_id != tenant.pk for connection in connections):
        raise ValidationError({"connections": "Choose connections of this company only."})
    if any(shared.unpublished_at is not None for shared in global_connections):
        raise ValidationError({"global_connections": "Choose published global connections only."})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.all_objects.create(
        tenant=tenant,
        name=name.strip(),
        token_hash=token_hash(raw),
        prefix=raw[:PREFIX_CHARS],
        scopes=scopes,
        expires_at=expires_at,
        all_connections=not restricted,
        created_by=actor,
    )
    if restricted:
        token.connections.set(connections)
        token.global_connections.set(global_connections)
    event_record(
        kind=EventKind.API_TOKEN_CREATED, tenant=tenant, actor=actor,
        detail={
            "name": token.name,
            "prefix": token.prefix,
            "scopes": scopes,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "connections": None if not restricted else len(connections) + len(global_connections),
        },
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


def _address(value) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value or "").strip()))
    except ValueError:
        return None


@sensitive_variables("raw")
def api_token_authenticate(raw: str, *, address: str | None = None, generation=lookups.UNREAD) -> ApiToken | None:
    """Return the live token matching a raw bearer value (with its tenant), or None.

    Unknown, revoked and expired tokens are None alike. The use is recorded (last used at and
    from `address`) at most once a minute unless the address changes. `generation`: the lookup
    generation this request already read (lookups.py), else it is read here.
    """
    if (
        not raw
        or not isinstance(raw, str)
        or not raw.startswith(TOKEN_PREFIX)
        or len(raw) > MAX_RAW_LENGTH
    ):
        return None
    now = timezone.now()
    hashed = token_hash(raw)

    def load():
        try:  # token_hash is unique: get() needs no ORDER BY (cheaper to compile)
            return ApiToken.all_objects.select_related("tenant").get(token_hash=hashed, revoked_at__isnull=True)
        except ApiToken.DoesNotExist:
            return None

    # Shared, not copied: the entry's own last-use fields are what keeps the write below to
    # once a minute. A revocation sets a new generation (lookups.py); expiry is checked here.
    token = lookups.cached(("token", hashed), load, current=generation, share=True)
    if token is None or token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        return None
    address = _address(address)
    stale = (
        token.last_used_at is None
        or (now - token.last_used_at).total_seconds() > LAST_USED_RESOLUTION
    )
    if stale or (address and address != token.last_used_from):
        changes = {"last_used_at": now}
        if address:
            changes["last_used_from"] = address
        ApiToken.all_objects.filter(pk=token.pk).update(**changes)
        for field, value in changes.items():
            setattr(token, field, value)
    return token
