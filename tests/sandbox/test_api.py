"""GET /sandbox/api/me with each kind of credential, and the sandbox home page."""

import re

import pytest
import requests

from sandbox import services
from sandbox.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)


def test_api_key_header(sandbox):
    answer = requests.get(sandbox.me_url, headers={"X-API-Key": sandbox.api_key}, timeout=10)

    assert answer.status_code == 200
    assert answer.json()["account"]["email"] == "demo@sandbox.test"
    assert sandbox.count("api") == 1


def test_basic_auth(sandbox):
    answer = requests.get(sandbox.me_url, auth=(sandbox.basic.username, sandbox.basic.password), timeout=10)

    assert answer.status_code == 200
    assert answer.json()["account"]["email"] == "demo@sandbox.test"


def test_each_account_sees_only_itself(sandbox):
    key = services.create_api_key("second@example.com")
    services.create_basic_account("second", "second-password", "second@example.com")

    by_key = requests.get(sandbox.me_url, headers={"X-API-Key": key}, timeout=10).json()["account"]
    by_basic = requests.get(sandbox.me_url, auth=("second", "second-password"), timeout=10).json()["account"]
    first = requests.get(sandbox.me_url, headers={"X-API-Key": sandbox.api_key}, timeout=10).json()["account"]

    assert by_key == by_basic
    assert by_key["email"] == "second@example.com"
    assert first["email"] == "demo@sandbox.test" and first["id"] != by_key["id"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"headers": {"X-API-Key": "sbx_not-a-key"}},
        {"auth": ("sandbox-user", "wrong-password")},
        {"auth": ("nobody", "pw")},
        {"headers": {"Authorization": "Bearer not-a-token"}},
        {"headers": {"Authorization": "Basic !!!"}},
        {"headers": {"Authorization": 'OAuth oauth_consumer_key="x"'}},
    ],
    ids=["none", "bad-key", "bad-password", "unknown-user", "bad-bearer", "garbled-basic", "garbled-oauth1"],
)
def test_bad_credentials_get_401(sandbox, kwargs):
    answer = requests.get(sandbox.me_url, timeout=10, **kwargs)

    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid_token"}
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="sandbox", error="invalid_token"'


def test_services_are_idempotent(db):
    first = services.ensure_client(client_id="c", client_secret="s", redirect_uris=["http://x/cb"])
    again = services.ensure_client(
        client_id="c", client_secret="s2", redirect_uris=["http://x/cb2"], access_token_lifetime=5
    )
    assert first.pk == again.pk
    again.refresh_from_db()
    assert again.redirect_uris == ["http://x/cb2"] and again.access_token_lifetime == 5
    one = services.ensure_oauth1_client(client_key="k", client_secret="s", callback_uris=["http://x/cb"], name="N")
    assert services.ensure_oauth1_client(client_key="k", client_secret="s", callback_uris=["http://x/cb"], name="N").pk == one.pk
    login = services.create_basic_account("u", "p", "a@example.com")
    assert services.create_basic_account("u", "p", "a@example.com").pk == login.pk
    assert str(login) == "u" and "p" not in str(one)


def test_home_page_lists_clients_and_creates_an_api_key_shown_once(sandbox):
    browser = requests.Session()
    home = browser.get(sandbox.url + "/sandbox/", timeout=10)
    assert home.status_code == 200
    assert sandbox.client_id in home.text and sandbox.oauth1_client_key in home.text
    assert sandbox.redirect_uri in home.text
    assert "Create a test API key" in home.text
    assert sandbox.client_secret not in home.text and sandbox.oauth1_client_secret not in home.text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', home.text).group(1)

    created = browser.post(
        sandbox.url + "/sandbox/api-keys",
        data={"csrfmiddlewaretoken": token, "email": "keys@example.com"},
        timeout=10,
    )

    assert created.status_code == 200
    key = re.search(r'<span class="key">([^<]+)</span>', created.text).group(1)
    answer = requests.get(sandbox.me_url, headers={"X-API-Key": key}, timeout=10)
    assert answer.json()["account"]["email"] == "keys@example.com"
    assert key not in browser.get(sandbox.url + "/sandbox/", timeout=10).text
    assert ApiKey.objects.count() == 2
