"""Tenant pages of publication: the panel, request/withdraw, and the read-only global connection page."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from connections.models import GlobalConnection, HealthCheck, PublicationRequest, Role
from connections.services.publication import global_unpublish, publication_reject, publication_request_create

from ..publication_helpers import ACCOUNT, API_KEY, publish

pytestmark = pytest.mark.django_db


def request_url(connection):
    return reverse("connections:publication_request", args=[connection.pk])


# --- the panel on the connection page ---------------------------------------------------------


def test_admin_sees_the_request_form_on_the_connection_page(client_for, admin_member, connection):
    response = client_for(admin_member).get(connection.get_absolute_url())

    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="publication-panel"' in body
    assert "Request publication" in body and 'name="reason"' in body
    assert API_KEY not in body


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_operators_and_viewers_see_no_request_form(client_for, make_member, tenant, connection, role):
    member = make_member(tenant, role, username=f"{role}-x")

    body = client_for(member).get(connection.get_absolute_url()).content.decode()

    assert 'data-testid="publication-panel"' in body
    assert 'name="reason"' not in body
    assert "Only admins of your company can request publication." in body


def test_panel_shows_pending_then_withdrawn(client_for, admin_member, connection):
    client = client_for(admin_member)
    client.post(request_url(connection), {"reason": "Shared support inbox"})

    body = client.get(connection.get_absolute_url()).content.decode()
    assert 'data-testid="publication-pending"' in body and "Shared support inbox" in body and "Withdraw" in body
    assert 'name="reason"' not in body  # one open request at a time

    pending = PublicationRequest.objects.get(connection=connection)
    client.post(reverse("connections:publication_withdraw", args=[pending.pk]))
    body = client.get(connection.get_absolute_url()).content.decode()
    assert "withdrawn" in body and 'name="reason"' in body


def test_panel_shows_the_rejection_note(client_for, admin_member, connection, reviewer):
    pending = publication_request_create(connection=connection, user=admin_member.user, reason="x")
    publication_reject(publication_request=pending, reviewer=reviewer, note="Personal mailbox, not shareable.")

    body = client_for(admin_member).get(connection.get_absolute_url()).content.decode()

    assert 'data-testid="rejection-note"' in body and "Personal mailbox, not shareable." in body
    assert 'name="reason"' in body  # may ask again


def test_panel_shows_the_published_copy(client_for, admin_member, connection, reviewer, api):
    global_connection = publish(connection, reviewer=reviewer)

    body = client_for(admin_member).get(connection.get_absolute_url()).content.decode()

    assert 'data-testid="published-notice"' in body
    assert global_connection.get_absolute_url() in body
    assert "leaves the grant alive for the global copy" in body
    assert 'name="reason"' not in body


# --- request ------------------------------------------------------------------------------


def test_admin_requests_publication(client_for, admin_member, connection):
    response = client_for(admin_member).post(request_url(connection), {"reason": "Shared support inbox"})

    assert response.status_code == 302 and response["Location"] == connection.get_absolute_url()
    publication_request = PublicationRequest.objects.get(connection=connection)
    assert publication_request.status == "pending"
    assert publication_request.reason == "Shared support inbox"
    assert publication_request.requested_by == admin_member.user


def test_second_open_request_gets_a_clear_message(client_for, admin_member, connection):
    client = client_for(admin_member)
    client.post(request_url(connection), {"reason": "one"})

    response = client.post(request_url(connection), {"reason": "two"})

    assert response.status_code == 409
    assert "already has an open publication request" in response.content.decode()
    assert PublicationRequest.objects.filter(connection=connection).count() == 1


def test_a_reason_is_required(client_for, admin_member, connection):
    response = client_for(admin_member).post(request_url(connection), {"reason": ""})

    assert response.status_code == 400
    assert "Give a reason" in response.content.decode()
    assert not PublicationRequest.objects.exists()


def test_the_request_page_renders_for_admins(client_for, admin_member, connection):
    response = client_for(admin_member).get(request_url(connection))

    assert response.status_code == 200
    assert "Request publication" in response.content.decode()


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_operators_and_viewers_cannot_request(client_for, make_member, tenant, connection, role):
    member = make_member(tenant, role, username=f"{role}-y")

    response = client_for(member).post(request_url(connection), {"reason": "please"})

    assert response.status_code == 403
    assert not PublicationRequest.objects.exists()


def test_other_tenant_gets_404(client_for, outsider_member, connection):
    response = client_for(outsider_member).post(request_url(connection), {"reason": "mine now"})

    assert response.status_code == 404
    assert not PublicationRequest.objects.exists()


def test_missing_connection_gets_404(client_for, admin_member):
    response = client_for(admin_member).post(
        reverse("connections:publication_request", args=[uuid.uuid4()]), {"reason": "x"}
    )
    assert response.status_code == 404


def test_request_needs_csrf(admin_member, connection):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_member.user)

    response = client.post(request_url(connection), {"reason": "x"})

    assert response.status_code == 403
    assert not PublicationRequest.objects.exists()


def test_anonymous_is_sent_to_login(client, connection):
    response = client.post(request_url(connection), {"reason": "x"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- withdraw -----------------------------------------------------------------------------


@pytest.fixture
def pending(connection, admin_member):
    return publication_request_create(connection=connection, user=admin_member.user, reason="x")


def withdraw_url(publication_request):
    return reverse("connections:publication_withdraw", args=[publication_request.pk])


def test_admin_withdraws(client_for, admin_member, pending, connection):
    response = client_for(admin_member).post(withdraw_url(pending))

    assert response.status_code == 302 and response["Location"] == connection.get_absolute_url()
    pending.refresh_from_db()
    assert pending.status == "withdrawn"


def test_withdraw_is_post_only(client_for, admin_member, pending):
    assert client_for(admin_member).get(withdraw_url(pending)).status_code == 405
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_operator_cannot_withdraw(client_for, operator_member, pending):
    assert client_for(operator_member).post(withdraw_url(pending)).status_code == 403
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_other_tenant_cannot_see_or_withdraw_a_request(client_for, outsider_member, pending, connection):
    client = client_for(outsider_member)

    assert client.post(withdraw_url(pending)).status_code == 404
    assert client.get(connection.get_absolute_url()).status_code == 404
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_withdrawing_a_reviewed_request_is_refused(client_for, admin_member, pending, reviewer):
    publication_reject(publication_request=pending, reviewer=reviewer, note="no")

    response = client_for(admin_member).post(withdraw_url(pending), follow=True)

    assert "can no longer be withdrawn" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == "rejected"


# --- global connections as tenants see them -------------------------------------------------


@pytest.fixture
def global_connection(connection, reviewer, api):
    return publish(connection, reviewer=reviewer)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR, Role.VIEWER])
def test_every_member_of_another_tenant_sees_the_global_connection_read_only(
    client_for, make_member, other_tenant, global_connection, role
):
    member = make_member(other_tenant, role, username=f"globex-{role}")

    response = client_for(member).get(global_connection.get_absolute_url())

    assert response.status_code == 200
    body = response.content.decode()
    assert global_connection.name in body and ACCOUNT in body and "Pub API" in body
    for word in ("Rename", "Re-authorize", "Revoke", "Request publication"):
        assert word not in body, word
    assert API_KEY not in body
    assert ("global/%s/check/" % global_connection.pk in body) is (role != Role.VIEWER)


def test_global_detail_says_how_flows_use_it(client_for, outsider_member, admin_member, global_connection):
    other = client_for(outsider_member).get(global_connection.get_absolute_url()).content.decode()
    assert f"/api/proxy/{global_connection.pk}/" in other and "“proxy” scope" in other
    assert "not shared with your company" in other and "403 “use_proxy”" in other
    type(global_connection).all_objects.filter(pk=global_connection.pk).update(allow_credential_sharing=True)
    shared = client_for(outsider_member).get(global_connection.get_absolute_url()).content.decode()
    assert "allowed credential sharing" in shared
    source = client_for(admin_member).get(global_connection.get_absolute_url()).content.decode()
    assert "Your company published it" in source


def test_global_connection_list_section(client_for, outsider_member, global_connection):
    body = client_for(outsider_member).get(reverse("connections:list")).content.decode()
    assert global_connection.get_absolute_url() in body


def test_unpublished_or_missing_global_connection_is_404(client_for, outsider_member, global_connection, reviewer):
    client = client_for(outsider_member)
    assert client.get(reverse("connections:global_detail", args=[uuid.uuid4()])).status_code == 404

    global_unpublish(global_connection=global_connection, actor=reviewer)

    assert client.get(global_connection.get_absolute_url()).status_code == 404
    assert client.post(reverse("connections:global_check", args=[global_connection.pk])).status_code == 404


def test_global_detail_needs_sign_in(client, global_connection):
    response = client.get(global_connection.get_absolute_url())
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_operator_of_another_tenant_checks_the_global_connection(client_for, make_member, other_tenant, global_connection, api):
    member = make_member(other_tenant, Role.OPERATOR, username="globex-op")
    before = HealthCheck.objects.filter(global_connection=global_connection).count()

    response = client_for(member).post(reverse("connections:global_check", args=[global_connection.pk]), follow=True)

    assert response.status_code == 200
    assert "Check passed" in response.content.decode()
    assert HealthCheck.objects.filter(global_connection=global_connection, ok=True).count() == before + 1
    global_connection.refresh_from_db()
    assert global_connection.last_checked_at is not None


def test_failed_global_check_is_shown(client_for, outsider_member, global_connection, api):
    api.fail(503)

    response = client_for(outsider_member).post(reverse("connections:global_check", args=[global_connection.pk]), follow=True)

    assert "Check failed" in response.content.decode()
    assert HealthCheck.objects.filter(global_connection=global_connection, ok=False).count() == 1


def test_viewer_cannot_check_and_check_is_post_only(client_for, make_member, other_tenant, global_connection):
    viewer = make_member(other_tenant, Role.VIEWER, username="globex-viewer")
    url = reverse("connections:global_check", args=[global_connection.pk])

    client = client_for(viewer)
    assert client.post(url).status_code == 403
    assert client.get(url).status_code == 405
    assert not HealthCheck.objects.filter(global_connection=global_connection, kind="check").exists()


@pytest.mark.parametrize("name", ["rename", "revoke", "reauthorize", "check", "detail", "publication_request"])
def test_tenant_edit_urls_with_a_global_id_give_404(client_for, outsider_member, global_connection, name):
    url = reverse(f"connections:{name}", args=[global_connection.pk])
    client = client_for(outsider_member)

    if name == "detail":
        assert client.get(url).status_code == 404
    else:
        assert client.post(url, {"name": "Hijacked", "reason": "x", "confirm": "on"}).status_code == 404
    global_connection.refresh_from_db()
    assert global_connection.name != "Hijacked" and global_connection.status == "active"
    assert GlobalConnection.objects.filter(pk=global_connection.pk, unpublished_at__isnull=True).exists()


# --- revoking the source of a global copy ---------------------------------------------------


def test_revoking_the_source_asks_for_confirmation_and_keeps_the_global_copy_working(
    client_for, admin_member, connection, global_connection, api
):
    from connections.services.publication import global_check

    client = client_for(admin_member)
    url = reverse("connections:revoke", args=[connection.pk])

    page = client.get(url).content.decode()
    assert 'name="confirm_shared"' in page and "global" in page.lower()
    refused = client.post(url, {})
    assert refused.status_code == 400
    connection.refresh_from_db()
    assert connection.status == "active"

    done = client.post(url, {"confirm_shared": "on"})

    assert done.status_code == 302
    connection.refresh_from_db()
    global_connection.refresh_from_db()
    assert connection.status == "revoked"
    assert global_connection.status == "active" and global_connection.credentials_id is not None
    assert global_check(global_connection=global_connection, actor=admin_member.user).ok
    # The global copy stays visible to every tenant after its source is revoked.
    assert client.get(global_connection.get_absolute_url()).status_code == 200


def test_panel_after_unpublishing_offers_a_new_request(client_for, admin_member, connection, global_connection, reviewer):
    global_unpublish(global_connection=global_connection, actor=reviewer)

    body = client_for(admin_member).get(connection.get_absolute_url()).content.decode()

    assert 'data-testid="unpublished-notice"' in body and "unpublished the global copy" in body
    assert 'data-testid="published-notice"' not in body
    assert 'name="reason"' in body
