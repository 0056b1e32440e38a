"""Property: whatever body or query string the API receives, it never answers 500 (Hypothesis).

Two thousand generated inputs (some 2,200 requests) across the endpoints, through the Django
test client (no live server) so the run stays near a minute of CPU. Half the texts carry NUL or
a lone surrogate, and most inputs are well-formed enough to reach the services: with the
guards removed it finds `?q=%00` and a NUL in a name within the run. Every answer is JSON;
every refusal has the error shape. The only 5xx allowed is 503 `app_unavailable`: the app
(mocked with `responses`) could not be reached, e.g. a typed base URL that is no URL at all.
"""

import json
import re
from urllib.parse import quote_from_bytes

import pytest
import responses
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from connections.models import Connection
from connections.services.tokens import api_token_create
from vault.services import secret_seal

from ..lifecycle_helpers import make_app

pytestmark = pytest.mark.django_db

set_hypothesis_home_dir("var/hypothesis")  # its caches stay out of the work tree (var/ is ignored)

ALL_SCOPES = ["read", "check", "credentials", "attempts", "manage", "proxy"]
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text with everything a hostile caller may send: NUL, controls, lone surrogates, any plane.
TRICKY = ["\x00", "\ud800", "\udfff", "\n", "\r", ":", " ", "é", "\U0001f600", "%", "\\", '"', "a"]
POISON = ["\x00", "\ud800", "\udfff"]  # what PostgreSQL or UTF-8 refuse: half the texts hold one
plain = st.text(st.sampled_from(TRICKY) | st.characters(exclude_categories=()), max_size=10)
text = plain | st.builds(lambda a, poison, b: a + poison + b, plain, st.sampled_from(POISON), plain)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=10,
)


def mostly(valid):
    """Return valid (but hostile) input three times in four, any JSON value otherwise."""
    return st.one_of(valid, valid, valid, values)


# Mostly well-formed but hostile inputs get past the schema to the services; the rest is junk.
field_keys = st.sampled_from(
    ["subdomain", "api_key", "base_url", "test_path", "username", "password"]
)
row = st.fixed_dictionaries({"name": text, "value": text}) | st.tuples(text, text).map(list)
rows = mostly(st.lists(row, max_size=3) | st.dictionaries(text, text, max_size=3))
create_bodies = st.fixed_dictionaries(
    {
        "app": mostly(
            st.sampled_from(["acme-key", "acme-oauth2", "acme-custom", "acme-basic", "nope"])
        )
    },
    optional={
        "name": mostly(text),
        "scopes": mostly(
            st.lists(st.sampled_from(["profile", "read", "write"]) | text, max_size=3) | text
        ),
        "fields": mostly(st.dictionaries(field_keys | text, text, max_size=5)),
        "headers": rows,
        "query": rows,
        "confirm_shared": mostly(st.booleans()),
    },
)
raw_bodies = (
    values.map(json.dumps)
    | st.binary(max_size=40)
    | st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth)
)
content_types = st.sampled_from(
    ["application/json", "application/json", "application/x-www-form-urlencoded", "text/plain"]
)


def _encoded(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


hostile_bytes = st.binary(max_size=16) | text.map(_encoded)


def param(*valid) -> st.SearchStrategy:
    """Return a valid value of a query parameter three times in four, hostile bytes otherwise."""
    return st.one_of(*([st.sampled_from(valid)] * 3), hostile_bytes)


query_params = st.fixed_dictionaries(
    {},
    optional={
        "q": text.map(_encoded) | hostile_bytes,
        "app": param(b"acme-key", b"acme-oauth2"),
        "status": param(b"active", b"expired", b"error", b"revoked"),
        "kind": param(b"tenant", b"global"),
        "page": param(b"1", b"2", b"99999999999999999999") | st.integers().map(_encoded),
        "page_size": param(b"1", b"100", b"99999999999999999999") | st.integers().map(_encoded),
        "consumer": text.map(_encoded) | hostile_bytes,
        "extra": hostile_bytes,
    },
)
query_strings = query_params.map(
    lambda params: "&".join(f"{key}={quote_from_bytes(value)}" for key, value in params.items())
)


@pytest.fixture
def world(tenant, admin_member):
    """The apps, one connection, a token with every scope and the mocked outside world."""
    for mode in ("api_key", "oauth2", "custom", "basic"):
        make_app(mode)
    app = make_app("api_key", slug="acme-key-2", name="Acme Keys 2")
    connection = Connection.all_objects.create(
        tenant=tenant,
        app=app,
        name="Main",
        config={"subdomain": "acme"},
        credentials=secret_seal(payload={"api_key": "k"}, purpose="connection"),
    )
    raw = api_token_create(tenant=tenant, name="fuzz", actor=admin_member.user, scopes=ALL_SCOPES)[
        1
    ]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as outside:
        for method in ("GET", "POST"):
            outside.add(method, re.compile(r".*"), status=401, json={})
        yield client, connection


def assert_no_500(response):
    status = response.status_code
    assert response["Content-Type"].startswith("application/json"), (status, response.content[:200])
    body = response.json()
    if status >= 400:
        error = body["error"]
        assert (
            isinstance(error["code"], str)
            and isinstance(error["message"], str)
            and error["message"]
        )
    assert status < 500 or (status == 503 and body["error"]["code"] == "app_unavailable"), (
        response.content[:300]
    )


@settings(FUZZ, max_examples=700)
@given(body=create_bodies)
def test_create_never_answers_500(world, body):
    client, _ = world
    assert_no_500(
        client.post("/api/connections", data=json.dumps(body), content_type="application/json")
    )


@settings(FUZZ, max_examples=300)
@given(body=raw_bodies, content_type=content_types)
def test_create_with_junk_bodies_never_answers_500(world, body, content_type):
    client, _ = world
    assert_no_500(client.post("/api/connections", data=body, content_type=content_type))


@settings(FUZZ, max_examples=200)
@given(body=create_bodies.map(json.dumps) | raw_bodies, content_type=content_types)
def test_rename_never_answers_500(world, body, content_type):
    client, connection = world
    assert_no_500(
        client.patch(f"/api/connections/{connection.id}", data=body, content_type=content_type)
    )


@settings(FUZZ, max_examples=100)
@given(body=create_bodies.map(json.dumps) | raw_bodies, content_type=content_types)
def test_revoke_never_answers_500(world, body, content_type):
    client, connection = world
    assert_no_500(
        client.post(
            f"/api/connections/{connection.id}/revoke", data=body, content_type=content_type
        )
    )


@settings(FUZZ, max_examples=500)
@given(query=query_strings)
def test_list_never_answers_500(world, query):
    client, _ = world
    assert_no_500(client.get(f"/api/connections?{query}"))


@settings(FUZZ, max_examples=200)
@given(query=query_strings)
def test_item_and_credentials_never_answer_500(world, query):
    client, connection = world
    for suffix in ("", "/credentials"):
        assert_no_500(client.get(f"/api/connections/{connection.id}{suffix}?{query}"))
