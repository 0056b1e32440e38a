"""The sandbox's OAuth1 server, driven by requests-oauthlib's OAuth1Session over loopback."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests_oauthlib import OAuth1Session
from requests_oauthlib.oauth1_session import TokenRequestDenied

from sandbox.models import OAuth1AccessToken, OAuth1RequestToken

pytestmark = pytest.mark.django_db(transaction=True)


def start_flow(sandbox, secret=None):
    oauth = OAuth1Session(
        sandbox.oauth1_client_key,
        client_secret=secret or sandbox.oauth1_client_secret,
        callback_uri=sandbox.oauth1_callback_uri,
    )
    oauth.fetch_request_token(sandbox.oauth1_request_token_url)
    return oauth


def test_full_oauth1_flow(sandbox):
    oauth = start_flow(sandbox)
    url = oauth.authorization_url(sandbox.oauth1_authorize_url)
    page = requests.get(url, timeout=10)
    assert "App Connections (test) wants to access your Sandbox account" in page.text

    callback = sandbox.approve(url, email="trello@example.com")
    assert callback.startswith(sandbox.oauth1_callback_uri + "?")
    oauth.parse_authorization_response(callback)
    access = oauth.fetch_access_token(sandbox.oauth1_access_token_url)

    assert access["oauth_token"] and access["oauth_token_secret"]
    answer = oauth.get(sandbox.me_url)
    assert answer.status_code == 200
    assert answer.json()["account"]["email"] == "trello@example.com"
    assert OAuth1AccessToken.objects.get().account.email == "trello@example.com"
    assert sandbox.count("oauth1_request_token") == 1 and sandbox.count("oauth1_access_token") == 1


def test_signed_api_call_with_wrong_token_secret_is_refused(sandbox):
    oauth = start_flow(sandbox)
    oauth.parse_authorization_response(sandbox.approve(oauth.authorization_url(sandbox.oauth1_authorize_url)))
    access = oauth.fetch_access_token(sandbox.oauth1_access_token_url)

    forged = OAuth1Session(
        sandbox.oauth1_client_key,
        client_secret=sandbox.oauth1_client_secret,
        resource_owner_key=access["oauth_token"],
        resource_owner_secret="not-the-secret",
    )
    answer = forged.get(sandbox.me_url)

    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid_token"}


def test_request_token_with_wrong_client_secret_is_refused(sandbox):
    with pytest.raises(TokenRequestDenied):
        start_flow(sandbox, secret="wrong-secret")
    assert OAuth1RequestToken.objects.count() == 0


def test_unregistered_callback_is_refused(sandbox):
    oauth = OAuth1Session(
        sandbox.oauth1_client_key,
        client_secret=sandbox.oauth1_client_secret,
        callback_uri="http://evil.example/callback",
    )
    with pytest.raises(TokenRequestDenied):
        oauth.fetch_request_token(sandbox.oauth1_request_token_url)


def test_verifier_is_single_use(sandbox):
    oauth = start_flow(sandbox)
    callback = sandbox.approve(oauth.authorization_url(sandbox.oauth1_authorize_url))
    oauth.parse_authorization_response(callback)
    verifier = parse_qs(urlsplit(callback).query)["oauth_verifier"][0]
    request_token = oauth._client.client.resource_owner_key
    request_secret = oauth._client.client.resource_owner_secret
    oauth.fetch_access_token(sandbox.oauth1_access_token_url)

    replay = OAuth1Session(
        sandbox.oauth1_client_key,
        client_secret=sandbox.oauth1_client_secret,
        resource_owner_key=request_token,
        resource_owner_secret=request_secret,
        verifier=verifier,
    )
    with pytest.raises(TokenRequestDenied):
        replay.fetch_access_token(sandbox.oauth1_access_token_url)
    assert OAuth1AccessToken.objects.count() == 1


def test_access_token_without_authorization_is_refused(sandbox):
    oauth = start_flow(sandbox)
    oauth._client.client.verifier = "x" * 30

    with pytest.raises(TokenRequestDenied):
        oauth.fetch_access_token(sandbox.oauth1_access_token_url)


def test_deny_redirects_back_without_verifier(sandbox):
    oauth = start_flow(sandbox)
    token = oauth._client.client.resource_owner_key

    callback = sandbox.approve(oauth.authorization_url(sandbox.oauth1_authorize_url), allow=False)

    params = parse_qs(urlsplit(callback).query)
    assert callback.startswith(sandbox.oauth1_callback_uri)
    assert params == {"denied": [token], "error": ["access_denied"]}
    assert requests.get(oauth.authorization_url(sandbox.oauth1_authorize_url), timeout=10).status_code == 400


def test_unknown_request_token_gets_an_error_page(sandbox):
    answer = requests.get(sandbox.oauth1_authorize_url + "?oauth_token=" + "u" * 30, timeout=10)

    assert answer.status_code == 400
