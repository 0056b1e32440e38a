"""The login page, the base layout (navigation, tenant, switcher, messages) and the ui tags."""

import pytest
from django.template import Context, Template
from django.urls import reverse

from connections.models import Role

pytestmark = pytest.mark.django_db


def test_login_page_renders_the_form(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html and 'name="password"' in html
    assert "Sign in" in html
    assert "/static/css/app.css" in html


def test_login_signs_in_and_lands_on_connections(client, operator_member):
    response = client.post(
        "/accounts/login/", {"username": operator_member.user.username, "password": "pw-for-tests-only"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("connections:list")
    assert client.session["_auth_user_id"] == str(operator_member.user.pk)


def test_login_with_a_wrong_password_shows_an_error(client, operator_member):
    response = client.post("/accounts/login/", {"username": operator_member.user.username, "password": "nope"})
    assert response.status_code == 200
    assert "alert-error" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post(client_for, operator_member):
    client = client_for(operator_member)
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_navigation_shows_tenant_and_links(client_for, operator_member):
    html = client_for(operator_member).get(reverse("tenants:members")).content.decode()
    assert 'data-testid="tenant-name">Acme<' in html
    for label in ("Connections", "Catalog", "Members", "API tokens", "Sign out"):
        assert label in html
    assert reverse("tenants:settings") not in html  # operators don't see Settings
    assert 'action="/accounts/logout/"' in html and 'method="post"' in html


def test_admins_see_settings_in_navigation(client_for, admin_member):
    html = client_for(admin_member).get(reverse("tenants:members")).content.decode()
    assert reverse("tenants:settings") in html


def test_switcher_lists_the_users_other_tenants_only(client_for, tenant, other_tenant, make_member):
    from connections.models import Member, Tenant

    member = make_member(tenant, Role.OPERATOR, username="both")
    Member.objects.create(user=member.user, tenant=other_tenant, role=Role.VIEWER)
    Tenant.objects.create(name="Initech", slug="initech")
    html = client_for(member).get(reverse("tenants:members")).content.decode()
    assert "Switch company" in html
    assert f'name="tenant" value="{other_tenant.pk}"' in html
    assert "Initech" not in html


def test_no_switcher_with_a_single_tenant(client_for, operator_member, other_tenant):
    html = client_for(operator_member).get(reverse("tenants:members")).content.decode()
    assert "Switch company" not in html
    assert "Globex" not in html


def test_user_without_tenant_sees_no_tenant_page(client, django_user_model):
    user = django_user_model.objects.create_user(username="lonely", password="x")
    client.force_login(user)
    response = client.get(reverse("tenants:members"))
    assert response.status_code == 403
    assert "No company yet" in response.content.decode()


def test_messages_render_as_alerts(client_for, tenant, other_tenant, make_member):
    from connections.models import Member

    member = make_member(tenant, Role.OPERATOR, username="mover")
    Member.objects.create(user=member.user, tenant=other_tenant, role=Role.VIEWER)
    client = client_for(member)
    response = client.post(reverse("tenants:switch"), {"tenant": other_tenant.pk, "next": reverse("tenants:members")}, follow=True)
    html = response.content.decode()
    assert 'class="alert alert-success"' in html
    assert "Switched to Globex." in html


def test_page_heading_repeats_the_title_block():
    html = Template(
        '{% extends "base.html" %}{% block title %}Hello page{% endblock %}{% block content %}x{% endblock %}'
    ).render(Context({}))
    assert "<title>Hello page · App Connections</title>" in html
    assert "<h1>Hello page</h1>" in html


def test_ui_tags():
    html = Template(
        "{% load ui %}{% status_badge 'expired' %}|{% status_badge 'active' %}|{% app_icon app %}|{% error_explain 'test_failed' %}"
    ).render(Context({"app": type("App", (), {"name": "Google Sheets", "slug": "google-sheets"})()}))
    badge_expired, badge_active, icon, explain = html.split("|")
    assert 'class="badge badge-expired"' in badge_expired and "Connection expired" in badge_expired
    assert "badge-active" in badge_active and "Active" in badge_active
    # Google Sheets has a vendored Simple Icons tile (slug without hyphens); no style attribute (CSP).
    assert '<img class="app-icon ' in icon and 'src="/static/brands/googlesheets.svg"' in icon and 'alt=""' in icon
    letters = Template("{% load ui %}{% app_icon app 'sm' %}").render(
        Context({"app": type("App", (), {"name": "Acme Billing", "slug": "acme-billing", "spec": {}})()})
    )
    assert 'class="app-icon sm hue-' in letters and ">AB<" in letters and "style=" not in letters
    assert "Test failed" in explain and "What to do" in explain


def test_every_ui_kit_class_is_styled():
    from pathlib import Path

    from django.conf import settings

    css = (Path(settings.BASE_DIR) / "static" / "css" / "app.css").read_text()
    kit = (
        "page-header actions btn btn-primary btn-danger btn-ghost btn-sm card card-header card-body grid "
        "grid-3 table table-wrap badge badge-active badge-expired badge-error badge-revoked badge-pending "
        "badge-neutral badge-warning app-icon field help errors form-actions alert alert-error "
        "alert-warning alert-info alert-success empty-state muted meta timeline filters pagination tabs kbd code"
    ).split()
    missing = [name for name in kit if f".{name}" not in css]
    assert missing == []


def test_login_page_mentions_demo_logins_only_in_development(client, settings):
    assert "demo-admin" not in client.get("/accounts/login/").content.decode()
    settings.DEBUG = True
    assert "demo-admin" in client.get("/accounts/login/").content.decode()
