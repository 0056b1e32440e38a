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


CAPTURE = {"key": "instance_host", "label": "Instance", "from": "token", "path": "instance_url", "format": "hostname"}


def test_a_capture_can_stand_for_the_whole_host_of_base_url():
    value = spec(base_url="https://{instance_host}/v1", allowed_hosts=["*.acme.test"], captures=[CAPTURE])
    assert problems(value) == []


@pytest.mark.parametrize(
    "changes,problem",
    [
        ({"base_url": "https://{instance_host}/v1", "captures": [CAPTURE]}, "base_url: {instance_host} is a whole host, so allowed_hosts"),
        ({"base_url": "https://{nothing}/v1", "captures": [CAPTURE], "allowed_hosts": ["*.acme.test"]}, "{nothing} is not a declared field"),
        ({"captures": [{**CAPTURE, "from": "email"}]}, "captures.0.from: must be one of: token, callback, lookup"),
        ({"captures": [{**CAPTURE, "path": "a..b"}]}, "captures.0.path: must match"),
        ({"captures": [{**CAPTURE, "from": "lookup"}]}, "captures.0.from: lookup needs a lookup block"),
        ({"captures": [CAPTURE, CAPTURE]}, "captures.1.key: 'instance_host' is already a field or a capture"),
        ({"captures": [CAPTURE], "fields": [{"key": "instance_host", "label": "X"}]}, "captures.0.key"),
        ({"lookup": {"url": "https://api.acme.test/who"}}, "lookup: no capture reads it"),
        ({"lookup": {"url": "https://api.acme.test/{access_token}"}, "captures": [{**CAPTURE, "from": "lookup"}]}, "lookup.url: {access_token} is not a declared field"),
        ({"lookup": {"url": "http://api.acme.test/who"}, "captures": [{**CAPTURE, "from": "lookup"}]}, "lookup.url: must use https"),
    ],
)
def test_captures_and_lookup_are_checked(changes, problem):
    assert problem in "\n".join(problems(spec(**changes))), problems(spec(**changes))



HOST_CHOICE = {
    "key": "accounts_host", "label": "Data center", "format": "hostname", "default": "auth.acme.test",
    "enum": [{"value": "auth.acme.test", "label": "US"}, {"value": "auth.acme.eu", "label": "EU"}],
}
FROM_CALLBACK = {"key": "accounts_host", "label": "Data center", "from": "callback", "path": "accounts-server",
                 "format": "hostname", "optional": True}
CHOICE_SPEC = {"allowed_hosts": ["auth.acme.test", "auth.acme.eu"], "fields": [HOST_CHOICE], "captures": [FROM_CALLBACK]}


def test_a_callback_capture_may_replace_an_enum_field():
    # zoho-crm: accounts-server on the callback replaces the data center chosen (catalog/SPEC.md).
    assert problems(spec({"token_url": "https://{accounts_host}/t"}, **CHOICE_SPEC)) == []


@pytest.mark.parametrize(
    "changes,problem",
    [
        ({"fields": [{k: v for k, v in HOST_CHOICE.items() if k != "enum"}]}, "captures.0.key: a callback capture may replace only an enum field"),
        ({"captures": [{**FROM_CALLBACK, "from": "token"}]}, "captures.0.key: 'accounts_host' is already a field or a capture"),
        ({"captures": [{**FROM_CALLBACK, "format": "text"}]}, "captures.0.format: not the format of the field it replaces"),
    ],
)
def test_a_capture_replacing_a_field_is_checked(changes, problem):
    value = spec({"token_url": "https://{accounts_host}/t"}, **{**CHOICE_SPEC, **changes})
    assert problem in "\n".join(problems(value)), problems(value)

def test_captures_belong_to_oauth2_apps():
    value = {**BASE, "auth": "api_key", "fields": [{"key": "k", "label": "K", "secret": True}], "apply": {"headers": {"X": "{k}"}}, "captures": [CAPTURE]}
    del value["oauth2"]
    assert "captures: only OAuth2 apps report values after the token" in problems(value)


def test_a_lookup_header_may_name_the_access_token():
    value = spec(
        lookup={"url": "https://api.acme.test/who", "headers": {"Authorization": "OAuth {access_token}"}},
        captures=[{**CAPTURE, "from": "lookup", "format": "subdomain", "key": "dc"}],
        base_url="https://{dc}.api.acme.test/3.0",
    )
    assert problems(value) == []


REGION = {
    "key": "host", "label": "Region", "format": "hostname", "default": "api.acme.test",
    "enum": [{"value": "api.acme.test", "label": "US"}, {"value": "api.eu.acme.test", "label": "EU"}],
}


def test_field_keys_are_accepted():
    value = spec(
        base_url="https://{host}/v1", allowed_hosts=["api.acme.test", "api.eu.acme.test"],
        fields=[REGION, {"key": "sid", "label": "SID", "pattern": "AC[0-9a-f]{4}", "example": "AC12ab", "optional": True}],
    )  # fmt: skip
    assert problems(value) == []


@pytest.mark.parametrize(
    "field,problem",
    [
        ({**REGION, "default": "api.other.test"}, "fields.0.default: not one of the enum values"),
        ({**REGION, "enum": [{"value": "evil.test", "label": "X"}]}, "fields.0.enum.0.value: This app accepts only host names like"),
        ({**REGION, "enum": [{"value": "api.acme.test"}]}, "fields.0.enum.0.label: required"),
        ({**REGION, "enum": [REGION["enum"][0], REGION["enum"][0]]}, "fields.0.enum: has duplicate values"),
        ({"key": "sid", "label": "SID", "pattern": "AC[", "example": "AC1"}, "fields.0.pattern: not a regular expression"),
        ({"key": "sid", "label": "SID", "pattern": "AC[0-9]+", "example": "SK1"}, "fields.0.example: does not match the pattern"),
        ({"key": "sid", "label": "SID", "optional": True, "required": True}, "fields.0.optional: contradicts required: true"),
        ({"key": "sid", "label": "SID", "secret": True, "enum": [{"value": "a", "label": "A"}]}, "fields.0.enum: a secret field offers no choices"),
    ],
)
def test_field_keys_are_checked(field, problem):
    value = spec(base_url="https://{host}/v1" if field["key"] == "host" else BASE["base_url"],
                 allowed_hosts=["api.acme.test", "api.eu.acme.test"], fields=[field])  # fmt: skip
    assert problem in "\n".join(problems(value)), problems(value)


def test_optional_normalizes_to_not_required():
    fields = normalize_app(spec(fields=[{"key": "a", "label": "A", "optional": True}, {"key": "b", "label": "B"}]))["fields"]
    assert [field["required"] for field in fields] == [False, True]


def _regions(*options):
    return spec(
        base_url="https://{api_host}/v1", allowed_hosts=["api.acme.test", "api.eu.acme.test"],
        fields=[{"key": "region", "label": "Region", "enum": list(options)}],
    )  # fmt: skip


def test_enum_choices_may_set_hosts_for_templates():
    value = _regions(
        {"value": "us", "label": "US", "hosts": {"api_host": "api.acme.test"}},
        {"value": "eu", "label": "EU", "hosts": {"api_host": "api.eu.acme.test"}},
    )
    assert problems(value) == []


@pytest.mark.parametrize(
    "options,problem",
    [
        (({"value": "us", "label": "US", "hosts": {"api_host": "api.acme.test"}}, {"value": "eu", "label": "EU"}),
         "fields.0.enum: every choice must set the same hosts"),
        (({"value": "us", "label": "US", "hosts": {"api_host": "evil.test"}},),
         "fields.0.enum.0.hosts.api_host: This app accepts only host names like"),
        (({"value": "us", "label": "US", "hosts": {"region": "api.acme.test", "api_host": "api.acme.test"}},),
         "fields.0.enum.0.hosts.region: already a field or a capture"),
    ],
)
def test_enum_hosts_are_checked(options, problem):
    assert problem in "\n".join(problems(_regions(*options))), problems(_regions(*options))
