import copy

import pytest

from catalog.schema import (
    CatalogError,
    validate_app,
    validate_file,
    validate_files,
)

ZENDESK = {
    "slug": "zendesk",
    "name": "Zendesk",
    "category": "customer-support",
    "description": "Tickets.",
    "docs_url": "https://developer.zendesk.com/",
    "reference": "https://developer.zendesk.com/api-reference/ticketing/oauth/oauth_tokens/",
    "auth": "oauth2",
    "base_url": "https://{subdomain}.zendesk.com/api/v2",
    "fields": [{"key": "subdomain", "label": "Subdomain", "secret": False, "format": "subdomain"}],
    "oauth2": {
        "authorize_url": "https://{subdomain}.zendesk.com/oauth/authorizations/new",
        "token_url": "https://{subdomain}.zendesk.com/oauth/tokens",
        "revoke_url": None,
        "scopes": ["read", "write"],
        "pkce": True,
        "client_auth": "body",
    },
    "test": {"method": "GET", "path": "/users/me.json", "account": "user.email"},
}


def spec(**changes):
    result = copy.deepcopy(ZENDESK)
    for dotted, value in changes.items():
        target = result
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return result


def test_valid_spec_has_no_errors():
    assert validate_app(ZENDESK) == []


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"slug": "Zen Desk"}, "slug: must match ^[a-z0-9][a-z0-9-]*$"),
        ({"category": "toys"}, "category: must be one of: crm,"),
        ({"auth": "magic"}, "auth: must be one of: oauth2, oauth1, api_key, basic, custom"),
        ({"oauth2__token_url": "not a url"}, "oauth2.token_url: not a URL"),
        ({"oauth2__token_url": "http://zendesk.com/token"}, "oauth2.token_url: must use https"),
        ({"oauth2__authorize_url": "ftp://zendesk.com/a"}, "oauth2.authorize_url: not a URL"),
        ({"oauth2": KeyError}, "oauth2: required for auth oauth2"),
        ({"oauth2__scopes": KeyError}, "oauth2.scopes: required"),
        ({"oauth2__tokn_url": "https://x.com"}, "oauth2.tokn_url: unknown field"),
        ({"base_url": "https://{tenant}.zendesk.com"}, "base_url: {tenant} is not a declared field"),
        ({"test": KeyError}, "test: required"),
        ({"test__method": KeyError}, "test.method: required"),
        ({"test__path": "users/me"}, "test.path: must start with / or be an absolute URL"),
        ({"fields": [{"key": "a", "label": "A"}, {"key": "a", "label": "B"}]}, "fields.1.key: duplicate key 'a'"),
        ({"apply": {"headers": {"X": "y"}}}, "apply: not used by auth oauth2"),
        ({"base_url": "https://{subdomain!r}.z.com"}, "base_url: placeholders are plain"),
        ({"name": 5}, "name: must be a string"),
        # A host template's placeholders come from typed fields (sync_catalog --check refuses).
        (
            {"fields": [{"key": "subdomain", "label": "Subdomain"}]},
            "base_url: {subdomain} in the host needs a field of format subdomain",
        ),
        ({"fields__0__format": "hostname"}, "base_url: {subdomain} in the host needs a field of format subdomain"),
        ({"base_url": "https://{subdomain}/api"}, "base_url: {subdomain} in the host needs a field of format hostname"),
        ({"base_url": "https://{subdomain}.com/api"}, "base_url: after the placeholders, the host must end in a fixed domain"),
        ({"base_url": "https://api{subdomain}.zendesk.com"}, "base_url: {subdomain} must be a whole DNS label"),
        ({"fields__0__format": "colour"}, "fields.0.format: must be one of"),
        # reference: the provider page the endpoints were checked against, https like every URL.
        ({"reference": "http://developer.zendesk.com/oauth"}, "reference: must use https"),
        ({"reference": "see the docs"}, "reference: not a URL"),
        ({"reference": ""}, "reference: must not be empty"),
        ({"oauth2__expired_status": 200}, "oauth2.expired_status:"),
    ],
)
def test_invalid_specs_name_the_field(changes, expected):
    errors = validate_app(spec(**changes))
    assert any(e.startswith(expected) for e in errors), errors


def test_expired_status_is_a_client_error_status():
    assert validate_app(spec(oauth2__expired_status=403)) == []


@pytest.mark.parametrize(
    "url",
    ["http://localhost:8000/x", "http://127.0.0.1/x", "http://[::1]:9000/x", "{sandbox}/sandbox/oauth2/token"],
)
def test_plain_http_only_for_loopback_and_sandbox(url):
    assert validate_app(spec(oauth2__token_url=url)) == []


def test_secret_field_may_not_appear_in_url():
    errors = validate_app(spec(fields=[{"key": "subdomain", "label": "S", "secret": True}]))
    assert "base_url: secret field {subdomain} must not appear in a URL" in errors


def test_custom_app_needs_base_url_field():
    custom = {
        "slug": "custom-rest", "name": "Custom REST API", "category": "custom", "auth": "custom",
        "base_url": "{base_url}",
        "fields": [
            {"key": "base_url", "label": "Base URL", "format": "url"},
            {"key": "test_path", "label": "Test path"},
        ],
        "test": {"method": "GET", "path": "{test_path}"},
    }
    assert validate_app(custom) == []
    custom["fields"] = custom["fields"][1:]
    assert "fields: auth custom needs a field with key 'base_url'" in validate_app(custom)


def test_validate_file_names_file_app_and_field(write_provider, app_yaml):
    path = write_provider("crm.yaml", app_yaml("salesforce", "Salesforce").replace(
        "https://api.example.com/v1", "api.example.com"))
    with pytest.raises(CatalogError) as info:
        validate_file(path)
    assert f"{path}: app 'salesforce': base_url: not a URL" in str(info.value)


def test_validate_file_reports_yaml_errors(write_provider):
    path = write_provider("bad.yaml", "- slug: a\n  name: [unclosed\n")
    with pytest.raises(CatalogError, match=r"bad.yaml: invalid YAML at line"):
        validate_file(path)


def test_validate_file_refuses_duplicate_yaml_keys(write_provider, app_yaml):
    path = write_provider("dup.yaml", app_yaml() + "  name: Again\n")
    with pytest.raises(CatalogError, match="duplicate key 'name'"):
        validate_file(path)


def test_validate_file_must_be_a_list(write_provider):
    path = write_provider("x.yaml", "slug: a\n")
    with pytest.raises(CatalogError, match=r"x.yaml: must be a list of apps"):
        validate_file(path)


def test_slugs_unique_across_files(write_provider, app_yaml):
    a = write_provider("a.yaml", app_yaml("same"))
    b = write_provider("b.yaml", app_yaml("same"))
    with pytest.raises(CatalogError) as info:
        validate_files([a, b])
    assert f"{b}: app 'same': slug: already defined in {a}" in str(info.value)


def test_normalized_spec_has_defaults(write_provider, app_yaml):
    [app] = validate_file(write_provider("a.yaml", app_yaml()))
    assert app["fields"][0] == {"key": "api_key", "label": "API key", "secret": True, "required": True, "help": ""}
    assert app["apply"]["query"] == {}
