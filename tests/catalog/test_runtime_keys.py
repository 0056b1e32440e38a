"""The provider spec's runtime keys (catalog/SPEC.md): shapes and cross-field rules."""

import pytest

from catalog.schema import normalize_app, validate_app

BASE = {
    "slug": "acme", "name": "Acme", "category": "crm", "auth": "oauth2",
    "base_url": "https://api.acme.test/v1",
    "oauth2": {"authorize_url": "https://auth.acme.test/a", "token_url": "https://auth.acme.test/t", "scopes": []},
    "test": {"method": "GET", "path": "/me"},
}


def spec(oauth2=None, **changes):
    return {**BASE, **changes, "oauth2": {**BASE["oauth2"], **(oauth2 or {})}}


def problems(value):
    return validate_app(value)


@pytest.mark.parametrize(
    "oauth2",
    [
        {"token_params": {"expiring": "1"}, "refresh_params": {"expires_in": "1800"}},
        {"token_headers": {"Accept": "application/json"}, "token_body": "json"},
        {"token_path": "authed_user", "scope_param": "user_scope", "pkce": False},
    ],
)
def test_token_request_keys_are_accepted(oauth2):
    assert problems(spec(oauth2)) == []


@pytest.mark.parametrize(
    "oauth2,problem",
    [
        ({"token_body": "xml"}, "oauth2.token_body: must be one of: form, json"),
        ({"token_path": "authed user"}, "oauth2.token_path: must match"),
        ({"refresh_params": {"expires_in": 1800}}, "oauth2.refresh_params.expires_in: must be a string"),
        ({"token_headers": {"X-Shop": "{shop}"}}, "oauth2.token_headers.X-Shop: {shop} is not a declared field"),
        ({"scope_param": "user scope"}, "oauth2.scope_param: must match"),
    ],
)
def test_token_request_keys_are_checked(oauth2, problem):
    assert problem in "\n".join(problems(spec(oauth2))), problems(spec(oauth2))


def test_normalize_fills_the_token_request_defaults():
    oauth2 = normalize_app(spec())["oauth2"]
    assert (oauth2["token_body"], oauth2["refresh_params"], oauth2["token_headers"]) == ("form", {}, {})
