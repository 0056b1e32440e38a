"""Beat's jobs on a real Redis broker and a real Celery worker (a subprocess started here)."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.utils import timezone

from connections import locks
from connections.models import Attempt, ConnectionStatus, HealthCheck
from connections.tasks import (
    abandon_stale_attempts,
    check_connections,
    refresh_connection,
    refresh_due_tokens,
    rotation_reminders,
)

from .bg_support import (
    ROOT,
    Worker,
    api_key_app,
    make_connection,
    oauth2_app,
    oauth2_grant,
    purge_broker,
    stored,
    subprocess_env,
    token_works,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def worker_env(sandbox):
    env = subprocess_env(sandbox.url)
    env["CHECK_SPREAD"] = "0"
    return env


@pytest.fixture
def worker(worker_env):
    purge_broker()
    started = Worker(worker_env, concurrency=2).start()
    yield started
    started.stop()


def due_oauth(sandbox, tenant, seconds_left=60):
    conn = make_connection(tenant, oauth2_app(sandbox), oauth2_grant(sandbox), expires_in=seconds_left,
                           authorized_at=timezone.now() - dt.timedelta(hours=1))
    sandbox.reset()
    return conn


def test_beat_jobs_enqueue_and_run_on_a_worker(sandbox, tenant, worker):
    due = due_oauth(sandbox, tenant)
    fresh = make_connection(tenant, oauth2_app(sandbox), oauth2_grant(sandbox),
                            last_checked_at=timezone.now())  # token valid an hour, checked now
    sandbox.reset()
    keyed = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key},
                            authorized_at=timezone.now() - dt.timedelta(days=200))
    stale = Attempt.all_objects.create(tenant=tenant, app=keyed.app, name="old",
                                       expires_at=timezone.now() - dt.timedelta(minutes=5))
    before = stored(due)

    refresh_due_tokens.delay()
    check_connections.delay()
    rotation_reminders.delay()
    abandon_stale_attempts.delay()

    wait_for(lambda: stored(due)["refresh_token"] != before["refresh_token"], timeout=40, message="refresh")
    wait_for(lambda: HealthCheck.objects.filter(connection=keyed, kind="check").exists(), timeout=40, message="check")
    wait_for(lambda: Attempt.all_objects.get(pk=stale.pk).status == Attempt.Status.ABANDONED, timeout=40,
             message="abandon")
    keyed.refresh_from_db()
    wait_for(lambda: type(keyed).all_objects.get(pk=keyed.pk).rotation_flagged_at is not None, timeout=40,
             message="rotation flag")
    assert token_works(sandbox, stored(due)["access_token"])
    due.refresh_from_db()
    assert due.status == ConnectionStatus.ACTIVE and due.version == 2
    time.sleep(1)
    assert sandbox.token_requests() == 1  # only the due one: the fresh token was left alone
    fresh.refresh_from_db()
    assert fresh.version == 1 and not HealthCheck.objects.filter(connection=fresh, kind="check").exists()


def _pool_children(worker):
    out = subprocess.run(["pgrep", "-P", str(worker.process.pid)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def test_worker_killed_during_a_refresh_loses_nothing(sandbox, tenant, worker_env):
    """SIGKILL the pool process running the refresh: the message is redelivered and completes."""
    purge_broker()
    solo = Worker(worker_env, concurrency=1).start()
    try:
        conn = due_oauth(sandbox, tenant)
        # Hold the grant's refresh lease so the task is caught mid-refresh, before the token request.
        with locks.lease(f"refresh:{conn.credentials_id}", ttl=60) as held:
            assert held
            refresh_connection.delay("connection", str(conn.pk))
            wait_for(lambda: "refresh_connection" in solo.output() and "received" in solo.output(),
                     timeout=20, message="task received")
            time.sleep(1.0)
            children = _pool_children(solo)
            assert len(children) == 1
            os.kill(children[0], signal.SIGKILL)
            wait_for(lambda: "WorkerLostError" in solo.output() or "SIGKILL" in solo.output(), timeout=20,
                     message="worker lost")
        assert sandbox.token_requests() == 0
        wait_for(lambda: type(conn).all_objects.get(pk=conn.pk).version == 2, timeout=40, message="redelivery")
        conn.refresh_from_db()
        assert conn.status == ConnectionStatus.ACTIVE
        assert token_works(sandbox, stored(conn)["access_token"])
        assert sandbox.token_requests() == 1
    finally:
        solo.stop()


def test_commands_run_once_without_a_worker(sandbox, tenant, capsys):
    due = due_oauth(sandbox, tenant)
    make_connection(tenant, oauth2_app(sandbox), oauth2_grant(sandbox))  # fresh
    sandbox.reset()
    call_command("refresh_tokens", "--quiet")
    assert "Refreshed 1, 0 failed, 0 skipped (fresh)" in capsys.readouterr().out
    due.refresh_from_db()
    assert due.version == 2 and sandbox.token_requests() == 1
    call_command("refresh_tokens", "--quiet")  # the new token is not due within the window (1 h)
    assert "Refreshed 0, 0 failed, 0 skipped (fresh)" in capsys.readouterr().out

    keyed = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key})
    call_command("check_connections", "--quiet")
    assert "Checked 3: 3 ok, 0 failed, 0 skipped" in capsys.readouterr().out
    call_command("check_connections", "--quiet")
    assert "Checked 0: 0 ok, 0 failed, 0 skipped" in capsys.readouterr().out
    call_command("check_connections", "--all", "--quiet")
    assert "Checked 3: 3 ok, 0 failed, 0 skipped" in capsys.readouterr().out
    assert HealthCheck.objects.filter(connection=keyed, kind="check").count() == 2

    type(keyed).all_objects.filter(pk=keyed.pk).update(authorized_at=timezone.now() - dt.timedelta(days=120))
    call_command("rotation_reminders")
    assert "Flagged 1 connection for rotation" in capsys.readouterr().out
    call_command("rotation_reminders")
    assert "Flagged 0 connections for rotation" in capsys.readouterr().out
    call_command("abandon_stale_attempts")
    assert "Abandoned 0 stale attempts" in capsys.readouterr().out


def test_sweep_enqueues_each_due_connection_once(sandbox, tenant):
    """Two sweeps back to back (or at once) queue a connection once: the enqueue mark."""
    purge_broker()
    due = due_oauth(sandbox, tenant)
    assert refresh_due_tokens.apply().get() == 1
    assert refresh_due_tokens.apply().get() == 0
    from config.celery import app

    with app.connection_for_write() as conn:
        assert conn.default_channel.client.llen("celery") == 1
    purge_broker()
    assert due.version == 1


def test_whole_worker_killed_mid_refresh_the_next_worker_finishes_it(sandbox, tenant, worker_env):
    """SIGKILL the whole worker (no goodbye): the unacked message returns after the visibility timeout."""
    purge_broker()
    env = {**worker_env, "CELERY_VISIBILITY_TIMEOUT": "5"}
    first = Worker(env, concurrency=1).start()
    conn = due_oauth(sandbox, tenant)
    try:
        with locks.lease(f"refresh:{conn.credentials_id}", ttl=60) as held:
            assert held
            refresh_connection.delay("connection", str(conn.pk))
            wait_for(lambda: "refresh_connection" in first.output() and "received" in first.output(),
                     timeout=20, message="task received")
            time.sleep(1.0)
            first.kill()
        assert sandbox.token_requests() == 0
        time.sleep(6)  # past the visibility timeout: the next worker restores it when it starts
        second = Worker(env, concurrency=1).start()
        try:
            wait_for(lambda: type(conn).all_objects.get(pk=conn.pk).version == 2, timeout=60,
                     message="redelivery to the next worker")
        finally:
            second.stop()
        conn.refresh_from_db()
        assert conn.status == ConnectionStatus.ACTIVE
        assert token_works(sandbox, stored(conn)["access_token"])
        assert sandbox.token_requests() == 1
    finally:
        first.stop()


def test_beat_keeps_a_short_lived_token_alive(sandbox, tenant, worker_env, tmp_path):
    """Real beat + worker: 6-second tokens, sweeps every second; the connection never lapses."""
    sandbox.set_token_lifetime(6)
    conn = make_connection(tenant, oauth2_app(sandbox), oauth2_grant(sandbox))
    sandbox.reset()
    purge_broker()
    env = {**worker_env, "REFRESH_SWEEP_EVERY": "1", "CHECK_SWEEP_EVERY": "3600"}
    worker = Worker(env, concurrency=2).start()
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
         "-s", str(tmp_path / "schedule")],
        env=env, cwd=ROOT, stdout=open(tmp_path / "beat.log", "w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lapses = 0
    try:
        deadline = time.monotonic() + 16
        while time.monotonic() < deadline:
            lapses += not token_works(sandbox, stored(conn)["access_token"])
            time.sleep(0.5)
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=20)
        worker.stop()
    conn.refresh_from_db()
    assert conn.status == ConnectionStatus.ACTIVE and conn.consecutive_failures == 0
    assert 3 <= sandbox.token_requests() <= 10  # about one per half-life (3 s), not one per sweep
    assert conn.version == 1 + sandbox.token_requests()
    assert lapses <= 2, (tmp_path / "beat.log").read_text()[-2000:]
