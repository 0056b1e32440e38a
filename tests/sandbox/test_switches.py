"""Failure switches and request counters."""

import threading
import time

import pytest
import requests
from django.db import connection

from sandbox import switches
from sandbox.models import Switch

pytestmark = pytest.mark.django_db(transaction=True)


def refresh_like(sandbox):
    """Send a token request that is refused normally (unknown refresh token): 400 invalid_grant."""
    return requests.post(
        sandbox.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "unknown"},
        auth=(sandbox.client_id, sandbox.client_secret),
        timeout=10,
    )


def me(sandbox, timeout=10):
    return requests.get(sandbox.me_url, headers={"X-API-Key": sandbox.api_key}, timeout=timeout)


def test_500_fires_exactly_count_times(sandbox):
    sandbox.set_switch("api", "500", count=2)

    statuses = [me(sandbox).status_code for _ in range(3)]

    assert statuses == [500, 500, 200]
    assert sandbox.count("api") == 3
    assert switches.active() == []


def test_429_sets_retry_after(sandbox):
    sandbox.set_switch("token", "429", retry_after=7)

    answer = refresh_like(sandbox)

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert answer.json()["error"] == "rate_limited"
    assert refresh_like(sandbox).json()["error"] == "invalid_grant"
    assert sandbox.token_requests() == 2


def test_hang_sleeps_then_answers_normally(sandbox):
    sandbox.set_switch("api", "hang", seconds=1.5)

    with pytest.raises(requests.exceptions.ReadTimeout):
        me(sandbox, timeout=0.5)
    time.sleep(1.2)
    started = time.monotonic()
    assert me(sandbox).status_code == 200
    assert time.monotonic() - started < 1

    sandbox.set_switch("api", "hang", seconds=0.5)
    started = time.monotonic()
    answer = me(sandbox)
    assert answer.status_code == 200 and time.monotonic() - started >= 0.5


def test_invalid_grant_on_token_and_invalid_token_on_api(sandbox, pkce):
    sandbox.set_switch("all", "invalid_grant", count=2)

    token_answer = requests.post(
        sandbox.token_url,
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": sandbox.redirect_uri},
        auth=(sandbox.client_id, sandbox.client_secret),
        timeout=10,
    )
    api_answer = me(sandbox)

    assert token_answer.status_code == 400 and token_answer.json()["error"] == "invalid_grant"
    assert api_answer.status_code == 401 and api_answer.json() == {"error": "invalid_token"}
    assert me(sandbox).status_code == 200


def test_revoke_switch(sandbox):
    sandbox.set_switch("revoke", "500")

    answer = requests.post(
        sandbox.revoke_url, data={"token": "x"}, auth=(sandbox.client_id, sandbox.client_secret), timeout=10
    )

    assert answer.status_code == 500
    assert me(sandbox).status_code == 200
    assert sandbox.count("revoke") == 1
    again = requests.post(
        sandbox.revoke_url, data={"token": "x"}, auth=(sandbox.client_id, sandbox.client_secret), timeout=10
    )
    assert again.status_code == 200


def test_switch_for_one_target_leaves_others_alone(sandbox):
    sandbox.set_switch("token", "500")

    assert me(sandbox).status_code == 200
    assert refresh_like(sandbox).status_code == 500


def test_concurrent_requests_consume_exactly_n(sandbox):
    sandbox.set_switch("api", "500", count=5)
    statuses = []
    lock = threading.Lock()

    def call():
        status = me(sandbox).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=call) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] * 7 + [500] * 5
    assert sandbox.count("api") == 12


def test_concurrent_consume_in_threads_is_exact(transactional_db):
    switches.set_switch("token", "500", count=3)
    fired = []

    def consume():
        try:
            fired.append(switches.consume("token") is not None)
        finally:
            connection.close()

    threads = [threading.Thread(target=consume) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert fired.count(True) == 3
    assert Switch.objects.get().remaining == 0


def test_set_switch_validates(db):
    with pytest.raises(ValueError):
        switches.set_switch("nowhere", "500")
    with pytest.raises(ValueError):
        switches.set_switch("api", "teapot")
    with pytest.raises(ValueError):
        switches.set_switch("api", "500", count=0)


def test_reset_and_counters(db):
    switches.set_switch("api", "500", count=3)
    switches.hit("token")
    switches.hit("token")
    switches.hit("api")

    assert switches.count("token") == 2 and switches.count("api") == 1 and switches.count("revoke") == 0
    switches.reset()
    switches.reset_counts()
    assert switches.active() == [] and switches.count("token") == 0


@pytest.fixture
def staff_client(client, django_user_model):
    """Return a test client signed in as a staff user (the switches page needs one)."""
    client.force_login(django_user_model.objects.create_user("sandbox-staff", is_staff=True))
    return client


def test_switches_endpoint(sandbox, staff_client):
    url = "/sandbox/switches"

    armed = staff_client.post(
        url,
        {"target": "api", "mode": "429", "count": 2, "retry_after": 3},
        content_type="application/json",
    )
    assert armed.status_code == 200
    assert armed.json()["switches"] == [
        {"id": armed.json()["switches"][0]["id"], "target": "api", "mode": "429", "remaining": 2, "seconds": 0.0, "retry_after": 3}
    ]
    assert me(sandbox).status_code == 429
    assert "api" in staff_client.get(url).json()["counts"]

    teapot = {"target": "api", "mode": "teapot"}
    bad = staff_client.post(url, teapot, content_type="application/json")
    assert bad.status_code == 400

    cleared = staff_client.post(url, {"reset": True}, content_type="application/json")
    assert cleared.json()["switches"] == []
    assert me(sandbox).status_code == 200


def test_switches_refuse_anonymous_and_non_staff(sandbox, client, django_user_model):
    url = sandbox.url + "/sandbox/switches"
    body = {"target": "api", "mode": "hang", "seconds": 1}

    anonymous = [requests.post(url, json=body, timeout=10), requests.get(url, timeout=10)]
    client.force_login(django_user_model.objects.create_user("not-staff"))
    signed_in = [
        client.post("/sandbox/switches", body, content_type="application/json"),
        client.get("/sandbox/switches"),
    ]

    assert [answer.status_code for answer in anonymous + signed_in] == [403, 403, 403, 403]
    assert anonymous[0].json()["error"] == "forbidden"
    assert switches.active() == []


@pytest.mark.parametrize("seconds", [31, -1, 1e9, "NaN", "Infinity"])
def test_switch_seconds_are_bounded(staff_client, seconds):
    answer = staff_client.post(
        "/sandbox/switches",
        f'{{"target": "api", "mode": "hang", "seconds": {seconds}}}',
        content_type="application/json",
    )

    assert answer.status_code == 400
    assert "seconds" in answer.json()["error_description"]
    assert switches.active() == []


def test_switch_count_and_retry_after_are_bounded(db):
    with pytest.raises(ValueError):
        switches.set_switch("api", "500", count=switches.MAX_COUNT + 1)
    with pytest.raises(ValueError):
        switches.set_switch("token", "429", retry_after=switches.MAX_RETRY_AFTER + 1)
    assert switches.set_switch("api", "hang", seconds=switches.MAX_SECONDS).seconds == 30


def test_a_cross_site_form_cannot_arm_a_switch(staff_client):
    answer = staff_client.post(
        "/sandbox/switches", '{"target": "api", "mode": "500"}', content_type="text/plain"
    )

    assert answer.status_code == 415
    assert switches.active() == []


def test_a_hang_stored_before_the_bound_sleeps_at_most_the_bound(sandbox, monkeypatch):
    from sandbox import views

    Switch.objects.create(target="api", mode="hang", remaining=1, seconds=3600)
    slept = []
    monkeypatch.setattr(views.time, "sleep", slept.append)

    assert me(sandbox).status_code == 200
    assert slept == [switches.MAX_SECONDS]
