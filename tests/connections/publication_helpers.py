"""Helpers of the publication and admin tests (their fixtures are in conftest.py)."""

from connections.models import GlobalConnection, HealthCheck

API_BASE = "https://pub-api.example.test/v1"
ME_URL = API_BASE + "/me"
API_KEY = "pubkey-Zx81-very-secret-value-0123456789"
ACCOUNT = "support@acme.test"


def publish(connection, *, reviewer):
    """Return a published GlobalConnection of connection (through the real services)."""
    from connections.services.publication import publication_approve, publication_request_create

    publication_request = publication_request_create(connection=connection, user=connection.created_by, reason="Shared inbox")
    publication_request, created = publication_approve(publication_request=publication_request, reviewer=reviewer)
    assert created
    return GlobalConnection.objects.get(pk=publication_request.global_connection_id)


def health_of(obj):
    return HealthCheck.objects.filter(**obj.as_owner())
