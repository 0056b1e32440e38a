import pytest
from django.urls import reverse

from catalog.models import App, OAuthClient
from catalog.services import oauth_client_set
from connections.models import Connection, Role


def make_app(slug, name=None, category="crm", auth_mode="api_key", **extra):
    spec = {"setup_steps": "", "fields": []}
    return App.objects.create(
        slug=slug, name=name or slug.title(), category=category, auth_mode=auth_mode, spec=spec, **extra
    )


def connect(tenant, app, name, status="active"):
    return Connection.all_objects.create(tenant=tenant, app=app, name=name, status=status)


@pytest.fixture
def apps(db):
    return {
        "stripe": make_app("stripe", "Stripe", "payments", "api_key"),
        "slack": make_app("slack", "Slack", "communication", "oauth2"),
        "gmail": make_app("gmail", "Gmail", "email", "oauth2"),
        "old": make_app("old-app", "Old app", enabled=False),
        "sandbox": make_app("sandbox-api-key", "Sandbox API key", "sandbox", "api_key"),
    }


def grid_slugs(response):
    return [app.slug for app in response.context["apps"]]


def test_catalog_requires_sign_in(client, apps):
    response = client.get(reverse("catalog:list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_catalog_lists_visible_apps(client_for, operator_member, apps, settings):
    response = client_for(operator_member).get(reverse("catalog:list"))
    assert response.status_code == 200
    assert grid_slugs(response) == ["gmail", "sandbox-api-key", "slack", "stripe"]
    settings.SANDBOX_ENABLED = False
    assert grid_slugs(client_for(operator_member).get(reverse("catalog:list"))) == ["gmail", "slack", "stripe"]


def test_search_and_filters(client_for, operator_member, apps):
    c = client_for(operator_member)
    url = reverse("catalog:list")
    assert grid_slugs(c.get(url, {"q": "sla"})) == ["slack"]
    assert grid_slugs(c.get(url, {"category": "payments"})) == ["stripe"]
    assert grid_slugs(c.get(url, {"auth": "oauth2"})) == ["gmail", "slack"]
    assert grid_slugs(c.get(url, {"auth": "oauth2", "category": "email"})) == ["gmail"]
    assert grid_slugs(c.get(url, {"category": "bogus"})) == ["gmail", "sandbox-api-key", "slack", "stripe"]
    response = c.get(url, {"q": "zzz"})
    assert grid_slugs(response) == [] and "No apps found" in response.content.decode()


def test_counts_are_per_tenant_and_skip_revoked(client_for, operator_member, outsider_member, apps, tenant, other_tenant):
    connect(tenant, apps["stripe"], "Billing")
    connect(tenant, apps["stripe"], "Old billing", status="revoked")
    connect(tenant, apps["slack"], "Team")
    for i in range(3):
        connect(other_tenant, apps["stripe"], f"Theirs {i}")
    counts = {a.slug: a.connection_count for a in client_for(operator_member).get(reverse("catalog:list")).context["apps"]}
    assert counts == {"gmail": 0, "sandbox-api-key": 0, "slack": 1, "stripe": 1}
    theirs = {a.slug: a.connection_count for a in client_for(outsider_member).get(reverse("catalog:list")).context["apps"]}
    assert theirs == {"gmail": 0, "sandbox-api-key": 0, "slack": 0, "stripe": 3}
    page = client_for(operator_member).get(reverse("catalog:app", args=["stripe"]))
    assert page.context["app"].connection_count == 1


def test_unconfigured_oauth_apps(client_for, operator_member, admin_member, apps):
    oauth_client_set(app=apps["gmail"], client_id="id", client_secret="s")
    response = client_for(operator_member).get(reverse("catalog:list"))
    configured = {a.slug: a.configured for a in response.context["apps"]}
    assert configured == {"gmail": True, "sandbox-api-key": True, "slack": False, "stripe": True}
    html = response.content.decode()
    assert html.count("Not configured") == 1
    assert "not configured." not in html
    admin_html = client_for(admin_member).get(reverse("catalog:list")).content.decode()
    assert "1 OAuth app not configured." in admin_html


def test_app_page(client_for, operator_member, apps):
    app = apps["stripe"]
    app.description = "Payments."
    app.docs_url = "https://docs.stripe.com/keys"
    app.setup_steps = "1. Open <Developers> → API keys.\n2. Paste the key with `rk_live`.\n   (restricted)\n"
    app.save()
    response = client_for(operator_member).get(reverse("catalog:app", args=["stripe"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<li>Open &lt;Developers&gt; → API keys.</li>" in html
    assert '<li>Paste the key with <span class="code">rk_live</span>. (restricted)</li>' in html
    assert 'href="https://docs.stripe.com/keys"' in html
    assert f'href="{reverse("connections:create", args=["stripe"])}"' in html
    assert "Redirect URI" not in html


def test_oauth_app_page_disabled_until_configured(client_for, admin_member, apps, settings):
    settings.BASE_URL = "https://connect.example.com"
    c = client_for(admin_member)
    html = c.get(reverse("catalog:app", args=["slack"])).content.decode()
    assert "Slack is not configured yet" in html and "disabled" in html
    assert reverse("connections:create", args=["slack"]) not in html
    assert "https://connect.example.com/connections/callback/slack/" in html
    oauth_client_set(app=apps["slack"], client_id="id", client_secret="s")
    html = c.get(reverse("catalog:app", args=["slack"])).content.decode()
    assert "not configured yet" not in html
    assert f'href="{reverse("connections:create", args=["slack"])}"' in html


def test_redirect_uri_only_for_tenant_admins(client_for, operator_member, apps):
    html = client_for(operator_member).get(reverse("catalog:app", args=["slack"])).content.decode()
    assert "/connections/callback/slack/" not in html


def test_viewer_cannot_link(client_for, viewer_member, apps):
    html = client_for(viewer_member).get(reverse("catalog:app", args=["stripe"])).content.decode()
    assert reverse("connections:create", args=["stripe"]) not in html
    assert "can see connections but not link accounts" in html


def test_disabled_and_unknown_apps_are_404(client_for, operator_member, apps, settings):
    c = client_for(operator_member)
    assert c.get(reverse("catalog:app", args=["old-app"])).status_code == 404
    assert c.get(reverse("catalog:app", args=["nope"])).status_code == 404
    settings.SANDBOX_ENABLED = False
    assert c.get(reverse("catalog:app", args=["sandbox-api-key"])).status_code == 404


def test_second_tenant_sees_no_other_tenant_data(client_for, operator_member, outsider_member, apps, tenant):
    connect(tenant, apps["stripe"], "Acme billing")
    response = client_for(outsider_member).get(reverse("catalog:app", args=["stripe"]))
    assert response.status_code == 200
    assert response.context["app"].connection_count == 0
    assert "Acme billing" not in response.content.decode()


def test_picker_links_to_connection_window(client_for, operator_member, apps):
    oauth_client_set(app=apps["gmail"], client_id="id", client_secret="s")
    response = client_for(operator_member).get(reverse("connections:new"))
    assert response.status_code == 200
    urls = {a.slug: a.card_url for a in response.context["apps"]}
    assert urls["stripe"] == reverse("connections:create", args=["stripe"])
    assert urls["gmail"] == reverse("connections:create", args=["gmail"])
    assert urls["slack"] == reverse("catalog:app", args=["slack"])  # not configured: the page explains
    assert grid_slugs(client_for(operator_member).get(reverse("connections:new"), {"q": "strip"})) == ["stripe"]


@pytest.mark.parametrize("count", [10, 100])
def test_queries_do_not_grow_with_apps(client_for, operator_member, tenant, count, django_assert_max_num_queries):
    for i in range(count):
        app = make_app(f"app-{i:03d}", auth_mode="oauth2" if i % 2 else "api_key")
        if i % 3 == 0:
            connect(tenant, app, "One")
        if i % 4 == 1:
            OAuthClient.objects.create(app=app, client_id="x")
    c = client_for(operator_member)
    with django_assert_max_num_queries(10):
        response = c.get(reverse("catalog:list"))
    assert len(response.context["apps"]) == count
    with django_assert_max_num_queries(10):
        assert c.get(reverse("connections:new")).status_code == 200


def test_member_of_no_tenant_is_refused(client, apps, django_user_model):
    user = django_user_model.objects.create_user(username="lonely", password="pw")
    client.force_login(user)
    assert client.get(reverse("catalog:list")).status_code == 403
    assert client.get(reverse("catalog:app", args=["stripe"])).status_code == 403


def test_viewer_role_can_browse(client_for, make_member, tenant, apps):
    viewer = make_member(tenant, Role.VIEWER, username="v2")
    assert client_for(viewer).get(reverse("catalog:list")).status_code == 200


def test_grid_groups_popular_then_ready_then_the_rest(client_for, operator_member, apps):
    response = client_for(operator_member).get(reverse("connections:new"))
    sections = {s["key"]: [a.slug for a in s["apps"]] for s in response.context["sections"]}
    assert sections == {"popular": ["gmail", "slack", "stripe"], "ready": ["sandbox-api-key"]}
    filtered = client_for(operator_member).get(reverse("connections:new"), {"auth": "oauth2"})
    sections = [(s["key"], [a.slug for a in s["apps"]]) for s in filtered.context["sections"]]
    assert sections == [("setup", ["gmail", "slack"])]
    oauth_client_set(app=apps["slack"], client_id="id", client_secret="s")
    filtered = client_for(operator_member).get(reverse("connections:new"), {"auth": "oauth2"})
    sections = [(s["key"], [a.slug for a in s["apps"]]) for s in filtered.context["sections"]]
    assert sections == [("ready", ["slack"]), ("setup", ["gmail"])]


def test_partial_is_the_results_alone_and_scoped(client_for, operator_member, outsider_member, apps):
    Connection.all_objects.create(tenant=operator_member.tenant, app=apps["stripe"], name="Ours")
    for name in ("catalog:list", "connections:new"):
        html = client_for(operator_member).get(reverse(name), {"q": "str", "partial": "1"}).content.decode()
        assert "<html" not in html and 'data-app="stripe"' in html and 'data-app="slack"' not in html
        assert "1 connection" in html
    html = client_for(outsider_member).get(reverse("catalog:list"), {"q": "str", "partial": "1"}).content.decode()
    assert "0 connections" in html and "1 connection<" not in html


def test_chips_keep_the_search_and_the_form_keeps_the_category(client_for, operator_member, apps):
    html = client_for(operator_member).get(reverse("catalog:list"), {"q": "s", "category": "payments"}).content.decode()
    assert '<input type="hidden" name="category" value="payments">' in html
    assert 'href="?q=s&amp;category=communication"' in html
