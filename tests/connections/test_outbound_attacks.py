"""The attacks of the outbound-safety issue, as an operator would type them, against the real
catalog entries: a loopback listener must receive nothing, and each is a field error that
says what to change, before anything is created or sent.

The outbound layer is active (no OUTBOUND_ALLOW entry opens loopback), the DNS stub of
tests/conftest.py answers a public address for other names, and the responses library is
not active: a request that left would reach the network, so nothing here may leave.
"""

import io
import json
import time

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from catalog.models import App
from catalog.services import oauth_client_set
from connections.auth import mode_for
from connections.errors import ConnectionFailure
from connections.models import Attempt, Connection, ErrorCode, Event, WebhookDelivery
from connections.outbound import PRIVATE_ADDRESS_MESSAGE
from connections.services.attempts import attempt_start
from connections.services.health import connection_check
from connections.services.tenants import tenant_webhook_secret_rotate
from connections.services.webhooks import (
    test_event_payload as event_payload,  # not a test: pytest would collect it
)
from connections.services.webhooks import webhook_deliver

from .lifecycle_helpers import make_request
from .outbound_support import Listener

pytestmark = pytest.mark.django_db

PLATFORM_SECRET = "platform-client-secret-5f1c"


@pytest.fixture
def catalog(db, settings):
    settings.OUTBOUND_ALLOW = []
    call_command("sync_catalog", stdout=io.StringIO())
    for slug in ("zendesk", "shopify", "salesforce"):
        oauth_client_set(app=App.objects.get(slug=slug), client_id="platform-id",
                         client_secret=PLATFORM_SECRET)  # fmt: skip
    return {app.slug: app for app in App.objects.all()}


@pytest.fixture
def listener():
    with Listener() as server:
        yield server


def _nothing_reached(listener):
    time.sleep(0.05)  # a connection in flight would be accepted by now
    assert listener.accepted == 0 and listener.requests == []


# The host fields of the real entries, and the values of the issue (and their relatives).
HOST_FIELDS = [
    ("zendesk", "subdomain", {}),
    ("shopify", "shop", {}),
    ("salesforce", "my_domain", {}),
    ("freshdesk", "domain", {"api_key": "typed-freshdesk-key"}),
    ("jira", "site", {"email": "ada@example.com", "api_token": "typed-jira-token"}),
]
HOSTILE = [
    "{listener}/x?",
    "{listener}/y#",
    "x@{listener}/",
    "{listener}",
    "evil.com/x?",
    "x@evil.com/",
    "169.254.169.254/latest/meta-data?",
    "acme.evil.com",
    "acme%2Fevil",
    "a#",
    "acme.",
    "ac me",
    "acme\\evil",
    "ac\nme",  # a line break inside (typed values are trimmed around)
    "xn--80ak6aa92e.com/",
    "аcme",  # a Cyrillic а: a homograph
    "-acme",
    "a" * 64,
]


@pytest.mark.parametrize("slug, field, others", HOST_FIELDS, ids=[s for s, _f, _o in HOST_FIELDS])
@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_host_field_is_a_field_error_and_nothing_is_sent(
    catalog, listener, tenant, operator_member, slug, field, others, value
):
    typed = value.replace("{listener}", f"127.0.0.1:{listener.port}")
    with pytest.raises(ValidationError) as refused:
        attempt_start(tenant=tenant, user=operator_member.user, app=catalog[slug],
                      field_values={field: typed, **others}, request=make_request())  # fmt: skip

    errors = refused.value.error_dict
    assert list(errors) == [field] and errors[field][0].code == "unsafe"
    message = " ".join(errors[field][0].messages)
    assert str(listener.port) not in message and "evil" not in message  # never quoted
    assert Attempt.all_objects.count() == 0 and Connection.all_objects.count() == 0
    _nothing_reached(listener)


def test_the_subdomain_hint_names_the_provider_host(catalog, tenant, operator_member):
    with pytest.raises(ValidationError) as refused:
        attempt_start(tenant=tenant, user=operator_member.user, app=catalog["zendesk"],
                      field_values={"subdomain": "127.0.0.1:8443/x?"}, request=make_request())  # fmt: skip
    assert refused.value.message_dict == {
        "subdomain": ["Type only the subdomain, e.g. acme for acme.zendesk.com."]
    }


def test_a_good_subdomain_still_starts_the_authorization(catalog, tenant, operator_member):
    attempt, url = attempt_start(tenant=tenant, user=operator_member.user, app=catalog["zendesk"],
                                 field_values={"subdomain": "Acme"}, request=make_request())  # fmt: skip
    assert url.startswith("https://acme.zendesk.com/oauth/authorizations/new?")
    assert attempt.config == {"subdomain": "Acme"}


def test_a_tampered_attempt_never_sends_the_client_secret_elsewhere(
    catalog, listener, tenant, operator_member
):
    """Defence in depth: even a stored value that escaped the form cannot move the token URL."""
    attempt, _url = attempt_start(tenant=tenant, user=operator_member.user, app=catalog["zendesk"],
                                  field_values={"subdomain": "acme"}, request=make_request())  # fmt: skip
    attempt.config = {"subdomain": f"127.0.0.1:{listener.port}/x?"}
    attempt.save(update_fields=["config"])

    with pytest.raises(ConnectionFailure) as failure:
        mode_for(attempt.app).complete(attempt, request=None, params={"code": "stolen-code"})

    assert failure.value.code == ErrorCode.TEST_FAILED
    assert "Zendesk's Subdomain cannot be used" in failure.value.message
    _nothing_reached(listener)


def test_a_tampered_connection_never_sends_the_client_secret_on_refresh(
    catalog, listener, tenant, operator_member
):
    app = catalog["salesforce"]
    mode = mode_for(app)
    with pytest.raises(ConnectionFailure):
        mode.refresh(app, {"my_domain": f"x@127.0.0.1:{listener.port}/"}, {"refresh_token": "rt"})
    with pytest.raises(ConnectionFailure):
        mode.revoke(app, {"my_domain": f"127.0.0.1:{listener.port}/y#"}, {"refresh_token": "rt"})
    _nothing_reached(listener)


def test_the_connection_window_shows_the_field_error_and_keeps_the_other_values(
    catalog, listener, client_for, operator_member
):
    response = client_for(operator_member).post(
        reverse("connections:create", args=["freshdesk"]),
        {"name": "Help desk", "field_domain": f"127.0.0.1:{listener.port}/x?",
         "field_api_key": "typed-freshdesk-key"},
    )  # fmt: skip

    assert response.status_code == 400
    html = response.content.decode()
    assert "Type only the subdomain, e.g. acme for acme.freshdesk.com." in html
    assert 'value="Help desk"' in html and "typed-freshdesk-key" not in html
    assert Attempt.all_objects.count() == 0
    _nothing_reached(listener)


def test_the_api_answers_422_unsafe_value_and_creates_nothing(
    catalog, listener, client_for, operator_member
):
    response = client_for(operator_member).post(
        "/api/connections",
        data=json.dumps({"app": "shopify", "fields": {"shop": f"127.0.0.1:{listener.port}/y#"}}),
        content_type="application/json",
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unsafe_value" and list(error["fields"]) == ["shop"]
    assert Attempt.all_objects.count() == 0
    _nothing_reached(listener)


# Custom REST API: the operator's own base URL and test path.


def _custom(tenant, user, base_url, test_path="/admin/login/"):
    return attempt_start(
        tenant=tenant, user=user, app=App.objects.get(slug="custom-rest-api"),
        field_values={"base_url": base_url, "test_path": test_path,
                      "headers": {"Authorization": "Bearer typed-token"}},
        request=make_request(),
    )  # fmt: skip


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:{port}", "https://127.0.0.1:{port}/v1", "http://localhost:{port}",
     "http://[::1]:{port}", "http://0x7f000001:{port}", "http://2130706433:{port}",
     "http://127.1:{port}", "http://0.0.0.0:{port}", "http://[::ffff:127.0.0.1]:{port}",
     "https://169.254.169.254/latest", "https://10.0.0.8/", "https://100.64.0.1/",
     "https://[fd00::1]/", "https://user:pw@api.example.com/"],
)  # fmt: skip
def test_a_private_custom_base_url_is_refused_before_any_request(
    catalog, listener, tenant, operator_member, base_url
):
    with pytest.raises(ValidationError) as refused:
        _custom(tenant, operator_member.user, base_url.format(port=listener.port))

    errors = refused.value.message_dict
    assert list(errors) == ["base_url"]
    if "@" not in base_url:
        assert errors["base_url"] == [PRIVATE_ADDRESS_MESSAGE]
    assert Attempt.all_objects.count() == 0
    _nothing_reached(listener)


def test_an_open_and_a_closed_port_read_the_same(catalog, listener, tenant, operator_member):
    """The product is no port scanner: the answer does not depend on what listens."""
    closed = Listener()
    closed_port = closed.port
    closed._server.close()
    answers = []
    for port in (listener.port, closed_port):
        with pytest.raises(ValidationError) as refused:
            _custom(tenant, operator_member.user, f"http://127.0.0.1:{port}")
        answers.append(refused.value.message_dict)
    assert answers[0] == answers[1]
    _nothing_reached(listener)


@pytest.mark.parametrize(
    "test_path",
    ["http://127.0.0.1:{port}/admin/", "//127.0.0.1:{port}/x", "/../../admin", "/%2e%2e/admin",
     "/a%2fb", "admin", "/x\\y", "/x#y", "/@127.0.0.1"],
)  # fmt: skip
def test_an_absolute_or_escaping_test_path_is_refused(
    catalog, listener, tenant, operator_member, test_path
):
    with pytest.raises(ValidationError) as refused:
        _custom(tenant, operator_member.user, "https://api.example.com/v1",
                test_path.format(port=listener.port))  # fmt: skip

    assert list(refused.value.message_dict) == ["test_path"]
    assert Attempt.all_objects.count() == 0
    _nothing_reached(listener)


def test_outbound_allow_lets_an_install_reach_its_private_api_until_removed(
    catalog, listener, settings, tenant, operator_member
):
    settings.OUTBOUND_ALLOW = [f"127.0.0.1:{listener.port}"]
    settings.DEBUG = False
    attempt, _url = _custom(tenant, operator_member.user, listener.url, "/ping")
    assert attempt.connection is not None, attempt.error_message
    assert listener.accepted == 1 and b"Authorization: Bearer typed-token" in listener.requests[0]

    settings.OUTBOUND_ALLOW = []  # the administrator closes it again
    check = connection_check(connection=attempt.connection)

    assert check.ok is False and check.error_code == ErrorCode.TEST_FAILED
    assert PRIVATE_ADDRESS_MESSAGE in check.message
    time.sleep(0.05)
    assert listener.accepted == 1  # the check sent nothing


# Webhooks.


def test_a_private_webhook_url_is_a_form_error(catalog, listener, client_for, admin_member):
    url = f"http://127.0.0.1:{listener.port}/hook?token=webhook-query-secret"
    response = client_for(admin_member).post(reverse("tenants:settings"), {"webhook_url": url})

    assert response.status_code == 200
    assert PRIVATE_ADDRESS_MESSAGE in response.content.decode()
    admin_member.tenant.refresh_from_db()
    assert admin_member.tenant.webhook_url == ""
    _nothing_reached(listener)


def test_a_stored_private_webhook_is_not_delivered_and_not_quoted(
    catalog, listener, tenant, caplog
):
    tenant.webhook_url = f"http://127.0.0.1:{listener.port}/hook?token=webhook-query-secret"
    tenant.save(update_fields=["webhook_url"])
    tenant_webhook_secret_rotate(tenant=tenant, actor=None)

    assert webhook_deliver(tenant=tenant, payload=event_payload(tenant)) == 0

    _nothing_reached(listener)
    assert "webhook-query-secret" not in caplog.text
    assert not any("webhook-query-secret" in json.dumps(e.detail) for e in Event.all_objects.all())
    shown = WebhookDelivery.objects.for_tenant(tenant).get().url
    assert shown == f"http://127.0.0.1:{listener.port}/hook?…"


def test_the_settings_page_shows_the_webhook_masked_and_an_empty_save_keeps_it(
    client_for, admin_member
):
    tenant = admin_member.tenant
    tenant.webhook_url = (
        "https://hooks.example.com/services/T0/B0/webhook-path-secret?k=query-secret"
    )
    tenant.save(update_fields=["webhook_url"])
    client = client_for(admin_member)

    html = client.get(reverse("tenants:settings")).content.decode()
    assert "https://hooks.example.com/services/…?…" in html
    assert "webhook-path-secret" not in html and "query-secret" not in html

    response = client.post(
        reverse("tenants:settings"), {"action": "save", "webhook_url": ""}, follow=True
    )
    assert "The webhook address was kept" in response.content.decode()
    tenant.refresh_from_db()
    assert tenant.webhook_url.endswith("?k=query-secret")
