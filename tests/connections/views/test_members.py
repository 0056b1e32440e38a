"""Members page: invitations (single use, expiring), role changes, removals, the audit, roles."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from connections.models import Event, EventKind, Invitation, Member, Role
from connections.services.members import MemberError, invitation_create, member_remove, member_role_change

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-chosen-passphrase-42"


def _invite(client, email="new.person@example.com", role="operator"):
    return client.post(reverse("tenants:members"), {"email": email, "role": role})


def _link_from_mail():
    match = re.search(r"https?://\S+/tenants/invitations/accept/\S+/", mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return match.group(0)


def _path(url):
    return "/" + url.split("/", 3)[3]


def test_admin_invites_and_the_person_creates_an_account(client_for, admin_member, django_capture_on_commit_callbacks, client):
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(client_for(admin_member))
    assert response.status_code == 302
    assert mail.outbox[-1].to == ["new.person@example.com"]
    assert "Acme" in mail.outbox[-1].subject
    invitation = Invitation.objects.for_tenant(admin_member.tenant).get()
    assert invitation.role == Role.OPERATOR and invitation.is_pending
    link = _path(_link_from_mail())
    assert link.split("/")[-2] not in invitation.token_hash  # only the hash is stored
    html = client_for(admin_member).get(reverse("tenants:members")).content.decode()
    assert 'data-invitation="new.person@example.com"' in html

    client.logout()
    page = client.get(link)
    assert page.status_code == 200 and "Join Acme" in page.content.decode()
    weak = client.post(link, {"username": "newbie", "password1": "short", "password2": "short"})
    assert weak.status_code == 200 and "too short" in weak.content.decode()
    assert not get_user_model().objects.filter(username="newbie").exists()
    done = client.post(link, {"username": "newbie", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 302 and "/accounts/login/" in done["Location"]
    user = get_user_model().objects.get(username="newbie")
    assert user.check_password(NEW_PASSWORD) and user.email == "new.person@example.com"
    assert Member.objects.get(user=user).role == Role.OPERATOR
    signed_in = client.post(reverse("login"), {"username": "newbie", "password": NEW_PASSWORD})
    assert signed_in.status_code == 302
    assert 'data-testid="tenant-name">Acme<' in client.get(reverse("tenants:members")).content.decode()

    # Single use: the same link again is refused and creates nothing.
    client.logout()
    again = client.post(link, {"username": "second", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert again.status_code == 410 and "used already" in again.content.decode()
    assert not get_user_model().objects.filter(username="second").exists()
    kinds = list(Event.objects.for_tenant(admin_member.tenant).values_list("kind", flat=True))
    assert EventKind.MEMBER_INVITED in kinds and EventKind.MEMBER_JOINED in kinds


def test_a_signed_in_user_accepts_into_a_second_company(client_for, admin_member, outsider_member, client):
    _invitation, token = invitation_create(
        tenant=outsider_member.tenant, email="x@example.com", role=Role.VIEWER, actor=outsider_member.user
    )
    client = client_for(admin_member)
    link = reverse("tenants:invitation_accept", args=[token])
    assert "signed in as" in client.get(link).content.decode()
    response = client.post(link)
    assert response.status_code == 302
    member = Member.objects.get(user=admin_member.user, tenant=outsider_member.tenant)
    assert member.role == Role.VIEWER
    assert client.session["tenant_id"] == outsider_member.tenant_id
    assert Member.objects.get(pk=admin_member.pk).role == Role.ADMIN  # the first company untouched


def test_expired_cancelled_and_unknown_links_are_refused(client_for, admin_member, client):
    invitation, token = invitation_create(tenant=admin_member.tenant, email="a@example.com", role="viewer", actor=admin_member.user)
    Invitation.all_objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("tenants:invitation_accept", args=[token]))
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert client.get(reverse("tenants:invitation_accept", args=["nope"])).status_code == 404

    invitation, token = invitation_create(tenant=admin_member.tenant, email="b@example.com", role="viewer", actor=admin_member.user)
    admin = client_for(admin_member)
    assert admin.post(reverse("tenants:invitation_cancel", args=[invitation.pk])).status_code == 302
    admin.logout()
    response = client.post(reverse("tenants:invitation_accept", args=[token]), {"username": "b", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 410 and "cancelled" in response.content.decode()
    assert not get_user_model().objects.filter(username="b").exists()
    assert Event.objects.for_tenant(admin_member.tenant).filter(kind=EventKind.INVITATION_CANCELLED).count() == 1


def test_inviting_again_replaces_the_pending_link_and_members_are_refused(client_for, admin_member, operator_member):
    operator_member.user.email = "op@example.com"
    operator_member.user.save()
    client = client_for(admin_member)
    _invite(client, "twice@example.com")
    _invite(client, "twice@example.com", "admin")
    pending = [i for i in Invitation.objects.for_tenant(admin_member.tenant).all() if i.is_pending]
    assert [(i.email, i.role) for i in pending] == [("twice@example.com", "admin")]
    response = _invite(client, "OP@example.com")
    assert response.status_code == 200 and "already a member" in response.content.decode()
    response = _invite(client, "not an email")
    assert response.status_code == 200 and "valid email" in response.content.decode()


def test_admin_changes_roles_and_removes_after_confirmation(client_for, admin_member, operator_member):
    client = client_for(admin_member)
    response = client.post(reverse("tenants:member_role", args=[operator_member.pk]), {"role": "viewer"})
    assert response.status_code == 302
    assert Member.objects.get(pk=operator_member.pk).role == Role.VIEWER
    confirm = client.get(reverse("tenants:member_remove", args=[operator_member.pk]))
    assert confirm.status_code == 200 and "Remove member" in confirm.content.decode()
    assert Member.objects.filter(pk=operator_member.pk).exists()  # GET asks, never removes
    client.post(reverse("tenants:member_remove", args=[operator_member.pk]))
    assert not Member.objects.filter(pk=operator_member.pk).exists()
    assert get_user_model().objects.filter(pk=operator_member.user_id).exists()
    events = Event.objects.for_tenant(admin_member.tenant).filter(actor=admin_member.user)
    assert {e.kind for e in events} == {EventKind.MEMBER_ROLE_CHANGED, EventKind.MEMBER_REMOVED}
    html = client.get(reverse("tenants:members")).content.decode()
    assert "Operator → Viewer" in html and "Member removed" in html


def test_the_last_admin_is_never_demoted_or_removed(client_for, admin_member):
    client = client_for(admin_member)
    response = client.post(reverse("tenants:member_role", args=[admin_member.pk]), {"role": "operator"}, follow=True)
    assert "last admin" in response.content.decode()
    client.post(reverse("tenants:member_remove", args=[admin_member.pk]))
    assert Member.objects.get(pk=admin_member.pk).role == Role.ADMIN
    with pytest.raises(MemberError):
        member_remove(member=admin_member, actor=admin_member.user)
    with pytest.raises(MemberError):
        member_role_change(member=admin_member, role=Role.VIEWER, actor=admin_member.user)


def test_with_two_admins_one_may_step_down(client_for, admin_member, make_member):
    other = make_member(admin_member.tenant, Role.ADMIN, username="second-admin")
    member_role_change(member=admin_member, role=Role.OPERATOR, actor=admin_member.user)
    with pytest.raises(MemberError):
        member_remove(member=other, actor=other.user)


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_operators_and_viewers_see_members_but_cannot_manage(client_for, admin_member, make_member, role):
    member = make_member(admin_member.tenant, role, username=f"who-{role}")
    client = client_for(member)
    html = client.get(reverse("tenants:members")).content.decode()
    assert admin_member.user.username in html and "Send invitation" not in html
    assert "Cancel invitation" not in html and "Remove</a>" not in html
    invitation, _ = invitation_create(tenant=admin_member.tenant, email="c@example.com", role="admin", actor=admin_member.user)
    assert _invite(client).status_code == 403
    assert client.post(reverse("tenants:member_role", args=[member.pk]), {"role": "admin"}).status_code == 403
    assert client.post(reverse("tenants:member_remove", args=[admin_member.pk])).status_code == 403
    assert client.get(reverse("tenants:member_remove", args=[admin_member.pk])).status_code == 403
    assert client.post(reverse("tenants:invitation_cancel", args=[invitation.pk])).status_code == 403
    assert Member.objects.get(pk=member.pk).role == role
    assert Invitation.all_objects.get(pk=invitation.pk).is_pending


def test_a_second_tenant_gets_404_for_members_and_invitations(client_for, admin_member, operator_member, outsider_member):
    invitation, _ = invitation_create(tenant=admin_member.tenant, email="d@example.com", role="viewer", actor=admin_member.user)
    client = client_for(outsider_member)
    assert client.post(reverse("tenants:member_role", args=[operator_member.pk]), {"role": "admin"}).status_code == 404
    assert client.get(reverse("tenants:member_remove", args=[operator_member.pk])).status_code == 404
    assert client.post(reverse("tenants:member_remove", args=[operator_member.pk])).status_code == 404
    assert client.post(reverse("tenants:invitation_cancel", args=[invitation.pk])).status_code == 404
    html = client.get(reverse("tenants:members")).content.decode()
    assert "d@example.com" not in html and operator_member.user.username not in html
    assert Member.objects.get(pk=operator_member.pk).role == Role.OPERATOR
    assert Invitation.all_objects.get(pk=invitation.pk).is_pending


def test_members_page_queries_do_not_grow_with_members(client_for, admin_member, make_member, django_assert_max_num_queries):
    for n in range(12):
        make_member(admin_member.tenant, Role.VIEWER, username=f"viewer-{n}")
        invitation_create(tenant=admin_member.tenant, email=f"p{n}@example.com", role="viewer", actor=admin_member.user)
    client = client_for(admin_member)
    with django_assert_max_num_queries(10):
        assert client.get(reverse("tenants:members")).status_code == 200


def test_signing_in_from_the_invitation_comes_back_to_it(client, admin_member, outsider_member):
    _invitation, token = invitation_create(tenant=admin_member.tenant, email="o@example.com", role="operator", actor=admin_member.user)
    link = reverse("tenants:invitation_accept", args=[token])
    html = client.get(link).content.decode()
    assert f'href="{reverse("login")}?next={link}"' in html
    response = client.post(reverse("login"), {"username": outsider_member.user.username, "password": "pw-for-tests-only", "next": link})
    assert response.status_code == 302 and response["Location"] == link


@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin(tenant, make_member):
    import threading  # only this test races

    from django.db import connection as db_connection

    first = make_member(tenant, Role.ADMIN, username="first-admin")
    second = make_member(tenant, Role.ADMIN, username="second-admin")
    barrier = threading.Barrier(2)
    outcomes = []

    def demote(member, actor):
        try:
            barrier.wait()
            member_role_change(member=member, role=Role.OPERATOR, actor=actor.user)
            outcomes.append("demoted")
        except MemberError:
            outcomes.append("refused")
        finally:
            db_connection.close()

    threads = [
        threading.Thread(target=demote, args=(first, second)),
        threading.Thread(target=demote, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["demoted", "refused"]
    assert Member.objects.filter(tenant=tenant, role=Role.ADMIN).count() == 1
