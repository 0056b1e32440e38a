"""Writes on existing connections: a unique name, rename, revoke, removal from the history."""

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from vault.services import VaultError, secret_destroy, secret_open

from ..auth import mode_for
from ..errors import ConnectionFailure
from ..models import CREDENTIALS_PURPOSE, Connection, ConnectionStatus, EventKind, GlobalConnection
from ..selectors import connection_name_taken
from .events import event_record
from .health import connection_status_set

logger = logging.getLogger(__name__)

def unique_name(*, tenant, app, name: str) -> str:
    """Return name, or name with " (2)", " (3)"… when a live connection took it meanwhile."""
    candidate, n = name, 1
    while connection_name_taken(tenant=tenant, app=app, name=candidate):
        n += 1
        candidate = f"{name[:110]} ({n})"
    return candidate


def connection_rename(*, connection: Connection, name: str, actor) -> Connection:
    """Rename a live connection; the name is unique per tenant and app among live connections."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the connection a name."})
    if len(name) > 120:
        raise ValidationError({"name": "Use at most 120 characters."})
    with transaction.atomic():
        connection = Connection.all_objects.select_for_update().select_related("app").get(pk=connection.pk)
        if connection.status == ConnectionStatus.REVOKED:
            raise ValidationError("A revoked connection cannot be renamed.")
        if name == connection.name:
            return connection
        if connection_name_taken(tenant=connection.tenant, app=connection.app, name=name, exclude=connection):
            raise ValidationError(
                {"name": f"You already have a {connection.app.name} connection named “{name}”."}, code="unique"
            )
        previous = connection.name
        connection.name = name
        connection.save(update_fields=["name", "updated_at"])
        event_record(kind=EventKind.RENAMED, connection=connection, actor=actor, detail={"from": previous, "to": name})
    return connection


def shared_global_connections(connection: Connection):
    """Return the live global connections that hold the same grant (the same Secret)."""
    if not connection.credentials_id:
        return GlobalConnection.objects.none()
    return GlobalConnection.objects.filter(credentials_id=connection.credentials_id).exclude(
        status=ConnectionStatus.REVOKED
    )


def connection_revoke(*, connection: Connection, actor, confirm_shared: bool = False) -> Connection:
    """Revoke a connection: at the provider (RFC 7009) when possible, then locally, for good.

    A failure at the provider is logged and recorded on the Event but does not keep the
    connection alive. The Secret is destroyed unless a global connection still holds it; then
    `confirm_shared=True` is required and the grant stays alive at the provider for the global
    copy. The returned connection carries `revocation_warning` (a safe message, or "").
    """
    connection = Connection.all_objects.select_related("app", "credentials").get(pk=connection.pk)
    if connection.status == ConnectionStatus.REVOKED:
        connection.revocation_warning = ""
        return connection
    shared = list(shared_global_connections(connection).values_list("name", flat=True))
    if shared and not confirm_shared:
        raise ValidationError(
            "The global connection “%(names)s” uses the same authorization; confirm to revoke this "
            "connection while the global copy keeps working.",
            code="shared",
            params={"names": "”, “".join(shared)},
        )
    app = connection.app
    provider, warning = "skipped", ""
    if not shared and connection.credentials_id:
        mode = mode_for(app)
        if mode.revoke_supported(app):
            try:
                credentials = secret_open(secret=connection.credentials, purpose=CREDENTIALS_PURPOSE)
                mode.revoke(app, connection.config, credentials)
                provider = "revoked"
            except ConnectionFailure as failure:
                provider, warning = "failed", failure.message
                logger.warning("Revocation of connection %s at %s failed: %s", connection.pk, app.slug, failure.message)
            except VaultError:
                provider, warning = "failed", "The stored credentials could not be opened."
                logger.warning("Revocation of connection %s: credentials could not be opened", connection.pk)
        else:
            provider = "not_supported"
    with transaction.atomic():
        connection = Connection.all_objects.select_for_update().get(pk=connection.pk)
        if connection.status == ConnectionStatus.REVOKED:
            connection.revocation_warning = ""
            return connection
        secret = connection.credentials if connection.credentials_id else None
        keep_secret = bool(shared) or shared_global_connections(connection).exists()
        connection.revoked_at = timezone.now()
        if secret is not None and not keep_secret:
            connection.credentials = None
        connection.version = (connection.version or 0) + 1
        connection_status_set(connection, status=ConnectionStatus.REVOKED, via=EventKind.REVOKED, actor=actor)
        if secret is not None and not keep_secret:
            secret_destroy(secret=secret)
        detail = {"provider_revocation": provider, "stored_credentials": "kept_for_global" if keep_secret else "destroyed"}
        if warning:
            detail["message"] = warning
        if shared:
            detail["global_connections"] = shared
        event_record(kind=EventKind.REVOKED, connection=connection, actor=actor, detail=detail)
    connection.revocation_warning = warning
    return connection


@transaction.atomic
def connection_delete(*, connection: Connection, actor) -> None:
    """Delete a revoked connection and its timeline; the company's audit keeps one Event."""
    connection = Connection.objects.for_tenant(connection.tenant).select_for_update().get(pk=connection.pk)
    if connection.status != ConnectionStatus.REVOKED:
        raise ValidationError("Only a revoked connection can be removed from the history.")
    detail = {"name": connection.name, "app": connection.app.slug}
    tenant = connection.tenant
    connection.delete()
    event_record(kind=EventKind.CONNECTION_REMOVED, tenant=tenant, actor=actor, detail=detail)
