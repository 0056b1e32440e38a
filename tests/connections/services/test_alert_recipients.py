"""Alert recipients: admins by default, per-member opt-out/in, extra addresses; the settings panel."""

import pytest
from django.core import mail
from django.urls import reverse

from catalog.models import App
from connections.models import AlertSettings, Connection, ConnectionStatus, Event, EventKind, Member, Role
from connections.services.alerts import alert_recipients_set, recipients, status_alert_send

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(db):
    return App.objects.create(slug="keyed", name="Keyed", category="crm", auth_mode="api_key", spec={"fields": []})


@pytest.fixture
def team(tenant, make_member):
    people = {}
    for role, name in ((Role.ADMIN, "ann"), (Role.ADMIN, "abe"), (Role.OPERATOR, "olga"), (Role.VIEWER, "vic")):
        member = make_member(tenant, role, username=name)
        member.user.email = f"{name}@acme.test"
        member.user.save()
        people[name] = member
    return people


def _connection(tenant, app, creator):
    return Connection.all_objects.create(
        tenant=tenant, app=app, name="Sales", status=ConnectionStatus.ACTIVE, created_by=creator.user,
        last_error_code="connection_expired",
    )


def test_admins_and_the_creator_by_default(tenant, app, team):
    connection = _connection(tenant, app, team["olga"])
    assert recipients(connection) == ["abe@acme.test", "ann@acme.test", "olga@acme.test"]


def test_opt_out_opt_in_and_extra_addresses(tenant, app, team, django_capture_on_commit_callbacks):
    connection = _connection(tenant, app, team["olga"])
    alert_recipients_set(
        tenant=tenant, member_ids=[team["ann"].pk, team["vic"].pk],
        extra_emails=["oncall@acme.test", "oncall@acme.test"], actor=team["ann"].user,
    )
    # abe opted out, vic opted in, olga (the creator) unticked: opted out too.
    assert recipients(connection) == ["ann@acme.test", "oncall@acme.test", "vic@acme.test"]
    assert AlertSettings.objects.get(tenant=tenant).extra_emails == ["oncall@acme.test"]
    with django_capture_on_commit_callbacks(execute=True):
        status_alert_send(connection=connection, old_status="active", new_status="expired")
    assert sorted(mail.outbox[0].to) == ["ann@acme.test", "oncall@acme.test", "vic@acme.test"]
    event = Event.objects.for_tenant(tenant).get(kind=EventKind.ALERT_RECIPIENTS_UPDATED)
    assert event.detail["members"] == ["ann", "vic"] and event.detail["extra_emails"] == 1


def test_a_removed_member_is_no_longer_told(tenant, app, team):
    connection = _connection(tenant, app, team["olga"])
    Member.objects.filter(pk=team["olga"].pk).delete()
    assert "olga@acme.test" not in recipients(connection)


def test_settings_panel_shows_recipients_and_previews(client_for, team):
    html = client_for(team["ann"]).get(reverse("tenants:settings")).content.decode()
    assert 'data-testid="alert-recipients"' in html
    for name, checked in (("ann", True), ("abe", True), ("olga", False), ("vic", False)):
        pk = team[name].pk
        assert (f'value="{pk}" checked' in html) is checked, name
    assert 'data-preview="expired"' in html and "Connection expired: Sales team (Slack)" in html
    assert "Recovered: Sales team (Slack)" in html and 'data-preview="unavailable"' in html


def test_admin_saves_recipients_and_bad_addresses_lose_nothing(client_for, team, tenant):
    client = client_for(team["ann"])
    url = reverse("tenants:alert_recipients")
    bad = client.post(url, {"members": [team["vic"].pk], "extra_emails": "ok@acme.test\nnot-an-email"})
    assert bad.status_code == 400
    body = bad.content.decode()
    assert "Not an email address: not-an-email." in body and "ok@acme.test\nnot-an-email" in body
    assert f'value="{team["vic"].pk}" checked' in body
    assert not AlertSettings.objects.filter(tenant=tenant).exists()
    good = client.post(url, {"members": [team["vic"].pk], "extra_emails": "a@acme.test, b@acme.test"})
    assert good.status_code == 302 and good["Location"].endswith("/tenants/settings/#alerts")
    assert AlertSettings.objects.get(tenant=tenant).extra_emails == ["a@acme.test", "b@acme.test"]
    assert [m.user.username for m in Member.objects.filter(tenant=tenant) if m.gets_alerts] == ["vic"]


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_only_admins_change_recipients(client_for, team, tenant, role):
    member = team["olga"] if role == Role.OPERATOR else team["vic"]
    response = client_for(member).post(reverse("tenants:alert_recipients"), {"members": [member.pk]})
    assert response.status_code == 403
    assert Member.objects.get(pk=member.pk).alerts is None


def test_another_tenant_cannot_touch_our_members(client_for, team, outsider_member, tenant):
    response = client_for(outsider_member).post(
        reverse("tenants:alert_recipients"), {"members": [team["abe"].pk], "extra_emails": "x@globex.test"}
    )
    assert response.status_code == 400  # not a member of theirs: not a valid choice
    assert Member.objects.get(pk=team["abe"].pk).alerts is None
    html = client_for(outsider_member).get(reverse("tenants:settings")).content.decode()
    assert "ann@acme.test" not in html


def test_settings_page_queries_stay_flat(client_for, team, tenant, make_member, django_assert_max_num_queries):
    for n in range(10):
        make_member(tenant, Role.VIEWER, username=f"v{n}")
    client = client_for(team["ann"])
    with django_assert_max_num_queries(10):
        assert client.get(reverse("tenants:settings")).status_code == 200
