"""Companies' own OAuth clients ("bring your own app"): register, replace, remove, choose.

A tenant admin registers the company's client id and secret for an app whose system
administrators allow it (App.tenant_clients_allowed); the secret is sealed in the vault and
never shown again. Each connection records the client that minted it (Connection.oauth_client,
and the sealed credentials' `tenant_client`), and refresh, revoke and re-authorize use that
client (connections/auth/base.py, oauth_client_for).

Replacing a client with another client id, or removing it, retires the row (never deletes it)
and flags every live connection it minted "re-authorize needed": status expired through
health.connection_status_set, with a reason that says what happened. A new secret for the same
client id is a rotation at the provider: the grants still belong to that client, nothing is
flagged.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from catalog.models import App, OAuthClient
from vault.services import secret_destroy, secret_replace, secret_seal

from ..auth import mode_for
from ..errors import ConnectionFailure
from ..models import (
    TENANT_CLIENT_PURPOSE,
    Connection,
    ConnectionStatus,
    ErrorCode,
    EventKind,
    GlobalConnection,
    TenantOAuthClient,
)
from .events import event_record
from .health import connection_status_set

REPLACED, REMOVED = "replaced", "removed"


def tenant_clients_possible(app: App) -> bool:
    """Return whether a company may register its own OAuth client for this app."""
    return bool(app.tenant_clients_allowed and mode_for(app).needs_client)


def tenant_client_live(*, tenant, app) -> TenantOAuthClient | None:
    """Return the company's live OAuth client for the app, or None."""
    return (
        TenantOAuthClient.objects.for_tenant(tenant)
        .filter(app=app, retired_at__isnull=True)
        .first()
    )


def tenant_client_for_attempt(*, tenant, app, connection=None) -> TenantOAuthClient | None:
    """Return the company client an attempt goes through; None means the platform's client.

    A re-authorization keeps the client that minted the connection while it lives (a grant
    minted by the platform's client is re-authorized with it); otherwise the company's live
    client when the app allows company clients, else the platform's.
    """
    if connection is not None:
        minted = connection.oauth_client
        if minted is not None and minted.is_live:
            return minted
        if (
            minted is None
            and OAuthClient.objects.filter(app=app, client_secret__isnull=False).exists()
        ):
            return None
    if not tenant_clients_possible(app):
        return None
    return tenant_client_live(tenant=tenant, app=app)


@sensitive_variables("client_secret", "payload")
def tenant_client_set(
    *, tenant, app: App, client_id: str, client_secret: str, actor
) -> TenantOAuthClient:
    """Register or replace the company's OAuth client for an app; return the live client.

    The same client id with a new secret updates the secret in place. Another client id
    retires the old client and flags the connections it minted (re-authorize needed).
    Raises ValidationError when the app does not allow company clients or a value is missing.
    """
    if not tenant_clients_possible(app):
        raise ValidationError(f"{app.name} does not accept your company's own OAuth client.")
    client_id = (client_id or "").strip()
    errors = {}
    if not client_id:
        errors["client_id"] = "Type the client id of your OAuth app."
    elif len(client_id) > 255 or any(c.isspace() for c in client_id):
        errors["client_id"] = "A client id is at most 255 characters, without spaces."
    if not client_secret:
        errors["client_secret"] = (
            "Type the client secret (it is stored encrypted and never shown again)."
        )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        current = (
            TenantOAuthClient.objects.for_tenant(tenant)
            .select_for_update()
            .filter(app=app, retired_at__isnull=True)
            .first()
        )
        payload = {"client_secret": client_secret}
        if current is not None and current.client_id == client_id:
            if current.client_secret_id:
                secret_replace(secret=current.client_secret, payload=payload)
            else:
                current.client_secret = secret_seal(payload=payload, purpose=TENANT_CLIENT_PURPOSE)
            current.save(update_fields=["client_secret", "updated_at"])
            _record(EventKind.OAUTH_CLIENT_SAVED, current, actor, {"secret_rotated": True})
            return current
        flagged = 0
        if current is not None:
            flagged = _retire(current, reason=REPLACED, actor=actor)
        client = TenantOAuthClient.all_objects.create(
            tenant=tenant, app=app, client_id=client_id, created_by=actor,
            client_secret=secret_seal(payload=payload, purpose=TENANT_CLIENT_PURPOSE),
        )  # fmt: skip
        _record(
            EventKind.OAUTH_CLIENT_SAVED,
            client,
            actor,
            {"replaced": current is not None, "flagged": flagged},
        )
        return client


def tenant_client_remove(*, client: TenantOAuthClient, actor) -> int:
    """Remove the company's OAuth client: retire it, destroy its secret, flag its connections.

    Return how many connections were flagged "re-authorize needed".
    """
    with transaction.atomic():
        client = (
            TenantOAuthClient.all_objects.select_for_update()
            .select_related("app")
            .get(pk=client.pk)
        )
        if not client.is_live:
            return 0
        flagged = _retire(client, reason=REMOVED, actor=actor)
        _record(EventKind.OAUTH_CLIENT_REMOVED, client, actor, {"flagged": flagged})
        return flagged


def _retire(client: TenantOAuthClient, *, reason: str, actor) -> int:
    """Retire a client inside the caller's transaction; return the number of flagged connections."""
    client.retired_at = timezone.now()
    client.retired_reason = reason
    secret = client.client_secret if client.client_secret_id else None
    client.client_secret = None
    client.save(update_fields=["retired_at", "retired_reason", "client_secret", "updated_at"])
    if secret is not None:
        secret_destroy(secret=secret)
    failure = ConnectionFailure(
        ErrorCode.CONNECTION_EXPIRED,
        f"Your company's own {client.app.name} OAuth client (client id {client.client_id[:60]}) that "
        f"linked this connection was {reason}: re-authorize the connection.",
    )
    flagged = 0
    for model in (Connection, GlobalConnection):
        rows = (
            model.all_objects.select_for_update()
            .filter(oauth_client=client)
            .exclude(status__in=[ConnectionStatus.REVOKED, ConnectionStatus.EXPIRED])
        )
        for row in rows:
            connection_status_set(
                row, status=ConnectionStatus.EXPIRED, via=EventKind.OAUTH_CLIENT_REMOVED
                if reason == REMOVED else EventKind.OAUTH_CLIENT_SAVED, actor=actor, failure=failure,
                fields=[],
            )  # fmt: skip
            flagged += 1
    return flagged


def _record(kind, client: TenantOAuthClient, actor, detail: dict) -> None:
    event_record(
        kind=kind, tenant=client.tenant, actor=actor,
        detail={"app": client.app.slug, "client_id": client.client_id, **detail},
    )  # fmt: skip
