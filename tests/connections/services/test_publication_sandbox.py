"""Publication against the sandbox over loopback: a real OAuth2 grant shared by a source and its global copy."""

import pytest

from connections.models import ConnectionStatus, GlobalConnection
from connections.services.connections import connection_revoke
from connections.services.health import connection_check, connection_refresh
from connections.services.publication import (
    global_check,
    global_revoke,
    global_unpublish,
    publication_approve,
    publication_request_create,
)

from ..bg_support import make_connection, oauth2_app, oauth2_grant, stored, token_works

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published(sandbox, tenant, admin_member, django_user_model):
    reviewer = django_user_model.objects.create_superuser(username="root", password="x", email="root@ops.test")
    app = oauth2_app(sandbox)
    source = make_connection(tenant, app, oauth2_grant(sandbox), name="Shared sandbox", created_by=admin_member.user)
    publication_request = publication_request_create(connection=source, user=admin_member.user, reason="shared")
    publication_request, created = publication_approve(publication_request=publication_request, reviewer=reviewer)
    assert created
    return source, GlobalConnection.objects.get(pk=publication_request.global_connection_id), reviewer


def test_approval_checks_against_the_app_and_the_copy_shares_refreshes(sandbox, published):
    source, global_connection, reviewer = published
    assert sandbox.count("api") >= 1  # the approval's re-check reached the app

    before = sandbox.token_requests()
    refreshed = connection_refresh(connection=global_connection, force=True)

    assert sandbox.token_requests() == before + 1
    assert stored(source)["access_token"] == refreshed["access_token"]  # the source sees the new token
    assert connection_check(connection=source).ok
    assert global_check(global_connection=global_connection, actor=reviewer).ok


def test_unpublish_leaves_the_source_working(sandbox, published):
    source, global_connection, reviewer = published

    global_unpublish(global_connection=global_connection, actor=reviewer)

    assert sandbox.count("revoke") == 0
    assert token_works(sandbox, stored(source)["access_token"])
    assert connection_check(connection=source).ok


def test_revoke_at_the_provider_kills_the_grant_for_the_source_too(sandbox, published):
    source, global_connection, reviewer = published
    access_token = stored(source)["access_token"]

    global_revoke(global_connection=global_connection, actor=reviewer)

    assert sandbox.count("revoke") >= 1
    assert not token_works(sandbox, access_token)
    source.refresh_from_db()
    assert source.status == ConnectionStatus.EXPIRED


def test_revoking_the_source_leaves_the_grant_alive_for_the_copy(sandbox, published, admin_member):
    source, global_connection, reviewer = published

    connection_revoke(connection=source, actor=admin_member.user, confirm_shared=True)

    assert sandbox.count("revoke") == 0
    source.refresh_from_db()
    assert source.status == ConnectionStatus.REVOKED
    assert token_works(sandbox, stored(global_connection)["access_token"])
    assert global_check(global_connection=global_connection, actor=reviewer).ok


def test_a_failed_revocation_at_the_provider_is_shown_and_still_revokes_locally(sandbox, published, client):
    from django.urls import reverse

    source, global_connection, reviewer = published
    sandbox.set_switch("revoke", "500", count=5)
    client.force_login(reviewer)

    response = client.post(
        reverse("admin:connections_globalconnection_revoke", args=[global_connection.pk]), {"confirm": "yes"}, follow=True
    )

    body = response.content.decode()
    assert "The app did not confirm the revocation" in body
    global_connection.refresh_from_db()
    assert global_connection.status == ConnectionStatus.REVOKED
