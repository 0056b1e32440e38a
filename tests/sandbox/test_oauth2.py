"""The sandbox's OAuth2 server, driven by requests-oauthlib over loopback."""

import logging
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from oauthlib.oauth2 import InvalidGrantError
from requests_oauthlib import OAuth2Session

from sandbox import services
from sandbox.models import AccessToken, AuthorizationCode, RefreshToken

pytestmark = pytest.mark.django_db(transaction=True)


def query(url):
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def oauth_session(sandbox, scope=("profile", "read")):
    return OAuth2Session(sandbox.client_id, redirect_uri=sandbox.redirect_uri, scope=list(scope))


def authorize(sandbox, pkce, *, scope=("profile", "read"), email=None):
    """Run the authorization request and consent; return (session, callback URL, state)."""
    verifier, challenge = pkce
    session = oauth_session(sandbox, scope)
    url, state = session.authorization_url(
        sandbox.authorize_url, code_challenge=challenge, code_challenge_method="S256"
    )
    return session, sandbox.approve(url, email=email), state


def get_tokens(sandbox, pkce, **kwargs):
    session, callback, _ = authorize(sandbox, pkce, **kwargs)
    token = session.fetch_token(
        sandbox.token_url,
        authorization_response=callback,
        client_secret=sandbox.client_secret,
        code_verifier=pkce[0],
        include_client_id=True,
    )
    return token


def me(sandbox, access_token):
    return requests.get(sandbox.me_url, headers={"Authorization": f"Bearer {access_token}"}, timeout=10)


def post_token(sandbox, data, auth=None):
    if auth is None:
        data = {**data, "client_id": sandbox.client_id, "client_secret": sandbox.client_secret}
    return requests.post(sandbox.token_url, data=data, auth=auth, timeout=10)


def test_consent_page_names_the_client_scopes_and_prefilled_email(sandbox, pkce):
    session = oauth_session(sandbox, ("profile", "read", "write"))
    url, _ = session.authorization_url(sandbox.authorize_url, code_challenge=pkce[1], code_challenge_method="S256")

    page = requests.get(url, timeout=10)

    assert page.status_code == 200
    assert "App Connections (test) wants to access your Sandbox account" in page.text
    assert 'value="demo@sandbox.test"' in page.text
    for scope in ("profile", "read", "write"):
        assert f"<code>{scope}</code>" in page.text
    assert ">Allow</button>" in page.text and ">Deny</button>" in page.text
    assert sandbox.count("authorize") == 1


def test_full_code_flow_with_pkce(sandbox, pkce):
    session, callback, state = authorize(sandbox, pkce, email="Ops@Example.com")
    params = query(callback)
    assert callback.startswith(sandbox.redirect_uri + "?")
    assert params["state"] == state and params["code"]

    token = session.fetch_token(
        sandbox.token_url,
        authorization_response=callback,
        client_secret=sandbox.client_secret,
        code_verifier=pkce[0],
    )

    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == ["profile", "read"]
    assert token["refresh_token"] and token["access_token"] != token["refresh_token"]
    assert sandbox.token_requests() == 1
    answer = session.get(sandbox.me_url)
    assert answer.status_code == 200
    account = answer.json()["account"]
    assert account["email"] == "ops@example.com"
    assert set(account) == {"id", "email", "name"}
    # Nothing is stored in clear.
    assert not AccessToken.objects.filter(token_digest=token["access_token"]).exists()
    assert AccessToken.objects.count() == 1 and RefreshToken.objects.count() == 1


def test_client_authentication_in_body_and_with_basic(sandbox, pkce):
    for auth in (None, (sandbox.client_id, sandbox.client_secret)):
        verifier, _ = pkce
        _, callback, _ = authorize(sandbox, pkce)
        data = {
            "grant_type": "authorization_code",
            "code": query(callback)["code"],
            "redirect_uri": sandbox.redirect_uri,
            "code_verifier": verifier,
        }
        answer = post_token(sandbox, data, auth=auth)
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
        assert answer.json()["scope"] == "profile read"


def test_wrong_client_secret_is_refused(sandbox, pkce):
    _, callback, _ = authorize(sandbox, pkce)
    data = {
        "grant_type": "authorization_code",
        "code": query(callback)["code"],
        "redirect_uri": sandbox.redirect_uri,
        "code_verifier": pkce[0],
    }

    answer = requests.post(sandbox.token_url, data=data, auth=(sandbox.client_id, "wrong"), timeout=10)

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_deny_redirects_with_access_denied_and_state(sandbox, pkce):
    session = oauth_session(sandbox)
    url, state = session.authorization_url(sandbox.authorize_url, code_challenge=pkce[1], code_challenge_method="S256")

    callback = sandbox.approve(url, allow=False)

    assert callback.startswith(sandbox.redirect_uri)
    assert query(callback) == {"error": "access_denied", "state": state}
    assert AuthorizationCode.objects.count() == 0


@pytest.mark.parametrize(
    "extra",
    [{}, {"code_challenge": "x" * 43}, {"code_challenge": "x" * 43, "code_challenge_method": "plain"}],
    ids=["no-challenge", "method-omitted", "plain"],
)
def test_authorization_without_s256_challenge_is_refused(sandbox, extra):
    url, state = oauth_session(sandbox).authorization_url(sandbox.authorize_url, **extra)

    answer = requests.get(url, allow_redirects=False, timeout=10)

    assert answer.status_code == 302
    params = query(answer.headers["Location"])
    assert answer.headers["Location"].startswith(sandbox.redirect_uri)
    assert params["error"] == "invalid_request" and params["state"] == state
    assert AuthorizationCode.objects.count() == 0


@pytest.mark.parametrize("verifier", [None, "a-wrong-verifier-" + "v" * 40])
def test_token_exchange_with_missing_or_wrong_verifier_is_refused(sandbox, pkce, verifier):
    _, callback, _ = authorize(sandbox, pkce)
    data = {"grant_type": "authorization_code", "code": query(callback)["code"], "redirect_uri": sandbox.redirect_uri}
    if verifier:
        data["code_verifier"] = verifier

    answer = post_token(sandbox, data)

    assert answer.status_code == 400
    assert answer.json()["error"] == ("invalid_grant" if verifier else "invalid_request")
    assert AccessToken.objects.count() == 0


def test_unregistered_redirect_uri_is_refused_without_redirecting(sandbox, pkce):
    session = OAuth2Session(sandbox.client_id, redirect_uri=sandbox.redirect_uri + "evil/", scope=["profile"])
    url, _ = session.authorization_url(sandbox.authorize_url, code_challenge=pkce[1], code_challenge_method="S256")

    answer = requests.get(url, allow_redirects=False, timeout=10)

    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert "cannot be completed" in answer.text


def test_token_exchange_with_another_redirect_uri_is_refused(sandbox, pkce):
    other = sandbox.redirect_uri.replace("sandbox-oauth2", "other")
    services.ensure_client(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        redirect_uris=[sandbox.redirect_uri, other],
        name="App Connections (test)",
    )
    _, callback, _ = authorize(sandbox, pkce)
    data = {"grant_type": "authorization_code", "code": query(callback)["code"], "redirect_uri": other, "code_verifier": pkce[0]}

    answer = post_token(sandbox, data)

    assert answer.status_code == 400
    assert "access_token" not in answer.json()


def test_unknown_client_gets_an_error_page(sandbox, pkce):
    session = OAuth2Session("no-such-client", redirect_uri=sandbox.redirect_uri, scope=["profile"])
    url, _ = session.authorization_url(sandbox.authorize_url, code_challenge=pkce[1], code_challenge_method="S256")

    answer = requests.get(url, allow_redirects=False, timeout=10)

    assert answer.status_code == 400


def test_authorization_code_is_single_use(sandbox, pkce):
    _, callback, _ = authorize(sandbox, pkce)
    data = {"grant_type": "authorization_code", "code": query(callback)["code"], "redirect_uri": sandbox.redirect_uri, "code_verifier": pkce[0]}

    first = post_token(sandbox, data)
    second = post_token(sandbox, data)

    assert first.status_code == 200
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    assert AccessToken.objects.count() == 1
    # The replay revoked what the code had been exchanged for.
    assert me(sandbox, first.json()["access_token"]).status_code == 401
    refresh = post_token(sandbox, {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]})
    assert refresh.status_code == 400


def test_expired_authorization_code_is_refused(sandbox, pkce):
    _, callback, _ = authorize(sandbox, pkce)
    AuthorizationCode.objects.update(expires_at=AuthorizationCode.objects.get().expires_at.replace(year=2000))
    data = {"grant_type": "authorization_code", "code": query(callback)["code"], "redirect_uri": sandbox.redirect_uri, "code_verifier": pkce[0]}

    answer = post_token(sandbox, data)

    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_refresh_token_rotates_and_the_old_one_is_refused(sandbox, pkce):
    token = get_tokens(sandbox, pkce)
    session = OAuth2Session(sandbox.client_id, token=token)

    new = session.refresh_token(
        sandbox.token_url, client_id=sandbox.client_id, client_secret=sandbox.client_secret
    )

    assert new["refresh_token"] != token["refresh_token"]
    assert new["access_token"] != token["access_token"]
    assert new["scope"] == ["profile", "read"]
    assert me(sandbox, new["access_token"]).status_code == 200
    with pytest.raises(InvalidGrantError):
        OAuth2Session(sandbox.client_id, token=token).refresh_token(
            sandbox.token_url, client_id=sandbox.client_id, client_secret=sandbox.client_secret
        )
    again = post_token(sandbox, {"grant_type": "refresh_token", "refresh_token": new["refresh_token"]})
    assert again.status_code == 200
    assert again.json()["refresh_token"] not in (new["refresh_token"], token["refresh_token"])
    assert sandbox.token_requests() == 4


def test_refresh_token_of_another_client_is_refused(sandbox, pkce):
    token = get_tokens(sandbox, pkce)
    services.ensure_client(client_id="other", client_secret="other-secret", redirect_uris=[sandbox.redirect_uri])

    answer = requests.post(
        sandbox.token_url,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=("other", "other-secret"),
        timeout=10,
    )

    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_revoking_the_refresh_token_kills_its_access_tokens(sandbox, pkce):
    token = get_tokens(sandbox, pkce)
    refreshed = post_token(sandbox, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}).json()
    assert me(sandbox, token["access_token"]).status_code == 200

    answer = requests.post(
        sandbox.revoke_url,
        data={"token": refreshed["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(sandbox.client_id, sandbox.client_secret),
        timeout=10,
    )

    assert answer.status_code == 200
    assert me(sandbox, token["access_token"]).status_code == 401
    assert me(sandbox, refreshed["access_token"]).status_code == 401
    reuse = post_token(sandbox, {"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]})
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert sandbox.count("revoke") == 1


def test_revoking_an_access_token_with_body_authentication(sandbox, pkce):
    token = get_tokens(sandbox, pkce)

    answer = requests.post(
        sandbox.revoke_url,
        data={"token": token["access_token"], "client_id": sandbox.client_id, "client_secret": sandbox.client_secret},
        timeout=10,
    )

    assert answer.status_code == 200
    unauthorized = me(sandbox, token["access_token"])
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"error": "invalid_token"}
    # The refresh token still works: only the access token was revoked.
    assert post_token(sandbox, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}).status_code == 200


def test_revocation_needs_client_authentication(sandbox, pkce):
    token = get_tokens(sandbox, pkce)

    answer = requests.post(sandbox.revoke_url, data={"token": token["access_token"]}, timeout=10)

    assert answer.status_code == 401
    assert me(sandbox, token["access_token"]).status_code == 200


def test_short_token_lifetime_expires(sandbox, pkce):
    sandbox.set_token_lifetime(1)
    token = get_tokens(sandbox, pkce)
    assert token["expires_in"] == 1
    assert me(sandbox, token["access_token"]).status_code == 200

    time.sleep(1.5)

    answer = me(sandbox, token["access_token"])
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    refreshed = post_token(sandbox, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert refreshed.status_code == 200
    assert me(sandbox, refreshed.json()["access_token"]).status_code == 200


def test_no_code_or_token_reaches_the_logs(sandbox, pkce, caplog, client):
    _, callback, _ = authorize(sandbox, pkce)
    code = query(callback)["code"]
    auth = {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret}
    caplog.set_level(logging.DEBUG)

    # In this thread (Django's test client) so that caplog sees every record the server emits.
    def post(data):
        return client.post("/sandbox/oauth2/token", urlencode(data), content_type="application/x-www-form-urlencoded")

    token = post(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": sandbox.redirect_uri,
         "code_verifier": pkce[0], **auth}
    ).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"], **auth}
    assert post(refresh).status_code == 200
    assert post(refresh).status_code == 400
    assert client.get("/sandbox/api/me", HTTP_AUTHORIZATION=f"Bearer {token['access_token']}").status_code == 200

    messages = [record.getMessage() for record in caplog.records]
    for secret in (code, token["access_token"], token["refresh_token"], sandbox.client_secret, pkce[0]):
        assert not any(secret in message for message in messages)
