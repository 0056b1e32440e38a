"""Leases and the per-app check cap: Redis, PostgreSQL advisory locks, and the task's retry."""

import threading
import time

import pytest
from celery.exceptions import Retry

from connections import locks
from connections.models import ConnectionStatus, HealthCheck
from connections.services import sweeps
from connections.tasks import check_connection

from .bg_support import api_key_app, make_connection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["redis", "postgres"])
def backend(request, settings):
    if request.param == "postgres":
        settings.REDIS_URL = ""
    return request.param


def test_lease_is_exclusive_and_released(backend):
    key = f"test:{time.time()}"
    with locks.lease(key, ttl=30) as first:
        assert first
        outcome = {}

        def other():
            from django.db import connection

            with locks.lease(key, ttl=30, wait=0.2) as second:
                outcome["second"] = second
            connection.close()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert outcome["second"] is False
    with locks.lease(key, ttl=30) as again:
        assert again


def test_redis_lease_expires_so_a_crashed_holder_blocks_briefly():
    key = f"test:ttl:{time.time()}"
    store = locks.backend()
    assert store.try_acquire(key, "crashed", 0.3)  # never released
    with locks.lease(key, ttl=5, wait=2) as mine:
        assert mine


def test_semaphore_caps_holders(backend):
    name = f"test:sem:{time.time()}"
    with locks.semaphore(name, slots=2) as a, locks.semaphore(name, slots=2) as b:
        assert a and b
        held = {}

        def third():
            from django.db import connection

            with locks.semaphore(name, slots=2, wait=0.2) as c:
                held["c"] = c
            connection.close()

        thread = threading.Thread(target=third)
        thread.start()
        thread.join()
        assert held["c"] is False


def test_full_app_slots_make_the_check_task_retry_later(sandbox, tenant, settings):
    settings.CHECKS_PER_APP = 1
    conn = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key})
    with locks.semaphore(f"checks:app:{conn.app_id}", slots=1) as held:
        assert held
        with pytest.raises(sweeps.ChecksFull):
            sweeps.check_one("connection", str(conn.pk), slot_wait=0.1)
        with pytest.raises(Retry):
            check_connection.apply(args=("connection", str(conn.pk)), throw=True)
    assert not HealthCheck.objects.filter(connection=conn).exists()
    assert isinstance(sweeps.check_one("connection", str(conn.pk)), HealthCheck)


def test_check_task_confirms_a_transient_failure_up_to_the_threshold(sandbox, tenant, settings):
    settings.FAILURE_THRESHOLD = 3
    conn = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key})
    sandbox.set_switch("api", "500", count=10)
    check_connection.apply(args=("connection", str(conn.pk)))  # eager: retries run at once
    conn.refresh_from_db()
    assert conn.status == ConnectionStatus.ERROR and conn.consecutive_failures == 3
    assert HealthCheck.objects.filter(connection=conn, ok=False).count() == 3


def test_a_second_checker_of_the_same_connection_skips(sandbox, tenant):
    conn = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key})
    with locks.lease(f"check:{conn.pk}", ttl=30):
        assert sweeps.check_one("connection", str(conn.pk)) == "busy"
    assert isinstance(sweeps.check_one("connection", str(conn.pk)), HealthCheck)
    assert sweeps.check_one("connection", str(conn.pk)) == "fresh"


def test_refresh_task_retries_no_sooner_than_retry_after(sandbox, tenant):
    from connections.tasks import refresh_connection

    from .bg_support import oauth2_app, oauth2_grant, stored, token_works

    import datetime as dt

    from django.utils import timezone

    conn = make_connection(tenant, oauth2_app(sandbox), oauth2_grant(sandbox), expires_in=20,
                           authorized_at=timezone.now() - dt.timedelta(hours=1))
    sandbox.reset()
    sandbox.set_switch("token", "429", count=1, retry_after=42)
    import connections.tasks as tasks

    countdowns = []
    real_backoff = tasks.backoff

    def spy(retries, *, retry_after=None):
        countdowns.append(real_backoff(retries, retry_after=retry_after))
        return countdowns[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tasks, "backoff", spy)
        refresh_connection.apply(args=("connection", str(conn.pk)))  # eager: the retry runs at once
    assert len(countdowns) == 1 and countdowns[0] >= 42
    conn.refresh_from_db()
    assert sandbox.token_requests() == 2  # the 429, then the retry that succeeded
    assert conn.status == ConnectionStatus.ACTIVE and conn.consecutive_failures == 0
    assert token_works(sandbox, stored(conn)["access_token"])


def test_system_check_refuses_limits_that_would_run_tasks_twice(settings):
    from config.celery import check_task_time_limits

    assert check_task_time_limits() == []
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT
    assert settings.CELERY_TASK_TIME_LIMIT < settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 100}
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 500
    assert [error.id for error in check_task_time_limits()] == ["config.E101", "config.E102"]
