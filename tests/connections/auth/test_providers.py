"""Every provider file entry works with its auth mode: authorize URL, signed test request."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from catalog.models import App
from catalog.schema import default_files, validate_files
from catalog.services import oauth_client_set
from connections import probe
from connections.errors import ConnectionFailure
from connections.services.attempts import attempt_start

from ..lifecycle_helpers import make_request

SPECS = validate_files(default_files())
ANY_URL = re.compile(r"https?://.*")

CREDENTIALS = {
    "oauth2": {"access_token": "at-test", "refresh_token": "rt", "token_type": "Bearer", "expires_at": None, "scope": []},
    "oauth1": {"oauth_token": "ot", "oauth_token_secret": "ots"},
    "oauth2_client_credentials": {
        "client_id": "cid", "client_secret": "cs", "access_token": "at-test", "refresh_token": None,
        "token_type": "Bearer", "expires_at": None, "scope": [],
    },
}


def accepted_answer(spec):
    """Return a JSON answer holding the values the spec's test.expect requires."""
    answer = {}
    for path, wanted in ((spec.get("test") or {}).get("expect") or {}).items():
        *parents, leaf = path.split(".")
        node = answer
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = wanted
    return answer


def field_values(spec):
    values = {}
    for field in [*(spec.get("fields") or []), *(spec.get("captures") or [])]:
        key = field["key"]
        if key in values:  # a callback capture replacing a field's choice (zoho accounts-server)
            continue
        if field.get("enum"):
            values[key] = field.get("default") or field["enum"][0]["value"]
            continue
        values[key] = {
            "url": "https://custom.example.test/api",
            "subdomain": "acme",
            "hostname": (spec.get("allowed_hosts") or ["x"])[0].replace("*", "acme"),
            "email": "ada@example.com",
        }.get(field.get("format"), "/ping" if key == "test_path" else f"v-{key}")
    return values


@pytest.mark.django_db
@pytest.mark.parametrize("spec", SPECS, ids=[s["slug"] for s in SPECS])
def test_provider_entry_signs_its_test_request(spec, tenant, operator_member):
    app = App.objects.create(slug=spec["slug"], name=spec["name"], category=spec["category"], auth_mode=spec["auth"], spec=spec)
    values = field_values(spec)
    secret_keys = {f["key"] for f in spec.get("fields") or [] if f.get("secret")}
    config = {k: v for k, v in values.items() if k not in secret_keys}  # typed and captured values
    credentials = CREDENTIALS.get(app.auth_mode) or {k: v for k, v in values.items() if k in secret_keys}
    if app.needs_oauth_client:
        oauth_client_set(app=app, client_id="cid", client_secret="csecret")
        app.refresh_from_db()
    if app.auth_mode == "oauth2":
        attempt, url = attempt_start(tenant=tenant, user=operator_member.user, app=app, field_values=values, request=make_request())
        assert url, attempt.error_message
        query = parse_qs(urlsplit(url).query)
        assert query["client_id"] == ["cid"] and query["state"]
        assert query["redirect_uri"] == [app.oauth_client.redirect_uri]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        for method in (responses.GET, responses.POST, responses.HEAD):
            mocked.add(method, ANY_URL, json=accepted_answer(spec))
        try:
            probe.run_test(app, config, credentials)
        except ConnectionFailure as failure:  # only a missing setting may fail here
            pytest.fail(f"{app.slug}: {failure.message}")
        assert len(mocked.calls) == 1
        sent = mocked.calls[0].request
    assert sent.url.startswith("http")
    assert "{" not in sent.url
    if app.auth_mode == "oauth2":
        header = spec["oauth2"].get("access_token_header")
        assert sent.headers[header] == "at-test" if header else sent.headers["Authorization"] == "Bearer at-test"
    elif app.auth_mode == "oauth2_client_credentials":
        assert sent.headers["Authorization"] == "Bearer at-test"
        assert "cs" not in sent.url
    elif app.auth_mode == "oauth1":
        assert "oauth_signature" in str(sent.headers["Authorization"])
    elif app.auth_mode == "basic":
        assert sent.headers["Authorization"].startswith("Basic ")
    elif app.auth_mode == "api_key":
        rendered = " ".join(list(sent.headers.values()) + [sent.url])
        assert any(values[k] in rendered for k in secret_keys), f"{app.slug}: the key is not on the request"
