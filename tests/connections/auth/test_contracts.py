"""Provider contracts: replay each touched entry's documented token, test and refresh answers.

Each case links an account through attempt_start → attempt_finish with `responses` playing the
provider as its documentation shows, then asserts what a person and a flow see: the account
label, the values captured into the connection's config, the base URL the session uses, and
whether a refresh keeps or replaces the refresh token as that provider does.
"""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.core.exceptions import ValidationError

from connections.auth import get_mode
from connections.auth.captures import reported_values
from connections.models import Attempt, Connection
from connections.services.attempts import attempt_finish, attempt_start
from connections.services.refresh import open_credentials

from ..lifecycle_helpers import make_request
from .contract_support import CLIENT_ID, catalog_app

pytestmark = pytest.mark.django_db

mode = get_mode("oauth2")


def query(url):
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


class Provider:
    """The provider's endpoints as `responses` answers; `calls` are the requests it received."""

    def __init__(self, mocked):
        self.mocked = mocked

    def token(self, url, answer, status=200):
        self.mocked.add(responses.POST, url, json=answer, status=status)

    def get(self, url, answer):
        self.mocked.add(responses.GET, url, json=answer)

    def post(self, url, answer):
        self.mocked.add(responses.POST, url, json=answer)

    def sent(self, url_start):
        return [call.request for call in self.mocked.calls if call.request.url.startswith(url_start)]


@pytest.fixture
def provider():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield Provider(mocked)


def link(slug, tenant, member, *, field_values=None, params=None, scopes=None):
    """Start and finish an attempt of a catalog entry; return (app, attempt, authorize URL)."""
    app = catalog_app(slug)
    request = make_request(member.user)
    attempt, url = attempt_start(
        tenant=tenant, user=member.user, app=app, field_values=field_values or {}, scopes=scopes, request=request
    )
    assert url, attempt.error_message
    attempt = attempt_finish(attempt=attempt, request=request, params={"code": "the-code", **(params or {})})
    assert attempt.status == Attempt.Status.SUCCEEDED, attempt.error_message
    return app, attempt, url


def session_of(connection):
    return mode.session(connection.app, connection.config, open_credentials(connection))


# --- Token request shape (catalog/SPEC.md, "Token request") ---------------------------------


def test_slack_user_token_comes_from_authed_user_and_scopes_go_in_user_scope(provider, tenant, operator_member):
    # https://api.slack.com/methods/oauth.v2.access: the user token sits under authed_user.
    provider.token(
        "https://slack.com/api/oauth.v2.access",
        {
            "ok": True, "app_id": "A0KRD7HC3", "team": {"id": "T9TK3CUKW", "name": "Slack Softball Team"},
            "authed_user": {
                "id": "U1234", "scope": "users:read,search:read", "access_token": "xoxp-1234", "token_type": "user",
            },
        },
    )
    provider.get("https://slack.com/api/auth.test", {"ok": True, "user": "ada", "team": "Slack Softball Team"})
    app, attempt, url = link("slack-user", tenant, operator_member)
    q = query(url)
    assert q["user_scope"] == "users:read,search:read" and "scope" not in q
    assert "code_challenge" not in q  # pkce: false
    connection = attempt.connection
    assert connection.account_label == "ada"
    assert provider.sent("https://slack.com/api/auth.test")[0].headers["Authorization"] == "Bearer xoxp-1234"
    assert connection.scopes == ["users:read", "search:read"]
    token_body = parse_qs(provider.sent("https://slack.com/api/oauth.v2.access")[0].body)
    assert "code_verifier" not in token_body


@pytest.mark.parametrize("slug", ["slack", "pipedrive", "linkedin", "monday", "typeform"])
def test_pkce_is_not_sent_where_it_makes_a_public_client(slug, tenant, operator_member):
    app = catalog_app(slug)
    attempt, url = attempt_start(tenant=tenant, user=operator_member.user, app=app, request=make_request())
    assert url and "code_challenge" not in query(url)
    assert attempt.pending_secret_id is None


def test_shopify_asks_for_expiring_tokens_and_replaces_the_refresh_token(provider, tenant, operator_member):
    # shopify.dev "Offline access tokens": expiring=1 returns expires_in and a refresh_token.
    token_url = "https://acme.myshopify.com/admin/oauth/access_token"
    provider.token(
        token_url,
        {
            "access_token": "shpat_1", "scope": "read_products,read_orders,read_customers", "expires_in": 3600,
            "refresh_token": "shprt_1", "refresh_token_expires_in": 7776000,
        },
    )
    provider.get("https://acme.myshopify.com/admin/api/2026-10/shop.json", {"shop": {"email": "owner@acme.test"}})
    app, attempt, _url = link("shopify", tenant, operator_member, field_values={"shop": "acme"})
    assert parse_qs(provider.sent(token_url)[0].body)["expiring"] == ["1"]
    sent = provider.sent("https://acme.myshopify.com/admin/api/2026-10/shop.json")[0]
    assert sent.headers["X-Shopify-Access-Token"] == "shpat_1"
    assert attempt.connection.account_label == "owner@acme.test"
    assert attempt.connection.expires_at is not None
    provider.token(token_url, {"access_token": "shpat_2", "expires_in": 3600, "refresh_token": "shprt_2"})
    renewed = mode.refresh(app, attempt.connection.config, {"access_token": "shpat_1", "refresh_token": "shprt_1"})
    assert renewed["refresh_token"] == "shprt_2"  # replaced on every use


def test_zendesk_asks_for_a_lifetime_on_token_and_refresh_and_keeps_the_rotated_token(provider, tenant, operator_member):
    token_url = "https://acme.zendesk.com/oauth/tokens"
    provider.token(
        token_url,
        {"access_token": "zd-1", "token_type": "bearer", "scope": "read write", "expires_in": 1800,
         "refresh_token": "zdr-1", "refresh_token_expires_in": 604800},
    )
    provider.get("https://acme.zendesk.com/api/v2/users/me.json", {"user": {"email": "agent@acme.test"}})
    app, attempt, _url = link("zendesk", tenant, operator_member, field_values={"subdomain": "acme"})
    assert parse_qs(provider.sent(token_url)[0].body)["expires_in"] == ["1800"]
    assert attempt.connection.account_label == "agent@acme.test"
    provider.token(token_url, {"access_token": "zd-2", "expires_in": 1800, "refresh_token": "zdr-2"})
    renewed = mode.refresh(app, attempt.connection.config, {"access_token": "zd-1", "refresh_token": "zdr-1"})
    refresh_body = parse_qs(provider.sent(token_url)[-1].body)
    assert refresh_body["expires_in"] == ["1800"] and refresh_body["grant_type"] == ["refresh_token"]
    assert renewed["refresh_token"] == "zdr-2"


def test_github_token_request_asks_for_json_and_keeps_no_refresh_token(provider, tenant, operator_member):
    provider.token(
        "https://github.com/login/oauth/access_token",
        {"access_token": "gho_16C7e42F292c6912E7710c838347Ae178B4a", "scope": "read:user,user:email", "token_type": "bearer"},
    )
    provider.get("https://api.github.com/user", {"login": "octocat"})
    app, attempt, _url = link("github", tenant, operator_member)
    assert provider.sent("https://github.com/login/oauth/access_token")[0].headers["Accept"] == "application/json"
    assert attempt.connection.account_label == "octocat"
    assert not mode.can_refresh(app, {"access_token": "gho_x", "refresh_token": None})


def test_notion_token_request_is_json_with_basic_auth(provider, tenant, operator_member):
    # developers.notion.com/reference/create-a-token: JSON body, client id and secret as basic auth.
    provider.token(
        "https://api.notion.com/v1/oauth/token",
        {
            "access_token": "ntn_abc", "token_type": "bearer", "refresh_token": "nrt_abc", "bot_id": "b-1",
            "workspace_id": "ws-1", "workspace_name": "Acme HQ", "workspace_icon": None,
            "owner": {"type": "user", "user": {"id": "u-1"}}, "duplicated_template_id": None,
        },
    )
    provider.get("https://api.notion.com/v1/users/me", {"bot": {"workspace_name": "Acme HQ"}})
    app, attempt, _url = link("notion", tenant, operator_member)
    sent = provider.sent("https://api.notion.com/v1/oauth/token")[0]
    assert sent.headers["Content-Type"] == "application/json"
    body = json.loads(sent.body)
    assert body["grant_type"] == "authorization_code" and body["code"] == "the-code"
    assert "client_secret" not in body and sent.headers["Authorization"].startswith("Basic ")
    assert attempt.connection.account_label == "Acme HQ"
    provider.token("https://api.notion.com/v1/oauth/token", {"access_token": "ntn_2", "refresh_token": "nrt_2"})
    renewed = mode.refresh(app, {}, {"access_token": "ntn_abc", "refresh_token": "nrt_abc"})
    assert json.loads(provider.sent("https://api.notion.com/v1/oauth/token")[-1].body)["grant_type"] == "refresh_token"
    assert renewed["refresh_token"] == "nrt_2"  # Notion rotates


def test_client_id_is_the_registered_one(tenant, operator_member):
    app = catalog_app("notion")
    _attempt, url = attempt_start(tenant=tenant, user=operator_member.user, app=app, request=make_request())
    assert query(url)["client_id"] == CLIENT_ID


# --- Captured values (catalog/SPEC.md, "captures") ------------------------------------------


SALESFORCE_TOKEN = {
    "access_token": "00Dxx!AR8AQ", "refresh_token": "5Aep861", "signature": "sig", "scope": "api refresh_token openid email",
    "instance_url": "https://acme.my.salesforce.com", "id": "https://login.salesforce.com/id/00Dxx/005xx",
    "token_type": "Bearer", "issued_at": "1700000000000",
}


def test_salesforce_api_host_is_the_instance_url_of_the_token_answer(provider, tenant, operator_member):
    provider.token("https://acme.my.salesforce.com/services/oauth2/token", SALESFORCE_TOKEN)
    provider.get("https://acme.my.salesforce.com/services/oauth2/userinfo", {"email": "ada@acme.test"})
    app, attempt, _url = link("salesforce", tenant, operator_member, field_values={"my_domain": "acme"})
    connection = attempt.connection
    assert connection.account_label == "ada@acme.test"
    assert connection.config == {"my_domain": "acme", "instance_host": "acme.my.salesforce.com"}
    assert session_of(connection).base_url == "https://acme.my.salesforce.com/services/data/v62.0"
    # Salesforce does not rotate refresh tokens: a refresh answer without one keeps it.
    provider.token("https://acme.my.salesforce.com/services/oauth2/token", {**SALESFORCE_TOKEN, "refresh_token": None, "access_token": "new"})
    renewed = mode.refresh(app, connection.config, {"access_token": "old", "refresh_token": "5Aep861"})
    assert renewed["refresh_token"] == "5Aep861"


@pytest.mark.parametrize(
    "instance_url",
    ["https://evil.example.com", "https://acme.my.salesforce.com.evil.test", "https://acme.my.salesforce.com/path", "http://acme.my.salesforce.com"],
)
def test_salesforce_instance_url_outside_its_hosts_fails_the_attempt(instance_url, provider, tenant, operator_member):
    provider.token("https://acme.my.salesforce.com/services/oauth2/token", {**SALESFORCE_TOKEN, "instance_url": instance_url})
    provider.get("https://acme.my.salesforce.com/services/oauth2/userinfo", {"email": "ada@acme.test"})
    app = catalog_app("salesforce")
    request = make_request(operator_member.user)
    attempt, _url = attempt_start(tenant=tenant, user=operator_member.user, app=app, field_values={"my_domain": "acme"}, request=request)
    attempt = attempt_finish(attempt=attempt, request=request, params={"code": "c"})
    assert attempt.status == Attempt.Status.FAILED and attempt.connection is None
    assert "Instance" in attempt.error_message and "evil" not in attempt.error_message
    assert provider.sent("https://acme.my.salesforce.com/services/oauth2/userinfo") == []


def test_quickbooks_company_comes_from_the_callback_realm_id(provider, tenant, operator_member):
    provider.token(
        "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
        {"token_type": "bearer", "expires_in": 3600, "refresh_token": "AB11", "x_refresh_token_expires_in": 8726400, "access_token": "eyJ"},
    )
    provider.get("https://accounts.platform.intuit.com/v1/openid_connect/userinfo", {"email": "books@acme.test"})
    app, attempt, _url = link("quickbooks", tenant, operator_member, params={"realmId": "9130348573847", "state": "s"})
    connection = attempt.connection
    assert connection.config["realm_id"] == "9130348573847"
    assert session_of(connection).base_url == "https://quickbooks.api.intuit.com/v3/company/9130348573847"
    provider.token("https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer", {"access_token": "eyJ2", "expires_in": 3600, "refresh_token": "AB12"})
    assert mode.refresh(app, connection.config, {"access_token": "eyJ", "refresh_token": "AB11"})["refresh_token"] == "AB12"


def test_quickbooks_without_realm_id_creates_no_connection(provider, tenant, operator_member):
    provider.token("https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer", {"token_type": "bearer", "access_token": "eyJ"})
    app = catalog_app("quickbooks")
    request = make_request(operator_member.user)
    attempt, _url = attempt_start(tenant=tenant, user=operator_member.user, app=app, request=request)
    attempt = attempt_finish(attempt=attempt, request=request, params={"code": "c"})
    assert attempt.status == Attempt.Status.FAILED
    assert "Company ID" in attempt.error_message


def test_quickbooks_realm_id_cannot_leave_its_path_segment(provider, tenant, operator_member):
    provider.token("https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer", {"token_type": "bearer", "access_token": "eyJ"})
    provider.get("https://accounts.platform.intuit.com/v1/openid_connect/userinfo", {"email": "books@acme.test"})
    app = catalog_app("quickbooks")
    request = make_request(operator_member.user)
    attempt, _url = attempt_start(tenant=tenant, user=operator_member.user, app=app, request=request)
    attempt = attempt_finish(attempt=attempt, request=request, params={"code": "c", "realmId": "1/../../evil"})
    assert attempt.status == Attempt.Status.FAILED and attempt.connection is None
    assert "Company ID" in attempt.error_message and "evil" not in attempt.error_message
    assert provider.sent("https://accounts.platform.intuit.com") == []


def test_pipedrive_api_host_is_the_companys_api_domain(provider, tenant, operator_member):
    provider.token(
        "https://oauth.pipedrive.com/oauth/token",
        {"access_token": "v1:abc", "token_type": "Bearer", "refresh_token": "r1", "scope": "base,deals:read",
         "expires_in": 3599, "api_domain": "https://acme.pipedrive.com"},
    )
    provider.get("https://acme.pipedrive.com/api/v1/users/me", {"data": {"email": "sales@acme.test"}})
    app, attempt, _url = link("pipedrive", tenant, operator_member)
    connection = attempt.connection
    assert connection.account_label == "sales@acme.test"
    assert connection.config == {"api_domain": "acme.pipedrive.com"}
    provider.token("https://oauth.pipedrive.com/oauth/token", {"access_token": "v1:def", "expires_in": 3599, "refresh_token": "r1"})
    assert mode.refresh(app, connection.config, {"access_token": "v1:abc", "refresh_token": "r1"})["refresh_token"] == "r1"


def test_slack_keeps_the_workspace_id_and_name(provider, tenant, operator_member):
    provider.token(
        "https://slack.com/api/oauth.v2.access",
        {"ok": True, "access_token": "xoxb-17653672481", "token_type": "bot", "scope": "channels:read,chat:write,users:read",
         "bot_user_id": "U0KRQLJ9H", "app_id": "A0KRD7HC3", "team": {"name": "Slack Softball Team", "id": "T9TK3CUKW"},
         "enterprise": None, "authed_user": {"id": "U1234"}},
    )
    provider.get("https://slack.com/api/auth.test", {"ok": True, "team": "Slack Softball Team", "user": "bot"})
    app, attempt, _url = link("slack", tenant, operator_member)
    connection = attempt.connection
    assert connection.account_label == "Slack Softball Team"
    assert connection.config == {"team_id": "T9TK3CUKW", "team_name": "Slack Softball Team"}
    assert provider.sent("https://slack.com/api/auth.test")[0].headers["Authorization"] == "Bearer xoxb-17653672481"


def test_notion_keeps_the_workspace(provider, tenant, operator_member):
    provider.token(
        "https://api.notion.com/v1/oauth/token",
        {"access_token": "ntn_abc", "token_type": "bearer", "bot_id": "b-1", "workspace_id": "ws-1", "workspace_name": "Acme HQ"},
    )
    provider.get("https://api.notion.com/v1/users/me", {"bot": {"workspace_name": "Acme HQ"}})
    _app, attempt, _url = link("notion", tenant, operator_member)
    assert attempt.connection.config == {"workspace_id": "ws-1", "workspace_name": "Acme HQ"}


def test_an_optional_capture_missing_from_the_answer_is_skipped(provider, tenant, operator_member):
    provider.token("https://api.notion.com/v1/oauth/token", {"access_token": "ntn_abc", "token_type": "bearer", "workspace_id": "ws-1"})
    provider.get("https://api.notion.com/v1/users/me", {"bot": {"workspace_name": "Acme HQ"}})
    _app, attempt, _url = link("notion", tenant, operator_member)
    assert attempt.connection.config == {"workspace_id": "ws-1"}


def test_connection_page_shows_the_captured_values(provider, tenant, operator_member, client_for):
    provider.token("https://acme.my.salesforce.com/services/oauth2/token", SALESFORCE_TOKEN)
    provider.get("https://acme.my.salesforce.com/services/oauth2/userinfo", {"email": "ada@acme.test"})
    _app, attempt, _url = link("salesforce", tenant, operator_member, field_values={"my_domain": "acme"})
    page = client_for(operator_member).get(attempt.connection.get_absolute_url())
    assert page.status_code == 200
    assert "<dt>Instance</dt><dd data-reported>acme.my.salesforce.com</dd>" in page.content.decode()


def test_another_tenant_does_not_see_the_captured_values(provider, tenant, operator_member, outsider_member, client_for):
    provider.token("https://acme.my.salesforce.com/services/oauth2/token", SALESFORCE_TOKEN)
    provider.get("https://acme.my.salesforce.com/services/oauth2/userinfo", {"email": "ada@acme.test"})
    _app, attempt, _url = link("salesforce", tenant, operator_member, field_values={"my_domain": "acme"})
    assert client_for(outsider_member).get(attempt.connection.get_absolute_url()).status_code == 404


# --- Post-connect lookup (catalog/SPEC.md, "lookup") ----------------------------------------


XERO_TOKEN = {
    "id_token": "eyJhbGciOi", "access_token": "xero-at", "expires_in": 1800, "token_type": "Bearer",
    "refresh_token": "xero-rt", "scope": "openid profile email offline_access accounting.settings.read",
}
XERO_CONNECTIONS = [
    {"id": "e1eede29-f875-4a5d-8470-17f6a29a88b1", "authEventId": "d99ecdfe-391d-43d2-b834-17636ba90e8d",
     "tenantId": "70784a63-d24b-46a9-a4db-0e70a274b056", "tenantType": "ORGANISATION",
     "tenantName": "Maple Florists Inc", "createdDateUtc": "2019-07-09T23:40:30.1833130", "updatedDateUtc": "2020-05-15T01:35:13.8491980"},
]


def test_xero_reads_the_tenant_id_after_the_token_and_sends_it_on_every_call(provider, tenant, operator_member):
    # developer.xero.com/documentation/guides/oauth2/auth-flow: GET /connections, then xero-tenant-id.
    provider.token("https://identity.xero.com/connect/token", XERO_TOKEN)
    provider.get("https://api.xero.com/connections", XERO_CONNECTIONS)
    provider.get("https://api.xero.com/api.xro/2.0/Organisation", {"Organisations": [{"Name": "Maple Florists Inc"}]})
    app, attempt, _url = link("xero", tenant, operator_member)
    connection = attempt.connection
    lookup = provider.sent("https://api.xero.com/connections")[0]
    assert lookup.headers["Authorization"] == "Bearer xero-at"
    test = provider.sent("https://api.xero.com/api.xro/2.0/Organisation")[0]
    assert test.headers["xero-tenant-id"] == "70784a63-d24b-46a9-a4db-0e70a274b056"
    assert connection.account_label == "Maple Florists Inc"
    assert connection.config == {"tenant_id": "70784a63-d24b-46a9-a4db-0e70a274b056", "tenant_name": "Maple Florists Inc"}
    assert session_of(connection).headers["xero-tenant-id"] == "70784a63-d24b-46a9-a4db-0e70a274b056"
    provider.token("https://identity.xero.com/connect/token", {**XERO_TOKEN, "access_token": "xero-at2", "refresh_token": "xero-rt2"})
    assert mode.refresh(app, connection.config, {"access_token": "xero-at", "refresh_token": "xero-rt"})["refresh_token"] == "xero-rt2"


def test_xero_without_an_organisation_creates_no_connection(provider, tenant, operator_member):
    provider.token("https://identity.xero.com/connect/token", XERO_TOKEN)
    provider.get("https://api.xero.com/connections", [])
    app = catalog_app("xero")
    request = make_request(operator_member.user)
    attempt, _url = attempt_start(tenant=tenant, user=operator_member.user, app=app, request=request)
    attempt = attempt_finish(attempt=attempt, request=request, params={"code": "c"})
    assert attempt.status == Attempt.Status.FAILED and "Organisation ID" in attempt.error_message


@pytest.mark.parametrize("status,code", [(401, "authorization_rejected"), (503, "app_unavailable")])
def test_a_refused_lookup_fails_the_attempt(status, code, provider, tenant, operator_member):
    provider.token("https://identity.xero.com/connect/token", XERO_TOKEN)
    provider.mocked.add(responses.GET, "https://api.xero.com/connections", status=status, json={"Title": "Unauthorized"})
    app = catalog_app("xero")
    request = make_request(operator_member.user)
    attempt, _url = attempt_start(tenant=tenant, user=operator_member.user, app=app, request=request)
    attempt = attempt_finish(attempt=attempt, request=request, params={"code": "c"})
    assert (attempt.status, attempt.error_code) == (Attempt.Status.FAILED, code)
    assert "xero-at" not in attempt.error_message


DOCUSIGN_USERINFO = {
    "sub": "4799e5e9-1559-4915-9862-cf4713bbcacc", "name": "Susan Smart", "email": "susan.smart@example.com",
    "accounts": [
        {"account_id": "a4ec37d6-04a6-4de1-8d4f-0ff6ad4b7ec1", "is_default": True, "account_name": "Susan Smart",
         "base_uri": "https://demo.docusign.net"},
    ],
}


def test_docusign_api_base_comes_from_userinfo_not_the_login_host(provider, tenant, operator_member):
    provider.token(
        "https://account.docusign.com/oauth/token",
        {"access_token": "ds-at", "token_type": "Bearer", "refresh_token": "ds-rt", "expires_in": 28800},
    )
    provider.get("https://account.docusign.com/oauth/userinfo", DOCUSIGN_USERINFO)
    app, attempt, _url = link("docusign", tenant, operator_member)
    connection = attempt.connection
    assert connection.account_label == "susan.smart@example.com"
    assert connection.config["base_host"] == "demo.docusign.net"
    assert connection.config["account_id"] == "a4ec37d6-04a6-4de1-8d4f-0ff6ad4b7ec1"
    assert session_of(connection).base_url == (
        "https://demo.docusign.net/restapi/v2.1/accounts/a4ec37d6-04a6-4de1-8d4f-0ff6ad4b7ec1"
    )
    provider.token("https://account.docusign.com/oauth/token", {"access_token": "ds-at2", "expires_in": 28800, "refresh_token": "ds-rt"})
    assert mode.refresh(app, connection.config, {"access_token": "ds-at", "refresh_token": "ds-rt"})["refresh_token"] == "ds-rt"


def test_docusign_base_uri_off_its_hosts_is_refused(provider, tenant, operator_member):
    provider.token("https://account.docusign.com/oauth/token", {"access_token": "ds-at", "token_type": "Bearer"})
    userinfo = {**DOCUSIGN_USERINFO, "accounts": [{**DOCUSIGN_USERINFO["accounts"][0], "base_uri": "https://169.254.169.254"}]}
    provider.get("https://account.docusign.com/oauth/userinfo", userinfo)
    app = catalog_app("docusign")
    request = make_request(operator_member.user)
    attempt, _url = attempt_start(tenant=tenant, user=operator_member.user, app=app, request=request)
    attempt = attempt_finish(attempt=attempt, request=request, params={"code": "c"})
    assert attempt.status == Attempt.Status.FAILED and "API host" in attempt.error_message
    assert "169.254" not in attempt.error_message


def test_mailchimp_data_center_comes_from_the_metadata_endpoint(provider, tenant, operator_member):
    # mailchimp.com/developer/marketing/guides/access-user-data-oauth-2/: "Authorization: OAuth <token>".
    provider.token("https://login.mailchimp.com/oauth2/token", {"access_token": "mc-at", "expires_in": 0, "scope": None})
    provider.get(
        "https://login.mailchimp.com/oauth2/metadata",
        {"dc": "us21", "role": "owner", "accountname": "Acme", "user_id": 1, "login": {"email": "m@acme.test"},
         "login_url": "https://login.mailchimp.com", "api_endpoint": "https://us21.api.mailchimp.com"},
    )
    provider.get("https://us21.api.mailchimp.com/3.0/", {"account_name": "Acme", "email": "m@acme.test"})
    app, attempt, url = link("mailchimp", tenant, operator_member)
    assert provider.sent("https://login.mailchimp.com/oauth2/metadata")[0].headers["Authorization"] == "OAuth mc-at"
    connection = attempt.connection
    assert connection.config == {"dc": "us21"}
    assert connection.account_label == "Acme"
    assert session_of(connection).base_url == "https://us21.api.mailchimp.com/3.0"
    assert not mode.can_refresh(app, {"access_token": "mc-at", "refresh_token": None})  # Mailchimp tokens do not expire


def test_jira_oauth_reads_the_cloud_id_from_accessible_resources(provider, tenant, operator_member):
    # developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/
    provider.token(
        "https://auth.atlassian.com/oauth/token",
        {"access_token": "atl-at", "expires_in": 3600, "token_type": "Bearer", "refresh_token": "atl-rt",
         "scope": "read:jira-user read:jira-work offline_access"},
    )
    provider.get(
        "https://api.atlassian.com/oauth/token/accessible-resources",
        [{"id": "1324a887-45db-1bf4-1e99-ef0ff456d421", "name": "acme", "url": "https://acme.atlassian.net",
          "scopes": ["read:jira-user", "read:jira-work"], "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/a.png"}],
    )
    provider.get(
        "https://api.atlassian.com/ex/jira/1324a887-45db-1bf4-1e99-ef0ff456d421/rest/api/3/myself",
        {"accountId": "5b10a2844c20165700ede21g", "emailAddress": "dev@acme.test"},
    )
    app, attempt, url = link("jira-oauth", tenant, operator_member)
    q = query(url)
    assert (q["audience"], q["prompt"]) == ("api.atlassian.com", "consent")
    body = json.loads(provider.sent("https://auth.atlassian.com/oauth/token")[0].body)
    assert body["grant_type"] == "authorization_code" and body["client_id"] == CLIENT_ID
    connection = attempt.connection
    assert connection.account_label == "dev@acme.test"
    assert connection.config == {"cloud_id": "1324a887-45db-1bf4-1e99-ef0ff456d421", "site_host": "acme.atlassian.net"}
    provider.token("https://auth.atlassian.com/oauth/token", {"access_token": "atl-at2", "expires_in": 3600, "refresh_token": "atl-rt2"})
    assert mode.refresh(app, connection.config, {"access_token": "atl-at", "refresh_token": "atl-rt"})["refresh_token"] == "atl-rt2"


# --- Regions (catalog/SPEC.md, "fields": enum) ----------------------------------------------


def test_zoho_eu_authorizes_and_revokes_in_its_data_center_and_calls_its_api_domain(provider, tenant, operator_member):
    # zoho.com/crm/developer/docs/api/v7/access-refresh.html: api_domain in the token answer.
    provider.token(
        "https://accounts.zoho.eu/oauth/v2/token",
        {"access_token": "1000.a", "refresh_token": "1000.r", "api_domain": "https://www.zohoapis.eu",
         "token_type": "Bearer", "expires_in": 3600},
    )
    provider.get("https://www.zohoapis.eu/crm/v7/users?type=CurrentUser", {"users": [{"email": "crm@acme.eu"}]})
    app, attempt, url = link(
        "zoho-crm", tenant, operator_member, field_values={"accounts_host": "accounts.zoho.eu"},
        params={"location": "eu", "accounts-server": "https://accounts.zoho.eu"},
    )
    assert url.startswith("https://accounts.zoho.eu/oauth/v2/auth?")
    connection = attempt.connection
    assert connection.account_label == "crm@acme.eu"
    assert connection.config == {"accounts_host": "accounts.zoho.eu", "api_domain": "www.zohoapis.eu"}
    assert session_of(connection).base_url == "https://www.zohoapis.eu/crm/v7"
    # Zoho keeps the refresh token: the refresh answer has none.
    provider.token("https://accounts.zoho.eu/oauth/v2/token", {"access_token": "1000.b", "expires_in": 3600})
    assert mode.refresh(app, connection.config, {"access_token": "1000.a", "refresh_token": "1000.r"})["refresh_token"] == "1000.r"
    provider.post("https://accounts.zoho.eu/oauth/v2/token/revoke", {})
    mode.revoke(app, connection.config, {"access_token": "1000.b", "refresh_token": "1000.r"})
    (revoke,) = provider.sent("https://accounts.zoho.eu/oauth/v2/token/revoke")
    assert query(revoke.url) == {"token": "1000.r"}


def test_intercom_eu_workspace_authorizes_and_calls_in_its_region(provider, tenant, operator_member):
    # developers.intercom.com: EU workspaces use app.eu.intercom.com and api.eu.intercom.io.
    provider.token("https://api.eu.intercom.io/auth/eagle/token", {"token_type": "Bearer", "token": "dG9rOjE", "access_token": "dG9rOjE"})
    provider.get("https://api.eu.intercom.io/me", {"type": "admin", "email": "support@acme.eu"})
    app, attempt, url = link("intercom", tenant, operator_member, field_values={"region": "eu"})
    assert url.startswith("https://app.eu.intercom.com/oauth?")
    connection = attempt.connection
    assert connection.account_label == "support@acme.eu"
    assert connection.config == {"region": "eu", "app_host": "app.eu.intercom.com", "api_host": "api.eu.intercom.io"}
    assert session_of(connection).base_url == "https://api.eu.intercom.io"
    provider.post("https://api.eu.intercom.io/auth/uninstall", {})
    mode.revoke(app, connection.config, {"access_token": "dG9rOjE"})
    assert provider.sent("https://api.eu.intercom.io/auth/uninstall")[0].headers["Authorization"] == "Bearer dG9rOjE"


def test_intercom_connection_made_before_regions_stays_in_the_us(tenant):
    app = catalog_app("intercom")
    assert mode.session(app, {}, {"access_token": "t"}).base_url == "https://api.intercom.io"


def test_zoho_region_outside_its_list_is_refused_before_anything_is_sent(provider, tenant, operator_member):
    app = catalog_app("zoho-crm")
    with pytest.raises(ValidationError):
        attempt_start(tenant=tenant, user=operator_member.user, app=app, field_values={"accounts_host": "evil.test"}, request=make_request())
    assert len(provider.mocked.calls) == 0



# Zoho multi-DC (zoho.com/accounts/protocol/oauth/multi-dc.html): the callback names the person's
# data center, `?code=…&location=eu&accounts-server=https%3A%2F%2Faccounts.zoho.eu`, and the code
# is valid only at that accounts server. Only Zoho's listed accounts hosts are ever accepted.
ACCOUNTS_SERVER_ATTACKS = [
    "https://evil.test",
    "https://accounts.zoho.eu.evil.test",
    "accounts.zoho.eu.evil.test",
    "http://accounts.zoho.eu",
    "https://accounts.zoho.eu/oauth/v2/token",
    "https://accounts.zoho.eu:8443",
    "https://ada@accounts.zoho.eu",
    "https://accounts.zoho.eu?next=https://evil.test",
    "https://www.zohoapis.eu",  # a Zoho API host, not an accounts server
    "https://accounts.zoho.eu\\@evil.test",
]


@pytest.mark.parametrize("accounts_server", ACCOUNTS_SERVER_ATTACKS)
def test_zoho_callback_naming_another_accounts_server_is_refused_before_anything_is_sent(
    provider, tenant, operator_member, accounts_server
):
    app = catalog_app("zoho-crm")
    request = make_request(operator_member.user)
    attempt, url = attempt_start(tenant=tenant, user=operator_member.user, app=app, field_values={}, request=request)
    attempt = attempt_finish(
        attempt=attempt, request=request,
        params={"code": "the-code", "location": "eu", "accounts-server": accounts_server},
    )  # fmt: skip
    assert attempt.status == Attempt.Status.FAILED
    assert "Data center" in attempt.error_message and accounts_server not in attempt.error_message
    assert len(provider.mocked.calls) == 0  # no request at all, not even to the chosen region
    assert not Connection.objects.for_tenant(tenant).exists()


def test_zoho_exchanges_refreshes_and_revokes_at_the_accounts_server_the_callback_names(provider, tenant, operator_member):
    # United States chosen, but the person signs in to zoho.eu: Zoho answers with the EU server.
    provider.token(
        "https://accounts.zoho.eu/oauth/v2/token",
        {"access_token": "1000.a", "refresh_token": "1000.r", "api_domain": "https://www.zohoapis.eu",
         "token_type": "Bearer", "expires_in": 3600},
    )  # fmt: skip
    provider.get("https://www.zohoapis.eu/crm/v7/users?type=CurrentUser", {"users": [{"email": "crm@acme.eu"}]})
    app, attempt, url = link(
        "zoho-crm", tenant, operator_member, params={"location": "eu", "accounts-server": "https://accounts.zoho.eu"}
    )
    assert url.startswith("https://accounts.zoho.com/oauth/v2/auth?")
    assert provider.sent("https://accounts.zoho.com") == []
    connection = attempt.connection
    assert connection.config == {"accounts_host": "accounts.zoho.eu", "api_domain": "www.zohoapis.eu"}
    assert {"label": "Data center", "value": "accounts.zoho.eu"} in reported_values(app, connection.config)
    provider.token("https://accounts.zoho.eu/oauth/v2/token", {"access_token": "1000.b", "expires_in": 3600})
    assert mode.refresh(app, connection.config, {"access_token": "1000.a", "refresh_token": "1000.r"})["access_token"] == "1000.b"
    provider.post("https://accounts.zoho.eu/oauth/v2/token/revoke", {})
    mode.revoke(app, connection.config, {"access_token": "1000.b", "refresh_token": "1000.r"})
    assert len(provider.sent("https://accounts.zoho.eu/oauth/v2/token")) == 3  # code, refresh, revoke
    assert provider.sent("https://accounts.zoho.com") == []


def test_zoho_desk_callback_naming_another_data_center_moves_its_desk_host_too(provider, tenant, operator_member):
    provider.token("https://accounts.zoho.eu/oauth/v2/token", {"access_token": "1000.a", "refresh_token": "1000.r"})
    provider.get("https://desk.zoho.eu/api/v1/myinfo", {"emailId": "desk@acme.eu"})
    app, attempt, url = link(
        "zoho-desk", tenant, operator_member, field_values={"org_id": "2389290"},
        params={"location": "eu", "accounts-server": "https://accounts.zoho.eu"},
    )  # fmt: skip
    assert url.startswith("https://accounts.zoho.com/oauth/v2/auth?")
    connection = attempt.connection
    assert connection.config == {"accounts_host": "accounts.zoho.eu", "desk_host": "desk.zoho.eu", "org_id": "2389290"}
    assert session_of(connection).base_url == "https://desk.zoho.eu/api/v1"
    assert provider.sent("https://accounts.zoho.com") == [] and provider.sent("https://desk.zoho.com") == []


@pytest.mark.parametrize("slug", ["zoho-desk", "zoho-books"])
@pytest.mark.parametrize("accounts_server", ["https://evil.test", "https://accounts.zoho.eu.evil.test", "https://accounts.zoho.com.cn"])
def test_zoho_desk_and_books_refuse_an_unlisted_accounts_server_before_anything_is_sent(
    provider, tenant, operator_member, slug, accounts_server
):
    app = catalog_app(slug)
    request = make_request(operator_member.user)
    fields = {"org_id": "2389290"} if slug == "zoho-desk" else {}
    attempt, url = attempt_start(tenant=tenant, user=operator_member.user, app=app, field_values=fields, request=request)
    attempt = attempt_finish(attempt=attempt, request=request, params={"code": "the-code", "accounts-server": accounts_server})
    assert attempt.status == Attempt.Status.FAILED and "Data center" in attempt.error_message
    assert len(provider.mocked.calls) == 0
    assert not Connection.objects.for_tenant(tenant).exists()


def test_zoho_callback_without_accounts_server_keeps_the_chosen_data_center(provider, tenant, operator_member):
    provider.token("https://accounts.zoho.com/oauth/v2/token", {"access_token": "1000.a", "api_domain": "https://www.zohoapis.com"})
    provider.get("https://www.zohoapis.com/crm/v7/users?type=CurrentUser", {"users": [{"email": "crm@acme.test"}]})
    app, attempt, url = link("zoho-crm", tenant, operator_member)
    assert attempt.connection.config == {"accounts_host": "accounts.zoho.com", "api_domain": "www.zohoapis.com"}



# --- Entries added last: Stripe Connect, Okta, Confluence (Atlassian OAuth), Instagram, Greenhouse


def test_stripe_connect_keeps_the_connected_account_and_calls_as_it(provider, tenant, operator_member):
    # https://docs.stripe.com/connect/oauth-reference#post-token: the answer names the account.
    provider.token(
        "https://connect.stripe.com/oauth/token",
        {"access_token": "sk_acct_live", "livemode": True, "refresh_token": "rt_live", "token_type": "bearer",
         "stripe_publishable_key": "pk_live", "stripe_user_id": "acct_1Acme", "scope": "read_write"},
    )  # fmt: skip
    provider.get("https://api.stripe.com/v1/account", {"id": "acct_1Acme", "email": "billing@acme.test"})
    app, attempt, url = link("stripe-connect", tenant, operator_member)
    assert "code_challenge" not in query(url) and query(url)["scope"] == "read_write"
    connection = attempt.connection
    assert connection.account_label == "billing@acme.test"
    assert connection.config == {"stripe_user_id": "acct_1Acme"}
    sent = provider.sent("https://api.stripe.com/v1/account")[0]
    assert sent.headers["Authorization"] == "Bearer sk_acct_live"


def test_okta_links_on_its_org_host_and_revokes_there(provider, tenant, operator_member):
    provider.token(
        "https://acme.okta.com/oauth2/v1/token",
        {"token_type": "Bearer", "expires_in": 3600, "access_token": "eyJok", "refresh_token": "rt-okta",
         "scope": "openid profile email offline_access okta.users.read.self"},
    )  # fmt: skip
    provider.get("https://acme.okta.com/api/v1/users/me", {"profile": {"login": "ada@acme.test"}})
    app, attempt, url = link("okta", tenant, operator_member, field_values={"okta_domain": "acme.okta.com"})
    assert url.startswith("https://acme.okta.com/oauth2/v1/authorize?")
    assert attempt.connection.account_label == "ada@acme.test"
    token_call = provider.sent("https://acme.okta.com/oauth2/v1/token")[0]
    assert token_call.headers["Authorization"].startswith("Basic ")  # client_secret_basic
    provider.post("https://acme.okta.com/oauth2/v1/revoke", {})
    mode.revoke(app, attempt.connection.config, open_credentials(attempt.connection))
    revoked = [parse_qs(r.body)["token"][0] for r in provider.sent("https://acme.okta.com/oauth2/v1/revoke")]
    assert revoked == ["rt-okta", "eyJok"]


@pytest.mark.parametrize("host", ["acme.okta.com.evil.test", "evil.example.com", "acme.okta.com:8443", "127.0.0.1"])
def test_okta_domain_off_its_hosts_is_refused_before_anything_is_sent(host, provider, tenant, operator_member):
    with pytest.raises(ValidationError) as refused:
        attempt_start(tenant=tenant, user=operator_member.user, app=catalog_app("okta"),
                      field_values={"okta_domain": host}, request=make_request(operator_member.user))  # fmt: skip
    assert list(refused.value.message_dict) == ["okta_domain"]
    assert len(provider.mocked.calls) == 0


def test_confluence_oauth_reads_the_cloud_id_and_calls_through_api_atlassian(provider, tenant, operator_member):
    provider.token(
        "https://auth.atlassian.com/oauth/token",
        {"access_token": "at-conf", "refresh_token": "rt-conf", "expires_in": 3600, "token_type": "Bearer",
         "scope": "read:confluence-content.summary offline_access"},
    )  # fmt: skip
    provider.get(
        "https://api.atlassian.com/oauth/token/accessible-resources",
        [{"id": "1324a887-45db-1bf4-1e99-ef0ff456d421", "url": "https://acme.atlassian.net", "name": "acme",
          "scopes": ["read:confluence-content.summary"]}],
    )  # fmt: skip
    cloud = "https://api.atlassian.com/ex/confluence/1324a887-45db-1bf4-1e99-ef0ff456d421/wiki/rest/api"
    provider.get(f"{cloud}/user/current", {"publicName": "Ada Lovelace"})
    app, attempt, url = link("confluence-oauth", tenant, operator_member)
    assert query(url)["audience"] == "api.atlassian.com" and query(url)["prompt"] == "consent"
    connection = attempt.connection
    assert connection.account_label == "Ada Lovelace"
    assert connection.config["cloud_id"] == "1324a887-45db-1bf4-1e99-ef0ff456d421"
    assert session_of(connection).base_url == cloud
    assert json.loads(provider.sent("https://auth.atlassian.com/oauth/token")[0].body)["code"] == "the-code"


def test_instagram_links_through_facebook_login_with_comma_scopes(provider, tenant, operator_member):
    provider.token(
        "https://graph.facebook.com/v24.0/oauth/access_token",
        {"access_token": "EAAG", "token_type": "bearer", "expires_in": 5183944},
    )
    provider.get("https://graph.facebook.com/v24.0/me?fields=id,name", {"id": "1784", "name": "Acme Shop"})
    _app, attempt, url = link("instagram", tenant, operator_member)
    assert url.startswith("https://www.facebook.com/v24.0/dialog/oauth?")
    assert query(url)["scope"] == "instagram_basic,pages_show_list"
    assert attempt.connection.account_label == "Acme Shop"


def test_greenhouse_sends_the_key_as_basic_user_name_with_an_empty_password(tenant, operator_member):
    import base64

    app = catalog_app("greenhouse")
    with responses.RequestsMock() as mocked:
        mocked.add(responses.GET, "https://harvest.greenhouse.io/v1/users?per_page=1",
                   json=[{"id": 1, "primary_email_address": "recruiting@acme.test"}])  # fmt: skip
        attempt, _url = attempt_start(tenant=tenant, user=operator_member.user, app=app,
                                      field_values={"api_key": "gh-key"}, request=make_request())  # fmt: skip
        sent = mocked.calls[0].request
    assert attempt.connection.account_label == "recruiting@acme.test"
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"gh-key:").decode()


def test_linkedin_lists_granted_scopes_with_commas_and_they_are_kept_one_by_one(provider, tenant, operator_member):
    # learn.microsoft.com/linkedin/consumer/integrations/self-serve/sign-in-with-linkedin-v2:
    # the token answer's scope is "email,openid,profile" although the request separates with spaces.
    provider.token(
        "https://www.linkedin.com/oauth/v2/accessToken",
        {"access_token": "AQUvlL_DYEzvT2wz1QJiEPeLioeA", "expires_in": 5184000, "scope": "email,openid,profile",
         "token_type": "Bearer", "id_token": "eyJ6aXAiOiJERUYiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoiZDM"},
    )
    provider.get("https://api.linkedin.com/v2/userinfo", {"sub": "782bbtaQ", "name": "John Doe", "email": "doe@email.com"})
    _app, attempt, url = link("linkedin", tenant, operator_member)
    assert query(url)["scope"] == "openid profile email"
    assert attempt.connection.scopes == ["email", "openid", "profile"]
