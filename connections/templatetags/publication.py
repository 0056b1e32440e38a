"""The `publication` template library: the publication state shown on a connection's page."""

from django import template

from connections.models import ConnectionStatus

register = template.Library()


@register.simple_tag
def publication_state(connection):
    """Return {"last": latest request or None, "live_copy": published global copy or None}."""
    last = connection.publication_requests.select_related("requested_by", "global_connection").first()
    live_copy = (
        connection.global_copies.filter(unpublished_at__isnull=True)
        .exclude(status=ConnectionStatus.REVOKED)
        .order_by("-published_at")
        .first()
    )
    return {"last": last, "live_copy": live_copy}
