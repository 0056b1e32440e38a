"""Contract test over every entry of every shipped provider file."""

from collections import Counter
from urllib.parse import urlsplit

import pytest

from catalog.models import AuthMode, Category
from catalog.schema import (
    _templates,
    _url_templates,
    default_files,
    display_path,
    validate_app,
    validate_file,
    validate_files,
)
from catalog.hosts import spec_fields
from catalog.templating import template_names

FILES = default_files()
SPECS = validate_files(FILES)
BY_SLUG = {spec["slug"]: spec for spec in SPECS}
REAL = [spec for spec in SPECS if spec["category"] != Category.SANDBOX]


def test_every_file_loads_and_is_named_after_its_category():
    for path in FILES:
        specs = validate_file(path)
        assert specs, f"{display_path(path)} is empty"
        assert {spec["category"] for spec in specs} == {path.stem}, display_path(path)


@pytest.mark.parametrize("slug", sorted(BY_SLUG))
def test_entry_honours_the_contract(slug):
    spec = BY_SLUG[slug]
    assert validate_app(spec) == []
    assert spec["category"] in Category.values
    assert spec["auth"] in AuthMode.values
    assert spec["test"]["method"] and spec["test"]["path"]
    for path, template in _templates(spec):
        # Typed fields, captured values and, in a revoke block or lookup, the grant (hosts.GRANT_NAMES).
        declared = {field["key"] for field in spec_fields(spec, path=path)} | {"sandbox"}
        assert set(template_names(template)) <= declared, path
    for path, template in _url_templates(spec):
        if template.startswith("{"):
            first = template[1:].split("}")[0]
            formats = {field["key"]: field.get("format") for field in spec["fields"]}
            assert first == "sandbox" or formats.get(first) == "url", path
            continue
        parts = urlsplit(template.replace("{", "").replace("}", ""))
        assert parts.scheme == "https" or parts.hostname in ("localhost", "127.0.0.1", "::1"), path


@pytest.mark.parametrize("slug", sorted(spec["slug"] for spec in REAL))
def test_real_entry_is_documented(slug):
    spec = BY_SLUG[slug]
    assert spec["description"] and spec["setup_steps"].strip().startswith("1.")
    assert spec["docs_url"].startswith("https://")
    if spec["auth"] in (AuthMode.OAUTH2, AuthMode.OAUTH1):
        steps = spec["setup_steps"].lower()
        assert "redirect uri" in steps or "callback" in steps
    if spec["auth"] != AuthMode.CUSTOM:
        assert spec["test"]["path"]
        # The provider's page the endpoints were checked against (issue 14).
        assert spec.get("reference", "").startswith("https://"), "reference: required"


def test_catalog_breadth():
    categories = Counter(spec["category"] for spec in REAL)
    assert len(REAL) >= 40
    # Issue 14: 120+ real apps, each checked against its reference.
    checked = [spec for spec in REAL if spec["auth"] != AuthMode.CUSTOM]
    assert len(checked) >= 120 and all(spec.get("reference") for spec in checked)
    assert len(categories) >= 8
    assert set(Category.values) - {Category.SANDBOX} <= set(categories)
    assert set(AuthMode.values) <= {spec["auth"] for spec in REAL}


@pytest.mark.parametrize("slug", ["gmail", "google-tasks"])
def test_google_apps_ask_for_offline_access(slug):
    params = BY_SLUG[slug]["oauth2"]["authorize_params"]
    assert params["access_type"] == "offline" and params["prompt"] == "consent"
    assert BY_SLUG[slug]["oauth2"]["pkce"] is True


def test_field_driven_hosts():
    assert "{subdomain}" in BY_SLUG["zendesk"]["oauth2"]["authorize_url"]
    assert "{shop}" in BY_SLUG["shopify"]["oauth2"]["token_url"]
    jira = BY_SLUG["jira"]
    assert jira["basic"] == {"username": "{email}", "password": "{api_token}"}
