"""Each revoke style sends the request its provider documents (catalog/SPEC.md, oauth2.revoke)."""

import base64
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from catalog.schema import validate_app
from connections.auth import get_mode
from connections.errors import ConnectionFailure
from connections.models import ErrorCode

from ..lifecycle_helpers import SPECS
from .contract_support import CLIENT_ID, CLIENT_SECRET, catalog_app

pytestmark = pytest.mark.django_db

mode = get_mode("oauth2")
GRANT = {"access_token": "at-live", "refresh_token": "rt-live"}
ANY_URL = re.compile(r"https://.*")
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()


def revoke(slug, credentials=GRANT, status=200, config=None):
    app = catalog_app(slug)
    assert mode.revoke_supported(app)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        for method in (responses.POST, responses.DELETE):
            mocked.add(method, ANY_URL, status=status, json={"ok": True})
        mode.revoke(app, config or {}, credentials)
        return [call.request for call in mocked.calls]


def test_rfc7009_revoke_url_still_posts_each_token_as_a_form():
    sent = revoke("xero")
    assert [parse_qs(r.body)["token_type_hint"][0] for r in sent] == ["refresh_token", "access_token"]
    assert sent[0].url == "https://identity.xero.com/connect/revocation"
    assert sent[0].headers["Authorization"] == BASIC  # Xero's client_auth is basic


def test_notion_revokes_with_a_json_body_and_basic_auth():
    (sent,) = revoke("notion")
    assert (sent.method, sent.url) == ("POST", "https://api.notion.com/v1/oauth/revoke")
    assert json.loads(sent.body) == {"token": "at-live"}
    assert sent.headers["Authorization"] == BASIC
    assert sent.headers["Content-Type"] == "application/json"


def test_miro_revokes_with_its_own_json_keys_and_the_client_in_the_body():
    (sent,) = revoke("miro")
    assert (sent.method, sent.url) == ("POST", "https://api.miro.com/v2/oauth/revoke")
    assert json.loads(sent.body) == {"accessToken": "at-live", "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}
    assert "Authorization" not in sent.headers


def test_quickbooks_revokes_the_refresh_token_in_json():
    (sent,) = revoke("quickbooks")
    assert sent.url == "https://developer.api.intuit.com/v2/oauth2/tokens/revoke"
    assert json.loads(sent.body) == {"token": "rt-live"}
    assert sent.headers["Authorization"] == BASIC


@pytest.mark.parametrize(
    "slug,url",
    [
        ("slack", "https://slack.com/api/auth.revoke"),
        ("dropbox", "https://api.dropboxapi.com/2/auth/token/revoke"),
        ("linear", "https://api.linear.app/oauth/revoke"),
        ("intercom", "https://api.intercom.io/auth/uninstall"),
    ],
)
def test_bearer_style_posts_the_access_token_as_bearer_without_body(slug, url):
    (sent,) = revoke(slug)
    assert (sent.method, sent.url) == ("POST", url)
    assert sent.headers["Authorization"] == "Bearer at-live"
    assert not sent.body
    assert "rt-live" not in str(sent.headers)


def test_smartsheet_deletes_the_token_with_itself_as_bearer():
    (sent,) = revoke("smartsheet")
    assert (sent.method, sent.url) == ("DELETE", "https://api.smartsheet.com/2.0/token")
    assert sent.headers["Authorization"] == "Bearer at-live"
    assert not sent.body


def test_hubspot_deletes_the_refresh_token_path():
    (sent,) = revoke("hubspot")
    assert (sent.method, sent.url) == ("DELETE", "https://api.hubapi.com/oauth/v1/refresh-tokens/rt-live")
    assert "Authorization" not in sent.headers


def test_hubspot_without_refresh_token_sends_nothing():
    assert revoke("hubspot", credentials={"access_token": "at-live"}) == []


def test_github_deletes_the_grant_with_client_basic_auth_and_the_token_in_json():
    (sent,) = revoke("github")
    assert (sent.method, sent.url) == ("DELETE", f"https://api.github.com/applications/{CLIENT_ID}/grant")
    assert sent.headers["Authorization"] == BASIC
    assert json.loads(sent.body) == {"access_token": "at-live"}


def test_zoho_sends_the_refresh_token_as_query_parameter():
    (sent,) = revoke("zoho-crm")
    parts = urlsplit(sent.url)
    assert (sent.method, parts.path) == ("POST", "/oauth/v2/token/revoke")
    assert parse_qs(parts.query) == {"token": ["rt-live"]}
    assert "client_secret" not in (sent.body or "")


def test_revoke_refused_is_authorization_rejected():
    with pytest.raises(ConnectionFailure) as excinfo:
        revoke("notion", status=400)
    assert excinfo.value.code == ErrorCode.AUTHORIZATION_REJECTED
    assert "at-live" not in excinfo.value.message


def test_a_token_that_would_leave_its_path_segment_is_not_sent():
    with pytest.raises(ConnectionFailure) as excinfo:
        revoke("hubspot", credentials={"refresh_token": "../../evil"})
    assert "../../evil" not in excinfo.value.message


def _spec(**revoke_block):
    oauth2 = {**SPECS["oauth2"]["oauth2"], "revoke_url": None, "revoke": revoke_block}
    return {**SPECS["oauth2"], "oauth2": oauth2}


@pytest.mark.parametrize(
    "block,problem",
    [
        ({"style": "carrier-pigeon", "url": "https://x.test/r"}, "oauth2.revoke.style: must be one of"),
        ({"style": "json"}, "oauth2.revoke.url: required"),
        ({"style": "bearer", "url": "https://x.test/r", "tokens": ["access_token"]}, "oauth2.revoke.tokens"),
        ({"style": "rfc7009", "url": "https://x.test/r", "body": {"a": "b"}}, "oauth2.revoke.body"),
        ({"style": "json", "url": "https://x.test/r", "method": "DELETE"}, "oauth2.revoke.method"),
        ({"style": "rfc7009", "url": "https://x.test/r", "token_key": "accessToken"}, "oauth2.revoke.token_key"),
        ({"style": "json", "url": "https://x.test/{client_secret}"}, "{client_secret} is not a declared field"),
        ({"style": "delete", "url": "https://x.test/{secret_thing}"}, "{secret_thing} is not a declared field"),
        ({"style": "delete", "url": "https://{refresh_token}.x.test/r"}, "oauth2.revoke.url"),
    ],
)
def test_schema_refuses_a_bad_revoke_block(block, problem):
    assert any(problem in line for line in validate_app(_spec(**block))), validate_app(_spec(**block))


def test_schema_refuses_revoke_url_and_revoke_block_together():
    spec = _spec(style="bearer", url="https://x.test/r")
    spec["oauth2"]["revoke_url"] = "https://x.test/r"
    assert any("not both" in line for line in validate_app(spec))


def test_schema_accepts_a_delete_path_naming_the_grant():
    assert validate_app(_spec(style="delete", url="https://x.test/tokens/{refresh_token}")) == []


def test_the_access_token_refused_after_its_refresh_token_was_revoked_is_no_failure():
    # developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke: revoking the refresh
    # token ends the grant; the access token sent next answers 400 invalid_token.
    app = catalog_app("google-drive")
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, "https://oauth2.googleapis.com/revoke", status=200, json={})
        mocked.add(responses.POST, "https://oauth2.googleapis.com/revoke", status=400,
                   json={"error": "invalid_token", "error_description": "Token expired or revoked"})  # fmt: skip
        mode.revoke(app, {}, GRANT)
        assert [parse_qs(c.request.body)["token_type_hint"][0] for c in mocked.calls] == ["refresh_token", "access_token"]


def test_a_refused_first_token_is_still_a_failure_whatever_comes_after():
    app = catalog_app("google-drive")
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, "https://oauth2.googleapis.com/revoke", status=400, json={"error": "invalid_client"})
        mocked.add(responses.POST, "https://oauth2.googleapis.com/revoke", status=200, json={})
        with pytest.raises(ConnectionFailure) as refused:
            mode.revoke(app, {}, GRANT)
    assert refused.value.code == ErrorCode.AUTHORIZATION_REJECTED
