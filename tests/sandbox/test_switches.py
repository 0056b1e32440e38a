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


def test_switches_endpoint(sandbox):
    url = sandbox.url + "/sandbox/switches"

    armed = requests.post(url, json={"target": "api", "mode": "429", "count": 2, "retry_after": 3}, timeout=10)
    assert armed.status_code == 200
    assert armed.json()["switches"] == [
        {"id": armed.json()["switches"][0]["id"], "target": "api", "mode": "429", "remaining": 2, "seconds": 0.0, "retry_after": 3}
    ]
    assert me(sandbox).status_code == 429
    assert "api" in requests.get(url, timeout=10).json()["counts"]

    bad = requests.post(url, json={"target": "api", "mode": "teapot"}, timeout=10)
    assert bad.status_code == 400

    cleared = requests.post(url, json={"reset": True}, timeout=10)
    assert cleared.json()["switches"] == []
    assert me(sandbox).status_code == 200
