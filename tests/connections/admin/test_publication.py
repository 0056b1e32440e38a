"""Reviewing publication requests in the Django admin, and maintaining global connections there."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.urls import reverse

from connections.models import ConnectionStatus, GlobalConnection, HealthCheck, PublicationRequest
from connections.services.events import event_record
from connections.services.publication import publication_request_create

from ..publication_helpers import ACCOUNT, API_KEY, publish

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:connections_publicationrequest_changelist"


@pytest.fixture
def pending(connection, admin_member):
    admin_member.user.email = "admin@acme.test"
    admin_member.user.save()
    return publication_request_create(connection=connection, user=admin_member.user, reason="Shared support inbox")


def change_url(publication_request):
    return reverse("admin:connections_publicationrequest_change", args=[publication_request.pk])


def approve_url(publication_request):
    return reverse("admin:connections_publicationrequest_approve", args=[publication_request.pk])


def reject_url(publication_request):
    return reverse("admin:connections_publicationrequest_reject", args=[publication_request.pk])


# --- who reaches the review ---------------------------------------------------------------


def test_tenant_admin_who_is_not_staff_never_reaches_admin(client_for, admin_member, pending):
    client = client_for(admin_member)

    for url in (reverse("admin:index"), reverse(CHANGELIST), change_url(pending)):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login")), url
    response = client.post(approve_url(pending), {"note": ""})
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_staff_without_the_permission_sees_but_cannot_approve(client, make_staff, pending, api):
    viewer = make_staff("looker", perms=("view_publicationrequest",))
    client.force_login(viewer)

    changelist = client.get(reverse(CHANGELIST))
    assert changelist.status_code == 200
    assert "approve_selected" not in changelist.content.decode()
    change = client.get(change_url(pending))
    assert change.status_code == 200
    assert approve_url(pending) not in change.content.decode()
    assert client.post(approve_url(pending), {"note": ""}).status_code == 403
    assert client.post(reject_url(pending), {"note": "no"}).status_code == 403
    client.post(reverse(CHANGELIST), {"action": "approve_selected", ACTION_CHECKBOX_NAME: [pending.pk]})
    pending.refresh_from_db()
    assert pending.status == "pending"
    assert not GlobalConnection.objects.exists()
    assert len(api.calls) == 0


def test_superuser_has_the_review_permission(client, superuser, pending, api):
    client.force_login(superuser)

    response = client.post(approve_url(pending), {"note": ""})

    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == "approved"


# --- changelist -----------------------------------------------------------------------------


def test_changelist_filters_search_and_actions(client, reviewer, pending, tenant, api_app):
    client.force_login(reviewer)

    response = client.get(reverse(CHANGELIST))
    body = response.content.decode()
    assert response.status_code == 200
    assert "approve_selected" in body and "reject_selected" in body
    assert "Acme" in body and "Pub API" in body and "Support inbox" in body
    for query in ("status__exact=pending", f"connection__app__id__exact={api_app.pk}", f"connection__tenant__id__exact={tenant.pk}", "q=Support"):
        filtered = client.get(reverse(CHANGELIST) + "?" + query)
        assert filtered.status_code == 200, query
        assert "Support inbox" in filtered.content.decode(), query
    empty = client.get(reverse(CHANGELIST) + "?status__exact=approved")
    assert "Support inbox" not in empty.content.decode().split('id="result_list"')[-1]


def test_changelist_queries_do_not_grow_with_rows(client, reviewer, tenant, admin_member, make_connection, django_assert_max_num_queries):
    client.force_login(reviewer)
    for index in range(3):
        connection = make_connection(tenant, created_by=admin_member.user, name=f"Conn {index}")
        publication_request_create(connection=connection, user=admin_member.user, reason="x")
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(db) as few:
        client.get(reverse(CHANGELIST))
    for index in range(3, 15):
        connection = make_connection(tenant, created_by=admin_member.user, name=f"Conn {index}")
        publication_request_create(connection=connection, user=admin_member.user, reason="x")
    with CaptureQueriesContext(db) as many:
        client.get(reverse(CHANGELIST))
    assert len(many) == len(few)


# --- the change page ------------------------------------------------------------------------


def test_change_page_shows_the_connection_never_a_secret(client, reviewer, pending, connection):
    HealthCheck.objects.create(connection=connection, kind="check", ok=True, duration_ms=12)
    event_record(kind="checked", connection=connection, detail={"ok": True})
    client.force_login(reviewer)

    response = client.get(change_url(pending))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Pub API" in body and ACCOUNT in body and "read, profile" in body
    assert 'data-testid="connection-status">Active' in body
    assert "Health (latest checks)" in body and "12" in body
    assert "Timeline" in body and "publication_requested" in body and "checked" in body
    assert "Shared support inbox" in body
    assert approve_url(pending) in body and reject_url(pending) in body and 'name="note"' in body
    assert API_KEY not in body
    assert str(connection.credentials_id) not in body


def test_approve_button_publishes_and_double_approval_is_harmless(
    client, reviewer, pending, connection, api, django_capture_on_commit_callbacks
):
    client.force_login(reviewer)

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(approve_url(pending), {"note": "Looks good"}, follow=True)
        second = client.post(approve_url(pending), {"note": ""}, follow=True)

    assert "is approved and published to every tenant" in first.content.decode()
    assert "was already approved: nothing changed" in second.content.decode()
    pending.refresh_from_db()
    assert pending.status == "approved" and pending.review_note == "Looks good" and pending.reviewed_by == reviewer
    global_connection = GlobalConnection.objects.get()
    assert global_connection.credentials_id == connection.credentials_id
    assert global_connection.approved_by == reviewer
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["admin@acme.test"]
    assert approve_url(pending) not in second.content.decode()  # no buttons once reviewed


def test_review_page_offers_credential_sharing_off_by_default(client, reviewer, pending):
    client.force_login(reviewer)
    body = client.get(change_url(pending)).content.decode()
    assert 'name="allow_credential_sharing"' in body and "checked" not in body.split('name="allow_credential_sharing"')[1][:40]
    assert "only through the credential proxy" in body and "403 use_proxy" in body


@pytest.mark.parametrize("ticked", [False, True])
def test_approval_records_whether_credentials_may_be_shared(client, reviewer, pending, api, ticked):
    client.force_login(reviewer)
    data = {"note": "ok", **({"allow_credential_sharing": "on"} if ticked else {})}
    client.post(approve_url(pending), data, follow=True)
    assert GlobalConnection.objects.get().allow_credential_sharing is ticked


def test_approval_of_a_broken_connection_is_refused_with_an_admin_error(client, reviewer, pending, connection, api):
    api.fail(401)
    client.force_login(reviewer)

    response = client.post(approve_url(pending), {"note": ""}, follow=True)

    body = response.content.decode()
    assert "cannot be approved" in body and "check failed" in body
    pending.refresh_from_db()
    connection.refresh_from_db()
    assert pending.status == "pending"
    assert connection.status == ConnectionStatus.EXPIRED
    assert not GlobalConnection.objects.exists()


def test_reject_button_needs_a_note_and_tells_the_requester(client, reviewer, pending, django_capture_on_commit_callbacks):
    client.force_login(reviewer)

    missing = client.post(reject_url(pending), {"note": "  "}, follow=True)
    pending.refresh_from_db()
    assert pending.status == "pending" and "Write a note" in missing.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reject_url(pending), {"note": "Personal mailbox."})

    pending.refresh_from_db()
    assert pending.status == "rejected" and pending.review_note == "Personal mailbox." and pending.reviewed_by == reviewer
    assert len(mail.outbox) == 1 and "Personal mailbox." in mail.outbox[0].body


def test_review_buttons_are_post_only(client, reviewer, pending):
    client.force_login(reviewer)
    assert client.get(approve_url(pending)).status_code == 405
    assert client.get(reject_url(pending)).status_code == 405


# --- actions ----------------------------------------------------------------------------------


def test_approve_selected_action(client, reviewer, pending, tenant, admin_member, make_connection, api):
    other = make_connection(tenant, created_by=admin_member.user, name="Second inbox")
    second = publication_request_create(connection=other, user=admin_member.user, reason="y")
    client.force_login(reviewer)

    response = client.post(
        reverse(CHANGELIST), {"action": "approve_selected", ACTION_CHECKBOX_NAME: [pending.pk, second.pk]}, follow=True
    )

    assert response.status_code == 200
    assert PublicationRequest.objects.filter(status="approved").count() == 2
    assert GlobalConnection.objects.count() == 2
    again = client.post(reverse(CHANGELIST), {"action": "approve_selected", ACTION_CHECKBOX_NAME: [pending.pk]}, follow=True)
    assert "already approved" in again.content.decode()
    assert GlobalConnection.objects.count() == 2


def test_reject_selected_shows_a_note_page_then_rejects(client, reviewer, pending):
    client.force_login(reviewer)
    data = {"action": "reject_selected", ACTION_CHECKBOX_NAME: [pending.pk]}

    intermediate = client.post(reverse(CHANGELIST), data)
    assert intermediate.status_code == 200
    assert 'name="note"' in intermediate.content.decode() and "Support inbox" in intermediate.content.decode()
    pending.refresh_from_db()
    assert pending.status == "pending"

    no_note = client.post(reverse(CHANGELIST), {**data, "confirm": "yes", "note": ""})
    assert "Write a note" in no_note.content.decode()

    done = client.post(reverse(CHANGELIST), {**data, "confirm": "yes", "note": "Not for everyone."}, follow=True)
    assert done.status_code == 200
    pending.refresh_from_db()
    assert pending.status == "rejected" and pending.review_note == "Not for everyone."


# --- global connections in the admin --------------------------------------------------------


@pytest.fixture
def global_connection(connection, reviewer, api):
    return publish(connection, reviewer=reviewer)


def global_url(global_connection, view):
    return reverse(f"admin:connections_globalconnection_{view}", args=[global_connection.pk])


def test_global_change_page_has_maintenance_buttons_and_no_secret(client, superuser, global_connection):
    client.force_login(superuser)

    body = client.get(global_url(global_connection, "change")).content.decode()

    assert "Check now" in body and "Unpublish" in body and "Revoke at the provider" in body
    assert "Health (latest checks)" in body and "Timeline" in body and "published" in body
    assert API_KEY not in body and str(global_connection.credentials_id) not in body


def test_check_now_button_and_action(client, superuser, global_connection, api):
    client.force_login(superuser)

    response = client.post(global_url(global_connection, "check"), follow=True)
    assert "check passed" in response.content.decode()
    client.post(
        reverse("admin:connections_globalconnection_changelist"),
        {"action": "check_selected", ACTION_CHECKBOX_NAME: [global_connection.pk]},
    )
    assert HealthCheck.objects.filter(global_connection=global_connection, ok=True).count() == 2


def test_unpublish_asks_for_confirmation_and_keeps_the_source_working(client, superuser, global_connection, connection, api):
    client.force_login(superuser)

    page = client.get(global_url(global_connection, "unpublish"))
    assert page.status_code == 200 and "keeps working" in page.content.decode()
    global_connection.refresh_from_db()
    assert global_connection.unpublished_at is None

    client.post(global_url(global_connection, "unpublish"), {"confirm": "yes"})

    global_connection.refresh_from_db()
    connection.refresh_from_db()
    assert global_connection.unpublished_at is not None
    assert connection.status == ConnectionStatus.ACTIVE and connection.credentials_id == global_connection.credentials_id
    from connections.services.health import connection_check

    assert connection_check(connection=connection).ok


def test_revoke_at_the_provider_warns_that_the_source_stops_working(client, superuser, global_connection, connection):
    client.force_login(superuser)

    page = client.get(global_url(global_connection, "revoke")).content.decode()
    assert "STOPS WORKING" in page and "Acme" in page and connection.name in page

    client.post(global_url(global_connection, "revoke"), {"confirm": "yes"})

    global_connection.refresh_from_db()
    connection.refresh_from_db()
    assert global_connection.status == ConnectionStatus.REVOKED
    assert connection.status == ConnectionStatus.EXPIRED


def test_staff_without_change_permission_cannot_maintain_global_connections(client, make_staff, global_connection):
    looker = make_staff("looker2", perms=("view_globalconnection",))
    client.force_login(looker)

    assert client.get(global_url(global_connection, "change")).status_code == 200
    assert client.post(global_url(global_connection, "unpublish"), {"confirm": "yes"}).status_code == 403
    assert client.post(global_url(global_connection, "revoke"), {"confirm": "yes"}).status_code == 403
    assert client.post(global_url(global_connection, "check")).status_code == 403
    global_connection.refresh_from_db()
    assert global_connection.unpublished_at is None and global_connection.status == ConnectionStatus.ACTIVE
