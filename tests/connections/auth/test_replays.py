"""Every real catalog entry, linked against its provider's documented answers.

tests/connections/auth/replays/<category>.yaml holds one replay per entry: the answers the
provider's documentation shows (token, post-connect lookups, the test request, refresh) and
what App Connections must make of them. Each replay links an account through attempt_start →
attempt_finish with `responses` playing the provider, then asserts what a person and a flow
see: the account label, the values captured into the connection's config, the base URL a flow
calls, the credential on the test request, whether a refresh keeps or replaces the refresh
token as that provider does, and the revoke request the provider documents (or none).

The format (every key but `source`, `token`/`request_token`/`access_token` and `test` is optional):

    hubspot:
      source: https://…                # the page the answers below are copied from
      fields: {subdomain: acme}        # what the operator types (secrets included)
      callback: {realmId: "123"}       # extra query parameters on the OAuth callback
      token: {...}                     # OAuth 2 token answer (client credentials too)
      request_token: "oauth_token=…"   # OAuth 1: request token and access token answers
      access_token: "oauth_token=…"
      lookups: [{method: GET, url: https://…, json: {...}}]   # post-connect lookups, in order
      test: {method: GET, url: https://… (full URL, query included), json: {...}}
      account: ada@acme.test           # the account label the test answer gives
      captured: {instance_host: …}     # values that must be in the connection's config
      base_url: https://…              # the base URL a flow's calls start from
      credential_in: header | query | path | none   # where the test request carries the secret (header);
                                       # path: apply.path_prefix (Telegram's /bot<token>)
      refresh: {json: {...}, refresh_token: rotated | kept | none}   # omitted: nothing to refresh;
                                       # client credentials: the re-fetch answer, refresh_token none
      revoke: [{method: POST, url: https://…, form: {token: …} | json: {...} | query: {...}}]  # every
                                       # request revoke sends, in order; omitted: none is sent
"""

import base64
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
import yaml

from catalog.models import App
from connections.auth import mode_for
from connections.models import Attempt, Connection
from connections.services.attempts import attempt_finish, attempt_start
from connections.services.connections import connection_revoke
from connections.services.health import connection_refresh
from connections.services.refresh import open_credentials

from ..lifecycle_helpers import make_request
from .contract_support import CATALOG, catalog_app

REPLAYS_DIR = Path(__file__).parent / "replays"
REPLAYS = {slug: replay for path in sorted(REPLAYS_DIR.glob("*.yaml")) for slug, replay in yaml.safe_load(path.read_text()).items()}
REAL = sorted(slug for slug, spec in CATALOG.items() if spec["category"] not in {"sandbox", "custom"})
KEYS = {
    "source", "fields", "callback", "token", "request_token", "access_token", "lookups", "test", "account",
    "captured", "base_url", "credential_in", "refresh", "revoke",
}


def test_every_real_entry_has_a_replay():
    assert sorted(set(REAL) - set(REPLAYS)) == [], "entries without a replay"
    assert sorted(set(REPLAYS) - set(REAL)) == [], "replays of no entry"


@pytest.mark.parametrize("slug", sorted(REPLAYS))
def test_replay_says_where_its_answers_come_from(slug):
    replay = REPLAYS[slug]
    assert set(replay) <= KEYS, f"unknown keys {set(replay) - KEYS}"
    assert str(replay.get("source", "")).startswith("https://"), "a replay names the page its answers are copied from"
    assert "test" in replay and "account" in replay


def answer(mocked, call):
    method = call.get("method", "GET").upper()
    kwargs = {"status": call.get("status", 200)}
    if "json" in call:
        kwargs["json"] = call["json"]
    else:
        kwargs["body"] = call.get("body", "")
        kwargs["content_type"] = call.get("content_type", "text/plain")
    mocked.add(method, call["url"], **kwargs)


def sent(mocked, method, url):
    return [c.request for c in mocked.calls if c.request.method == method and c.request.url.split("?")[0] == url.split("?")[0]]


def body_of(request) -> dict:
    body = request.body or b""
    body = body.decode() if isinstance(body, bytes) else body
    content_type = request.headers.get("Content-Type", "")
    if "json" in content_type:
        return json.loads(body or "{}")
    return {key: values[0] for key, values in parse_qs(body).items()}


def carries(request, secret: str) -> bool:
    """Whether the request carries the secret: in a header (plain or inside basic auth) or the query."""
    for value in request.headers.values():
        value = value.decode() if isinstance(value, bytes) else value
        if secret in value:
            return True
        scheme, _, encoded = value.partition(" ")
        if scheme.lower() == "basic":
            try:
                if secret in base64.b64decode(encoded).decode():
                    return True
            except ValueError:
                pass
    return secret in (urlsplit(request.url).query or "")


def token_url(app: App, connection: Connection) -> str:
    """Where a refresh goes: the entry's refresh_url, else its token_url."""
    mode = mode_for(app)
    key = "refresh_url" if (app.spec.get("oauth2") or {}).get("refresh_url") else "token_url"
    return mode._rendered(app, key, connection.config)


def link(app, replay, tenant, member, mocked):
    request = make_request(member.user)
    mode = mode_for(app)
    if app.auth_mode in {"oauth2", "oauth2_client_credentials"} and "token" in replay:
        mocked.add(responses.POST, mode._rendered(app, "token_url", replay_config(app, replay)), json=replay["token"])
    if app.auth_mode == "oauth1":
        spec = app.spec["oauth1"]
        answer(mocked, {"method": "POST", "url": spec["request_token_url"], "body": replay["request_token"]})
        answer(mocked, {"method": "POST", "url": spec["access_token_url"], "body": replay["access_token"]})
    for call in replay.get("lookups") or []:
        answer(mocked, call)
    answer(mocked, replay["test"])
    attempt, url = attempt_start(
        tenant=tenant, user=member.user, app=app, field_values=replay.get("fields") or {}, request=request
    )
    if url:
        if app.auth_mode == "oauth1":
            params = {"oauth_token": parse_qs(replay["request_token"])["oauth_token"][0], "oauth_verifier": "the-verifier"}
        else:
            params = {"code": "the-code"}
        attempt = attempt_finish(attempt=attempt, request=request, params={**params, **(replay.get("callback") or {})})
    assert attempt.status == Attempt.Status.SUCCEEDED, attempt.error_message
    return attempt.connection


def replay_config(app, replay):
    config, _secrets = mode_for(app).split_values(app, replay.get("fields") or {})
    return config


def the_secret(app, replay, credentials) -> str:
    if app.auth_mode in {"oauth2", "oauth2_client_credentials"}:
        return credentials["access_token"]
    if app.auth_mode == "oauth1":
        return parse_qs(replay["access_token"])["oauth_token"][0]
    secret_keys = [f["key"] for f in app.spec.get("fields") or [] if f.get("secret")]
    return replay["fields"][secret_keys[0]]


@pytest.mark.django_db
@pytest.mark.parametrize("slug", sorted(REPLAYS))
def test_entry_links_refreshes_and_revokes_as_its_provider_documents(slug, tenant, operator_member):
    replay = REPLAYS[slug]
    app = catalog_app(slug)
    mode = mode_for(app)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mocked:
        connection = link(app, replay, tenant, operator_member, mocked)

        # What a person sees and what a flow calls.
        assert connection.account_label == str(replay["account"])
        for key, value in (replay.get("captured") or {}).items():
            assert connection.config.get(key) == value, key
        credentials = open_credentials(connection)
        session = mode.session(app, connection.config, credentials)
        assert session.base_url == replay.get("base_url", session.base_url)
        test_request = sent(mocked, replay["test"].get("method", "GET").upper(), replay["test"]["url"])[-1]
        where = replay.get("credential_in", "header")
        if app.auth_mode == "oauth1":
            header = test_request.headers["Authorization"]
            header = header.decode() if isinstance(header, bytes) else header
            assert "oauth_signature=" in header and f'oauth_token="{the_secret(app, replay, credentials)}"' in header
        elif where == "path":
            secret = the_secret(app, replay, credentials)
            assert secret in urlsplit(test_request.url).path and not carries(test_request, secret), "in the path only"
            assert secret not in session.base_url
        elif where != "none":
            assert carries(test_request, the_secret(app, replay, credentials)), "the test request carries the credential"
            in_query = the_secret(app, replay, credentials) in (urlsplit(test_request.url).query or "")
            assert in_query == (where == "query"), f"the credential travels in the {where}"

        # Refresh as the provider does it: the documented answer keeps or replaces the refresh token.
        refresh = replay.get("refresh")
        if refresh is None:
            assert not mode.can_refresh(app, credentials) or app.auth_mode == "oauth2_client_credentials"
        else:
            url = token_url(app, connection)
            mocked.add(responses.POST, url, json=refresh["json"])
            before = credentials.get("refresh_token")
            renewed = connection_refresh(connection=connection, force=True)
            grant = (app.spec.get("client_credentials") or {}).get("grant_type", "client_credentials")
            assert body_of(sent(mocked, "POST", url)[-1]).get("grant_type") == (
                grant if app.auth_mode == "oauth2_client_credentials" else "refresh_token"
            )
            assert renewed["access_token"] == refresh["json"]["access_token"]
            if refresh["refresh_token"] == "rotated":
                assert renewed["refresh_token"] == refresh["json"]["refresh_token"] != before
            elif refresh["refresh_token"] == "kept":
                assert renewed["refresh_token"] == before
            else:
                assert refresh["refresh_token"] == "none" and not renewed.get("refresh_token")
            assert open_credentials(Connection.objects.for_tenant(tenant).get(pk=connection.pk))["access_token"] == renewed["access_token"]

        # Revoke sends the documented requests, in order, or nothing where the provider has none.
        revoke = replay.get("revoke") or []
        revoke = [revoke] if isinstance(revoke, dict) else revoke
        calls_before = len(mocked.calls)
        for call in revoke:
            answer(mocked, {"status": call.get("status", 200), "json": {}, "method": call["method"], "url": call["url"]})
        connection_revoke(connection=Connection.objects.for_tenant(tenant).get(pk=connection.pk), actor=operator_member.user)
        made = [c.request for c in mocked.calls[calls_before:]]
        assert mode.revoke_supported(app) == bool(revoke)
        assert [(r.method, r.url.split("?")[0]) for r in made] == [(c["method"].upper(), c["url"].split("?")[0]) for c in revoke]
        for request, call in zip(made, revoke):
            for key, value in (call.get("form") or call.get("json") or {}).items():
                assert body_of(request).get(key) == value, key
            for key, value in (call.get("query") or {}).items():
                assert parse_qs(urlsplit(request.url).query).get(key) == [value], key
