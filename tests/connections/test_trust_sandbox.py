"""Tenant trust against the sandbox over loopback (issue 11, items 1-4).

1. an attempt started with an API token is finished only by a signed-in member of its tenant,
   after a confirmation naming the company and the app;
2. a re-authorization revokes the superseded grant at the provider (`oauth2.revoke_superseded`);
3. a stale re-authorization (another one finished meanwhile) is refused, its grant revoked;
4. a global copy keeps exactly the reviewed credentials when its source is re-authorized.
"""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core import mail
from django.test import Client

from catalog.schema import PROVIDERS_DIR
from catalog.services import catalog_sync
from connections.models import (
    Attempt,
    Connection,
    ConnectionStatus,
    ErrorCode,
    Event,
    GlobalConnection,
    PublicationRequest,
)
from connections.services.attempts import attempt_start
from connections.services.publication import publication_approve, publication_request_create
from connections.services.tokens import api_token_create
from vault.services import secret_open

from .lifecycle_helpers import make_request

pytestmark = pytest.mark.django_db(transaction=True)

VICTIM = "demo-victim@sandbox.test"


@pytest.fixture
def apps(sandbox):
    catalog_sync(paths=[PROVIDERS_DIR / "sandbox.yaml"])
    sandbox.register_catalog_clients()
    return sandbox


def browser_of(member) -> Client:
    browser = Client()
    browser.force_login(member.user)
    session = browser.session
    session["tenant_id"] = member.tenant_id
    session.save()
    return browser


def land(browser, redirect_url):
    """Follow the provider's redirect back to our callback in this browser."""
    parts = urlsplit(redirect_url)
    return browser.get(parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()})


def token_attempt(tenant, admin_member, app="sandbox-oauth2"):
    """Start an attempt the way a flow does: API token, no browser session."""
    raw = api_token_create(
        tenant=tenant, name="flows", actor=admin_member.user, scopes=["attempts", "read"]
    )[1]
    response = Client().post(
        "/api/connections",
        data=json.dumps({"app": app}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"], response.json()["authorize_url"], raw


def alive(sandbox, credentials) -> bool:
    """Return whether the grant of these credentials still works at the provider."""
    me = requests.get(
        sandbox.me_url,
        headers={"Authorization": f"Bearer {credentials['access_token']}"},
        timeout=5,
    )
    if me.status_code != 200:
        return False
    answer = requests.post(
        sandbox.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": credentials["refresh_token"],
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        },
        timeout=5,
    )
    return answer.status_code == 200


def live_grants(email) -> int:
    from sandbox.models import RefreshToken

    return RefreshToken.objects.filter(
        account__email=email, revoked_at__isnull=True, used_at__isnull=True
    ).count()


def link(browser, sandbox, *, email=None):
    """Create a connection from a browser session (bound state); return it."""
    response = browser.post(
        "/api/connections",
        data=json.dumps({"app": "sandbox-oauth2"}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    landed = land(browser, sandbox.approve(response.json()["authorize_url"], email=email))
    assert landed.status_code == 302, landed.content[:300]
    return Attempt.all_objects.get(pk=response.json()["id"]).connection


def reauthorize(browser, member, connection):
    """Start a re-authorization in this browser; return (attempt, authorize URL)."""
    request = make_request(member.user, session=browser.session)
    attempt, url = attempt_start(
        tenant=connection.tenant,
        user=member.user,
        app=connection.app,
        connection=connection,
        request=request,
    )
    session = browser.session
    session[f"connections.oauth_state.{attempt.state_hash}"] = str(attempt.id)
    session.save()
    return attempt, url


def stored(row) -> dict:
    row.refresh_from_db()
    return secret_open(secret=row.credentials, purpose="connection")


# --- 1. An attempt started with an API token ------------------------------------------------


def test_token_attempt_finished_by_another_company_links_nothing(
    apps, tenant, admin_member, outsider_member
):
    sandbox = apps
    attempt_id, url, raw = token_attempt(tenant, admin_member)
    victim = browser_of(outsider_member)  # an admin of Globex opens Acme's link

    response = land(victim, sandbox.approve(url, email=VICTIM))

    assert response.status_code == 400
    assert "Acme" in response.content.decode()
    assert not Connection.all_objects.filter(account_label=VICTIM).exists()
    attempt = Attempt.all_objects.get(pk=attempt_id)
    assert attempt.status == Attempt.Status.FAILED
    assert attempt.error_code == ErrorCode.AUTHORIZATION_REJECTED
    assert live_grants(VICTIM) == 0  # nothing stays alive at the provider
    listed = Client().get("/api/connections", HTTP_AUTHORIZATION=f"Bearer {raw}").json()
    assert VICTIM not in json.dumps(listed)


def test_token_attempt_refuses_a_viewer_of_the_tenant(apps, tenant, admin_member, viewer_member):
    sandbox = apps
    attempt_id, url, _raw = token_attempt(tenant, admin_member)

    response = land(browser_of(viewer_member), sandbox.approve(url))

    assert response.status_code == 400
    assert Attempt.all_objects.get(pk=attempt_id).error_code == ErrorCode.AUTHORIZATION_REJECTED
    assert not Connection.all_objects.exists()


def test_token_attempt_asks_the_member_to_confirm_then_links(
    apps, tenant, admin_member, operator_member
):
    sandbox = apps
    attempt_id, url, raw = token_attempt(tenant, admin_member)
    browser = browser_of(operator_member)

    response = land(browser, sandbox.approve(url))

    confirm_url = f"/connections/attempts/{attempt_id}/confirm/"
    assert response.status_code == 302 and response["Location"] == confirm_url
    assert not Connection.all_objects.exists()  # nothing until the member says yes
    page = browser.get(confirm_url).content.decode()
    assert "Link your Sandbox OAuth2 account to Acme?" in page
    assert sandbox.email in page
    done = browser.post(confirm_url, {"decision": "link"})
    connection = Connection.all_objects.get(tenant=tenant)
    assert done.status_code == 302 and done["Location"] == connection.get_absolute_url()
    assert (
        connection.account_label == sandbox.email and connection.status == ConnectionStatus.ACTIVE
    )
    report = (
        Client()
        .get(f"/api/connections/{attempt_id}/test", HTTP_AUTHORIZATION=f"Bearer {raw}")
        .json()
    )
    assert report["status"] == "succeeded"


def test_token_attempt_declined_revokes_the_grant(apps, tenant, admin_member, operator_member):
    sandbox = apps
    attempt_id, url, _raw = token_attempt(tenant, admin_member)
    browser = browser_of(operator_member)
    land(browser, sandbox.approve(url, email=VICTIM))
    assert live_grants(VICTIM) == 1

    browser.post(f"/connections/attempts/{attempt_id}/confirm/", {"decision": "cancel"})

    assert not Connection.all_objects.exists()
    assert live_grants(VICTIM) == 0
    assert Attempt.all_objects.get(pk=attempt_id).status == Attempt.Status.ABANDONED


def test_token_attempt_confirmation_belongs_to_who_landed(
    apps, tenant, admin_member, operator_member, outsider_member
):
    sandbox = apps
    attempt_id, url, _raw = token_attempt(tenant, admin_member)
    land(browser_of(operator_member), sandbox.approve(url, email=VICTIM))
    confirm_url = f"/connections/attempts/{attempt_id}/confirm/"

    # Another admin of the same company cannot accept someone else's account for them…
    assert browser_of(admin_member).post(confirm_url, {"decision": "link"}).status_code == 404
    # …and another company does not even see the attempt.
    assert browser_of(outsider_member).get(confirm_url).status_code == 404
    assert browser_of(outsider_member).post(confirm_url, {"decision": "link"}).status_code == 404
    assert not Connection.all_objects.exists()


# --- 2. The superseded grant -----------------------------------------------------------------


def test_reauthorization_revokes_the_superseded_grant(apps, tenant, operator_member):
    sandbox = apps
    browser = browser_of(operator_member)
    connection = link(browser, sandbox)
    old = stored(connection)

    attempt, url = reauthorize(browser, operator_member, connection)
    response = land(browser, sandbox.approve(url))

    assert response.status_code == 302 and response["Location"] == connection.get_absolute_url()
    new = stored(connection)
    assert new["access_token"] != old["access_token"]
    assert not alive(sandbox, old)
    assert alive(sandbox, new)
    event = Event.objects.for_tenant(tenant).get(
        connection=connection, kind="superseded_grant_revoked"
    )
    assert event.detail["ok"] is True


def test_superseded_grant_kept_when_the_spec_says_so(apps, tenant, operator_member):
    sandbox = apps
    browser = browser_of(operator_member)
    connection = link(browser, sandbox)
    app = connection.app
    app.spec = {**app.spec, "oauth2": {**app.spec["oauth2"], "revoke_superseded": False}}
    app.save()
    old = stored(connection)

    _attempt, url = reauthorize(browser, operator_member, connection)
    land(browser, sandbox.approve(url))

    assert sandbox.count("revoke") == 0
    assert alive(sandbox, old)


def test_superseded_revocation_failure_is_shown_and_keeps_the_reauthorization(
    apps, tenant, operator_member
):
    sandbox = apps
    browser = browser_of(operator_member)
    connection = link(browser, sandbox)
    _attempt, url = reauthorize(browser, operator_member, connection)
    sandbox.set_switch("revoke", "500", count=5)

    response = land(browser, sandbox.approve(url))

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert Attempt.all_objects.get(pk=_attempt.pk).status == Attempt.Status.SUCCEEDED
    event = Event.objects.for_tenant(tenant).get(
        connection=connection, kind="superseded_grant_revoked"
    )
    assert event.detail["ok"] is False and "HTTP 500" in event.detail["message"]
    page = browser.get(response["Location"]).content.decode()
    assert "could not be revoked" in page


# --- 3. Stale re-authorizations --------------------------------------------------------------


def test_stale_confirmation_cannot_roll_back_a_newer_grant(apps, tenant, operator_member):
    sandbox = apps
    browser = browser_of(operator_member)
    connection = link(browser, sandbox)
    wrong, url = reauthorize(browser, operator_member, connection)
    land(
        browser, sandbox.approve(url, email="wrong.account@sandbox.test")
    )  # "different account" page, left open
    _right, url = reauthorize(browser, operator_member, connection)
    land(browser, sandbox.approve(url))  # the right account, applied at once
    current = stored(connection)

    response = browser.post(
        f"/connections/attempts/{wrong.pk}/confirm/", {"decision": "replace"}, follow=True
    )

    assert "changed after this re-authorization started" in response.content.decode()
    connection.refresh_from_db()
    assert connection.account_label == sandbox.email
    assert stored(connection) == current
    wrong.refresh_from_db()
    assert wrong.status == Attempt.Status.FAILED and wrong.pending_secret_id is None
    assert live_grants("wrong.account@sandbox.test") == 0


def test_two_racing_reauthorizations_apply_once(apps, tenant, operator_member):
    sandbox = apps
    browser = browser_of(operator_member)
    connection = link(browser, sandbox)
    first, first_url = reauthorize(browser, operator_member, connection)
    second, second_url = reauthorize(browser, operator_member, connection)
    first_redirect = sandbox.approve(first_url)
    land(browser, sandbox.approve(second_url))
    winner = stored(connection)

    response = land(browser, first_redirect)

    assert response.status_code == 400
    first.refresh_from_db()
    assert (
        first.status == Attempt.Status.FAILED
        and first.error_code == ErrorCode.AUTHORIZATION_REJECTED
    )
    assert stored(connection) == winner
    assert alive(sandbox, winner)
    assert live_grants(sandbox.email) == 1  # the loser's grant was revoked, the winner's lives


# --- 4. Publication integrity ----------------------------------------------------------------


@pytest.fixture
def published(apps, tenant, admin_member, django_user_model):
    sandbox = apps
    reviewer = django_user_model.objects.create_superuser(
        username="root", password="x", email="root@ops.test"
    )
    browser = browser_of(admin_member)
    source = link(browser, sandbox)
    publication = publication_request_create(
        connection=source, user=admin_member.user, reason="shared"
    )
    publication, _created = publication_approve(publication_request=publication, reviewer=reviewer)
    return (
        browser,
        source,
        GlobalConnection.objects.get(pk=publication.global_connection_id),
        reviewer,
    )


def reauthorize_as_another(browser, member, source, sandbox, email="other.account@sandbox.test"):
    attempt, url = reauthorize(browser, member, source)
    land(browser, sandbox.approve(url, email=email))
    return browser.post(f"/connections/attempts/{attempt.pk}/confirm/", {"decision": "replace"})


def globals_seen_by(member):
    body = browser_of(member).get("/api/connections?kind=global").json()
    return {item["id"]: item for item in body["results"]}


def test_global_keeps_the_reviewed_credentials(apps, published, admin_member, outsider_member):
    sandbox = apps
    browser, source, global_connection, _reviewer = published
    reviewed_secret = global_connection.credentials_id
    reviewed = stored(global_connection)
    mail.outbox.clear()

    reauthorize_as_another(browser, admin_member, source, sandbox)

    source.refresh_from_db()
    global_connection.refresh_from_db()
    assert source.account_label == "other.account@sandbox.test"
    assert source.credentials_id != reviewed_secret  # the source got a new Secret
    assert global_connection.credentials_id == reviewed_secret
    assert stored(global_connection) == reviewed
    assert global_connection.account_label == sandbox.email
    assert alive(sandbox, reviewed)  # not revoked as "superseded": the global still holds it
    seen = globals_seen_by(outsider_member)[str(global_connection.pk)]
    assert seen["account_label"] == sandbox.email
    assert Event.all_objects.filter(connection=source, kind="source_reauthorized").exists()
    assert Event.all_objects.filter(
        global_connection=global_connection, kind="source_reauthorized"
    ).exists()
    assert any("re-authorized" in message.subject for message in mail.outbox)


def test_single_grant_provider_sends_the_global_back_to_review(
    apps, published, admin_member, outsider_member
):
    sandbox = apps
    browser, source, global_connection, reviewer = published
    app = source.app
    app.spec = {**app.spec, "oauth2": {**app.spec["oauth2"], "revoke_superseded": False}}
    app.save()
    mail.outbox.clear()

    reauthorize_as_another(browser, admin_member, source, sandbox)

    global_connection.refresh_from_db()
    assert global_connection.unpublished_at is not None  # stops serving
    assert str(global_connection.pk) not in globals_seen_by(outsider_member)
    review = PublicationRequest.objects.get(
        connection=source, status=PublicationRequest.Status.PENDING
    )
    assert review.global_connection_id == global_connection.pk
    assert Event.all_objects.filter(
        global_connection=global_connection, kind="publication_review_reopened"
    ).exists()
    assert Event.all_objects.filter(connection=source, kind="publication_review_reopened").exists()
    assert mail.outbox  # staff are told

    publication_approve(publication_request=review, reviewer=reviewer)

    global_connection.refresh_from_db()
    assert global_connection.unpublished_at is None
    assert global_connection.account_label == "other.account@sandbox.test"
    assert (
        globals_seen_by(outsider_member)[str(global_connection.pk)]["account_label"]
        == "other.account@sandbox.test"
    )
    assert GlobalConnection.objects.count() == 1


def test_reauthorizing_a_global_source_is_still_only_for_its_tenant(
    apps, published, outsider_member
):
    _browser, source, _global, _reviewer = published
    other = browser_of(outsider_member)
    assert other.get(f"/connections/{source.pk}/reauthorize/").status_code == 404
