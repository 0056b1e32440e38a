"""The beat refresh sweep selects exactly the connections the refresh task will refresh."""

import datetime as dt

import pytest
from django.utils import timezone

from connections.services.refresh import refresh_due
from connections.services.sweeps import due_for_refresh
from vault.services import secret_replace

from ..lifecycle_helpers import make_app

pytestmark = pytest.mark.django_db


def _oauth_connection(tenant, *, issued, lifetime):
    from connections.models import Connection
    from vault.services import secret_seal

    expires = issued + dt.timedelta(seconds=lifetime)
    credentials = {"access_token": "at", "refresh_token": "rt", "expires_at": expires.timestamp()}
    return Connection.all_objects.create(
        tenant=tenant, app=make_app("oauth2"), name="CRM",
        credentials=secret_seal(payload=credentials, purpose="connection"),
        authorized_at=issued, expires_at=expires, version=1,
    )


def _simulate(connection, *, lifetime, hours):
    """Sweep every minute for `hours`; a selected connection is refreshed when the task finds it due.

    Return (enqueues, refreshes, fresh answers): a "fresh" answer is a task queued for nothing.
    """
    start = connection.authorized_at
    enqueues = refreshes = fresh = 0
    for minute in range(hours * 60):
        now = start + dt.timedelta(minutes=minute)
        if (("connection", str(connection.pk)) not in set(due_for_refresh(now=now))):
            continue
        enqueues += 1
        credentials = {"refresh_token": "rt", "expires_at": connection.expires_at.timestamp()}
        if not refresh_due(connection, credentials, now=now):
            fresh += 1
            continue
        refreshes += 1  # what the token request does to the row
        connection.last_refreshed_at = now
        connection.expires_at = now + dt.timedelta(seconds=lifetime)
        connection.save(update_fields=["last_refreshed_at", "expires_at"])
        secret_replace(
            secret=connection.credentials,
            payload={"access_token": "at", "refresh_token": "rt", "expires_at": connection.expires_at.timestamp()},
        )
    return enqueues, refreshes, fresh


@pytest.mark.parametrize("lifetime", [3600, 1800, 900, 300, 120])
def test_one_enqueue_per_refresh_not_one_per_sweep(tenant, settings, lifetime):
    settings.REFRESH_WINDOW = 600  # the default
    issued = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(days=1)
    connection = _oauth_connection(tenant, issued=issued, lifetime=lifetime)
    enqueues, refreshes, fresh = _simulate(connection, lifetime=lifetime, hours=3)
    assert fresh == 0
    assert enqueues == refreshes
    # one refresh per lifetime minus the (capped) window: a 1-hour token about 3 in 3 hours
    assert refreshes >= (3 * 3600) // lifetime


def test_the_sweep_and_the_task_agree_at_every_minute_of_a_token(tenant, settings):
    settings.REFRESH_WINDOW = 600
    issued = timezone.now().replace(microsecond=0) - dt.timedelta(hours=2)
    connection = _oauth_connection(tenant, issued=issued, lifetime=900)
    credentials = {"refresh_token": "rt", "expires_at": connection.expires_at.timestamp()}
    for second in range(0, 1200, 15):
        now = issued + dt.timedelta(seconds=second)
        selected = ("connection", str(connection.pk)) in set(due_for_refresh(now=now))
        assert selected == refresh_due(connection, credentials, now=now), second
