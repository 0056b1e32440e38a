"""Publication services: request, withdraw, approve (re-check, copy sharing the Secret), reject, unpublish, revoke."""

import pytest
from django.core import mail

from connections.models import (
    Connection,
    ConnectionStatus,
    Event,
    GlobalConnection,
    PublicationRequest,
)
from connections.services.publication import (
    PublicationError,
    global_check,
    global_revoke,
    global_unpublish,
    publication_approve,
    publication_reject,
    publication_request_create,
    publication_withdraw,
)
from vault.models import Secret
from vault.services import secret_open

from ..publication_helpers import ACCOUNT, API_KEY, health_of, publish

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def requester_email(admin_member):
    admin_member.user.email = "admin@acme.test"
    admin_member.user.save()


def test_request_opens_one_pending_request_and_records_it(connection, admin_member):
    publication_request = publication_request_create(connection=connection, user=admin_member.user, reason="Shared inbox")

    assert publication_request.status == PublicationRequest.Status.PENDING
    assert publication_request.requested_by == admin_member.user
    assert Event.objects.for_tenant(connection.tenant).filter(connection=connection, kind="publication_requested").count() == 1


def test_second_open_request_is_refused_with_a_clear_message(connection, admin_member):
    publication_request_create(connection=connection, user=admin_member.user, reason="one")

    with pytest.raises(PublicationError, match="already has an open publication request"):
        publication_request_create(connection=connection, user=admin_member.user, reason="two")
    assert PublicationRequest.objects.filter(connection=connection).count() == 1


@pytest.mark.parametrize("status", [ConnectionStatus.EXPIRED, ConnectionStatus.ERROR, ConnectionStatus.REVOKED])
def test_only_an_active_connection_can_be_requested(tenant, admin_member, make_connection, status):
    connection = make_connection(tenant, created_by=admin_member.user, status=status)

    with pytest.raises(PublicationError, match="Only an active connection"):
        publication_request_create(connection=connection, user=admin_member.user, reason="x")
    assert not PublicationRequest.objects.exists()


def test_a_reason_is_required(connection, admin_member):
    with pytest.raises(PublicationError, match="Give a reason"):
        publication_request_create(connection=connection, user=admin_member.user, reason="   ")


def test_withdraw_then_request_again(connection, admin_member):
    first = publication_request_create(connection=connection, user=admin_member.user, reason="one")

    publication_withdraw(publication_request=first, user=admin_member.user)

    first.refresh_from_db()
    assert first.status == PublicationRequest.Status.WITHDRAWN
    second = publication_request_create(connection=connection, user=admin_member.user, reason="two")
    assert second.status == PublicationRequest.Status.PENDING


def test_approve_copies_the_connection_sharing_its_secret(
    connection, admin_member, reviewer, api, django_capture_on_commit_callbacks
):
    publication_request = publication_request_create(connection=connection, user=admin_member.user, reason="Shared inbox")

    with django_capture_on_commit_callbacks(execute=True):
        approved, created = publication_approve(publication_request=publication_request, reviewer=reviewer, note="Fine")

    assert created is True
    assert approved.status == PublicationRequest.Status.APPROVED
    assert approved.reviewed_by == reviewer and approved.reviewed_at is not None
    assert approved.review_note == "Fine"
    global_connection = approved.global_connection
    connection.refresh_from_db()
    assert global_connection.credentials_id == connection.credentials_id  # the SAME Secret
    assert Secret.objects.filter(pk=connection.credentials_id).count() == 1
    for field in ("app_id", "name", "config", "scopes", "account_label", "status", "expires_at", "authorized_at"):
        assert getattr(global_connection, field) == getattr(connection, field), field
    assert global_connection.status == ConnectionStatus.ACTIVE
    assert global_connection.source_connection == connection
    assert global_connection.source_tenant == connection.tenant
    assert global_connection.approved_by == reviewer
    assert global_connection.published_at == approved.reviewed_at
    assert global_connection.unpublished_at is None
    # The re-check happened: one test request, recorded on the source connection.
    assert len(api.calls) == 1
    assert health_of(connection).filter(ok=True).count() == 1
    assert Event.objects.for_tenant(connection.tenant).filter(connection=connection, kind="published").count() == 1
    assert Event.all_objects.filter(global_connection=global_connection, kind="published", tenant=None).count() == 1
    assert [m.to for m in mail.outbox] == [["admin@acme.test"]]
    assert "approved" in mail.outbox[0].body and connection.name in mail.outbox[0].subject
    assert API_KEY not in mail.outbox[0].body


def test_double_approval_is_harmless(connection, admin_member, reviewer, api, django_capture_on_commit_callbacks):
    publication_request = publication_request_create(connection=connection, user=admin_member.user, reason="x")
    with django_capture_on_commit_callbacks(execute=True):
        first, created = publication_approve(publication_request=publication_request, reviewer=reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        again, created_again = publication_approve(publication_request=publication_request, reviewer=reviewer)

    assert created is True and created_again is False
    assert again.global_connection_id == first.global_connection_id
    assert GlobalConnection.objects.count() == 1
    assert len(api.calls) == 1  # the second call does not even check again
    assert len(mail.outbox) == 1
    assert Event.all_objects.filter(kind="published").count() == 2


def test_approval_of_a_broken_connection_is_refused(connection, admin_member, reviewer, api):
    publication_request = publication_request_create(connection=connection, user=admin_member.user, reason="x")
    api.fail(401)

    with pytest.raises(PublicationError, match="cannot be approved"):
        publication_approve(publication_request=publication_request, reviewer=reviewer)

    publication_request.refresh_from_db()
    connection.refresh_from_db()
    assert publication_request.status == PublicationRequest.Status.PENDING
    assert not GlobalConnection.objects.exists()
    assert connection.status == ConnectionStatus.EXPIRED  # the failed re-check stays recorded
    assert health_of(connection).filter(ok=False).count() == 1


def test_approval_of_a_non_active_connection_is_refused_without_calling_the_app(
    tenant, admin_member, reviewer, make_connection, api
):
    connection = make_connection(tenant, created_by=admin_member.user)
    publication_request = publication_request_create(connection=connection, user=admin_member.user, reason="x")
    Connection.all_objects.filter(pk=connection.pk).update(status=ConnectionStatus.ERROR)

    with pytest.raises(PublicationError, match="App unavailable"):
        publication_approve(publication_request=publication_request, reviewer=reviewer)
    assert len(api.calls) == 0
    assert not GlobalConnection.objects.exists()


def test_withdrawn_request_cannot_be_approved(connection, admin_member, reviewer, api):
    publication_request = publication_request_create(connection=connection, user=admin_member.user, reason="x")
    publication_withdraw(publication_request=publication_request, user=admin_member.user)

    with pytest.raises(PublicationError, match="withdrawn"):
        publication_approve(publication_request=publication_request, reviewer=reviewer)
    assert not GlobalConnection.objects.exists()


def test_reject_records_the_note_and_tells_the_requester(
    connection, admin_member, reviewer, django_capture_on_commit_callbacks
):
    publication_request = publication_request_create(connection=connection, user=admin_member.user, reason="x")

    with pytest.raises(PublicationError, match="Write a note"):
        publication_reject(publication_request=publication_request, reviewer=reviewer, note="")
    with django_capture_on_commit_callbacks(execute=True):
        rejected, changed = publication_reject(
            publication_request=publication_request, reviewer=reviewer, note="Personal mailbox, not shareable."
        )
    again, changed_again = publication_reject(publication_request=publication_request, reviewer=reviewer, note="again")

    assert changed is True and changed_again is False
    assert rejected.status == PublicationRequest.Status.REJECTED
    assert again.review_note == "Personal mailbox, not shareable."
    assert rejected.reviewed_by == reviewer
    assert not GlobalConnection.objects.exists()
    assert len(mail.outbox) == 1
    assert "Personal mailbox, not shareable." in mail.outbox[0].body
    with pytest.raises(PublicationError, match="rejected"):
        publication_approve(publication_request=publication_request, reviewer=reviewer)


def test_a_published_connection_cannot_be_requested_again(connection, reviewer, api):
    publish(connection, reviewer=reviewer)

    with pytest.raises(PublicationError, match="already published"):
        publication_request_create(connection=connection, user=connection.created_by, reason="again")


def test_unpublish_hides_the_copy_and_keeps_the_source_working(connection, reviewer, api):
    from connections.selectors import global_connections_visible
    from connections.services.health import connection_check

    global_connection = publish(connection, reviewer=reviewer)

    global_unpublish(global_connection=global_connection, actor=reviewer)

    global_connection.refresh_from_db()
    connection.refresh_from_db()
    assert global_connection.unpublished_at is not None
    assert global_connection.status == ConnectionStatus.ACTIVE
    assert global_connection not in global_connections_visible()
    # The shared Secret stays: the source still holds the grant.
    assert connection.credentials_id == global_connection.credentials_id
    assert secret_open(secret=connection.credentials, purpose="connection") == {"api_key": API_KEY}
    check = connection_check(connection=connection)
    assert check.ok and connection.status == ConnectionStatus.ACTIVE
    assert Event.all_objects.filter(global_connection=global_connection, kind="unpublished").count() == 1
    assert Event.objects.for_tenant(connection.tenant).filter(connection=connection, kind="unpublished").count() == 1
    # Unpublishing again does nothing more.
    global_unpublish(global_connection=global_connection, actor=reviewer)
    assert Event.all_objects.filter(kind="unpublished").count() == 2
    with pytest.raises(PublicationError, match="cannot be checked"):
        global_check(global_connection=global_connection, actor=reviewer)


def test_global_check_records_health_on_the_global_copy(connection, reviewer, api):
    global_connection = publish(connection, reviewer=reviewer)

    check = global_check(global_connection=global_connection, actor=reviewer)

    assert check.ok and check.global_connection_id == global_connection.pk
    global_connection.refresh_from_db()
    assert global_connection.last_checked_at is not None
    assert global_connection.account_label == ACCOUNT


def test_revoke_at_the_provider_revokes_the_copy_and_expires_the_source(connection, reviewer, api):
    global_connection = publish(connection, reviewer=reviewer)
    secret_id = connection.credentials_id

    global_revoke(global_connection=global_connection, actor=reviewer)

    global_connection.refresh_from_db()
    connection.refresh_from_db()
    assert global_connection.status == ConnectionStatus.REVOKED
    assert global_connection.credentials_id is None
    assert global_connection.unpublished_at is not None and global_connection.revoked_at is not None
    assert connection.status == ConnectionStatus.EXPIRED
    assert connection.last_error_code == "connection_expired"
    assert connection.credentials_id == secret_id  # kept until the tenant re-authorizes or revokes
    assert Event.objects.for_tenant(connection.tenant).filter(connection=connection, kind="grant_revoked").count() == 1
    assert Event.all_objects.filter(global_connection=global_connection, kind="revoked").count() == 1


def test_revoking_the_source_keeps_the_grant_alive_for_the_global_copy(connection, admin_member, reviewer, api):
    from connections.services.connections import connection_revoke

    global_connection = publish(connection, reviewer=reviewer)
    secret_id = connection.credentials_id

    connection_revoke(connection=connection, actor=admin_member.user, confirm_shared=True)

    connection.refresh_from_db()
    global_connection.refresh_from_db()
    assert connection.status == ConnectionStatus.REVOKED
    assert global_connection.status == ConnectionStatus.ACTIVE
    assert global_connection.credentials_id == secret_id
    assert secret_open(secret=Secret.objects.get(pk=secret_id), purpose="connection") == {"api_key": API_KEY}
    assert global_check(global_connection=global_connection, actor=reviewer).ok


def test_maintenance_sweeps_cover_published_global_connections(connection, reviewer, api):
    from connections.services.sweeps import due_for_check

    global_connection = publish(connection, reviewer=reviewer)
    GlobalConnection.objects.filter(pk=global_connection.pk).update(last_checked_at=None)

    assert ("global", str(global_connection.pk)) in set(due_for_check())
    global_unpublish(global_connection=global_connection, actor=reviewer)
    assert ("global", str(global_connection.pk)) not in set(due_for_check(everything=True))


def test_revoking_the_last_holder_destroys_the_secret(connection, reviewer, api):
    global_connection = publish(connection, reviewer=reviewer)
    secret_id = connection.credentials_id
    # The source was revoked earlier; the global copy was the last live holder of the grant.
    Connection.all_objects.filter(pk=connection.pk).update(status=ConnectionStatus.REVOKED)

    global_revoke(global_connection=global_connection, actor=reviewer)

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.REVOKED and connection.credentials_id is None
    assert not Secret.objects.filter(pk=secret_id).exists()


def test_check_connections_command_checks_global_copies(connection, reviewer, api):
    from django.core.management import call_command

    global_connection = publish(connection, reviewer=reviewer)
    GlobalConnection.objects.filter(pk=global_connection.pk).update(last_checked_at=None)

    call_command("check_connections", "--quiet", stdout=open("/dev/null", "w"))

    assert health_of(global_connection).filter(kind="check", ok=True).count() == 1


def test_a_failing_global_copy_alerts_system_administrators(
    connection, admin_member, reviewer, api, django_capture_on_commit_callbacks
):
    global_connection = publish(connection, reviewer=reviewer)
    mail.outbox.clear()
    api.fail(401)

    with django_capture_on_commit_callbacks(execute=True):
        check = global_check(global_connection=global_connection, actor=None)

    assert not check.ok
    global_connection.refresh_from_db()
    assert global_connection.status == ConnectionStatus.EXPIRED
    recipients = {address for message in mail.outbox for address in message.to}
    assert reviewer.email in recipients
    assert "admin@acme.test" not in recipients  # tenants do not maintain global connections
    assert all(API_KEY not in message.body for message in mail.outbox)


def test_reviewers_are_told_about_a_new_request(
    connection, admin_member, reviewer, make_staff, superuser, django_capture_on_commit_callbacks
):
    make_staff("bystander", perms=("view_publicationrequest",))

    with django_capture_on_commit_callbacks(execute=True):
        publication_request = publication_request_create(connection=connection, user=admin_member.user, reason="Shared inbox")

    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == sorted([reviewer.email, superuser.email])
    assert "Shared inbox" in mail.outbox[0].body
    assert f"/admin/connections/publicationrequest/{publication_request.pk}/change/" in mail.outbox[0].body
