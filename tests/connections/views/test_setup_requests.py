"""Unconfigured apps: operators ask their admins, admins ask the platform; nobody is sent to /admin/."""

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from catalog.models import App
from catalog.services import oauth_client_set
from connections.models import Event, EventKind, Role, SetupRequest

pytestmark = pytest.mark.django_db

ADMIN_WORDS = ("/admin/", "Django admin", "copy the Client Secret")


@pytest.fixture
def slack(db):
    return App.objects.create(
        slug="slack", name="Slack", category="communication", auth_mode="oauth2", spec={"fields": []},
        setup_steps="1. Create the app at api.slack.com.\n2. Copy the Client Secret into the Django admin.\n",
    )


@pytest.fixture
def people(admin_member, operator_member, viewer_member):
    for member, email in ((admin_member, "boss@acme.test"), (operator_member, "op@acme.test"), (viewer_member, "view@acme.test")):
        member.user.email = email
        member.user.save()
    get_user_model().objects.create_user("ops", email="ops@platform.test", is_staff=True)
    return admin_member, operator_member


def _pages(slug):
    return [reverse("catalog:app", args=[slug]), reverse("connections:create", args=[slug]), reverse("catalog:list"), reverse("connections:new")]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR, Role.VIEWER])
def test_no_page_sends_a_non_staff_user_to_the_django_admin(client_for, make_member, tenant, slack, role):
    client = client_for(make_member(tenant, role, username=f"u-{role}"))
    for path in _pages("slack"):
        response = client.get(path)
        if response.status_code == 403:  # viewers do not open the picker or the window
            continue
        html = response.content.decode()
        assert response.status_code == 200, path
        for words in ADMIN_WORDS:
            assert words not in html, (path, words)


def test_staff_still_see_the_registration_steps(client, slack):
    staff = get_user_model().objects.create_user("root", password="x", is_staff=True, is_superuser=True)
    from connections.models import Member, Tenant  # a staff member of some company

    Member.objects.create(user=staff, tenant=Tenant.objects.create(name="Ops", slug="ops"), role=Role.ADMIN)
    client.force_login(staff)
    html = client.get(reverse("catalog:app", args=["slack"])).content.decode()
    assert "Copy the Client Secret into the Django admin." in html
    assert f"/admin/catalog/oauthclient/add/?app={slack.pk}" in html


def test_operator_asks_the_admins_by_email_and_on_their_dashboard(client_for, people, slack, django_capture_on_commit_callbacks):
    admin, operator = people
    client = client_for(operator)
    html = client.get(reverse("catalog:app", args=["slack"])).content.decode()
    assert "Ask your admin to set up Slack" in html
    assert "Ask your admin to set up Slack" in client.get(reverse("connections:create", args=["slack"])).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("catalog:ask_setup", args=["slack"]), {"next": reverse("connections:create", args=["slack"])}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("connections:create", args=["slack"])
    assert "The admins of Acme were asked to set up Slack" in response.content.decode()
    assert [m.to for m in mail.outbox] == [["boss@acme.test"]]
    assert "op" in mail.outbox[0].subject and "Slack" in mail.outbox[0].subject
    assert "/admin/" not in mail.outbox[0].body
    assert "Your admins were asked" in client.get(reverse("catalog:app", args=["slack"])).content.decode()
    # Asking again tells nobody twice.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("catalog:ask_setup", args=["slack"]))
    assert len(mail.outbox) == 1
    event = Event.objects.for_tenant(admin.tenant).get(kind=EventKind.SETUP_REQUESTED)
    assert event.actor == operator.user and event.detail["audience"] == "admins"

    dashboard = client_for(admin).get(reverse("connections:list")).content.decode()
    assert 'data-testid="setup-requests"' in dashboard and "asked by operator-acme" in dashboard
    # The operator's own dashboard shows no such item.
    assert 'data-testid="setup-requests"' not in client_for(operator).get(reverse("connections:list")).content.decode()


def test_admin_asks_the_platform_administrators(client_for, people, slack, django_capture_on_commit_callbacks):
    admin, _operator = people
    client = client_for(admin)
    html = client.get(reverse("catalog:app", args=["slack"])).content.decode()
    assert "Ask the platform administrators" in html and "Ask your admin" not in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("catalog:ask_setup", args=["slack"]), follow=True)
    assert "The platform administrators were asked to set up Slack" in response.content.decode()
    assert [m.to for m in mail.outbox] == [["ops@platform.test"]]
    assert f"/admin/catalog/oauthclient/add/?app={slack.pk}" in mail.outbox[0].body  # staff may open it
    assert SetupRequest.objects.for_tenant(admin.tenant).get().audience == "staff"
    assert "The platform administrators were asked" in client.get(reverse("catalog:app", args=["slack"])).content.decode()


def test_the_dashboard_item_goes_once_dismissed_or_configured(client_for, people, slack, make_member):
    admin, operator = people
    client_for(operator).post(reverse("catalog:ask_setup", args=["slack"]))
    setup = SetupRequest.objects.for_tenant(admin.tenant).get()
    client = client_for(admin)
    assert "data-testid=\"setup-requests\"" in client.get(reverse("connections:list")).content.decode()
    oauth_client_set(app=slack, client_id="id", client_secret="s")
    assert "data-testid=\"setup-requests\"" not in client.get(reverse("connections:list")).content.decode()
    client.post(reverse("catalog:setup_request_dismiss", args=[setup.pk]))
    assert SetupRequest.all_objects.get(pk=setup.pk).dismissed_at is not None


def test_viewers_cannot_ask_and_operators_cannot_dismiss(client_for, people, viewer_member, slack):
    admin, operator = people
    assert client_for(viewer_member).post(reverse("catalog:ask_setup", args=["slack"])).status_code == 403
    client_for(operator).post(reverse("catalog:ask_setup", args=["slack"]))
    setup = SetupRequest.objects.for_tenant(admin.tenant).get()
    assert client_for(operator).post(reverse("catalog:setup_request_dismiss", args=[setup.pk])).status_code == 403
    assert SetupRequest.all_objects.get(pk=setup.pk).dismissed_at is None


def test_a_second_tenant_sees_nothing_and_gets_404(client_for, people, outsider_member, slack):
    admin, operator = people
    client_for(operator).post(reverse("catalog:ask_setup", args=["slack"]))
    setup = SetupRequest.objects.for_tenant(admin.tenant).get()
    outsider = client_for(outsider_member)
    assert 'data-testid="setup-requests"' not in outsider.get(reverse("connections:list")).content.decode()
    assert outsider.post(reverse("catalog:setup_request_dismiss", args=[setup.pk])).status_code == 404
    assert "Ask the platform administrators" in outsider.get(reverse("catalog:app", args=["slack"])).content.decode()
    assert SetupRequest.all_objects.get(pk=setup.pk).dismissed_at is None


def test_a_configured_app_asks_nobody(client_for, people, slack):
    _admin, operator = people
    oauth_client_set(app=slack, client_id="id", client_secret="s")
    response = client_for(operator).post(reverse("catalog:ask_setup", args=["slack"]), follow=True)
    assert "Slack is set up" in response.content.decode()
    assert not SetupRequest.all_objects.exists() and mail.outbox == []
