"""Single-flight refresh: 20 concurrent callers in several processes, one token request."""

import datetime as dt
import json
import subprocess
import sys
import time

import pytest
from django.utils import timezone

from connections.models import ConnectionStatus, GlobalConnection

from ..bg_support import ROOT, make_connection, make_global_copy, oauth2_app, oauth2_grant, stored, subprocess_env, token_works

pytestmark = pytest.mark.django_db(transaction=True)

# Each process starts `threads` callers at the same instant; each prints what it got.
CALLER = r"""
import json, sys, threading, time
import django
django.setup()
from django.db import connection as db
from connections.models import Connection, GlobalConnection
from connections.services.health import credentials_get

kind, pk, start_at, threads = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
model = GlobalConnection if kind == "global" else Connection
results = []

def call():
    row = (model.all_objects if hasattr(model, "all_objects") else model.objects).get(pk=pk)
    time.sleep(max(0.0, start_at - time.time()))
    try:
        results.append({"token": credentials_get(connection=row)["access_token"]})
    except Exception as exc:
        results.append({"error": repr(exc)})
    finally:
        db.close()

workers = [threading.Thread(target=call) for _ in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
print(json.dumps(results))
"""


def run_callers(env, refs, *, processes=5, threads=4):
    start_at = time.time() + 6  # time for every interpreter to start and load Django
    procs = []
    for index in range(processes):
        kind, pk = refs[index % len(refs)]
        procs.append(subprocess.Popen(
            [sys.executable, "-c", CALLER, kind, str(pk), str(start_at), str(threads)],
            env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"}, cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        results.extend(json.loads(out.strip().splitlines()[-1]))
    return results


def due_connection(sandbox, tenant):
    conn = make_connection(tenant, oauth2_app(sandbox), oauth2_grant(sandbox), expires_in=30,
                           authorized_at=timezone.now() - dt.timedelta(hours=1))
    sandbox.reset()
    return conn


def test_twenty_concurrent_refreshes_from_five_processes_make_one_token_request(sandbox, tenant):
    conn = due_connection(sandbox, tenant)
    results = run_callers(subprocess_env(sandbox.url), [("connection", conn.pk)], processes=5, threads=4)
    assert len(results) == 20
    assert [r for r in results if "error" in r] == []
    assert sandbox.token_requests() == 1
    final = stored(conn)["access_token"]
    assert {r["token"] for r in results} == {final}
    assert token_works(sandbox, final)
    conn.refresh_from_db()
    assert conn.status == ConnectionStatus.ACTIVE and conn.version == 2 and conn.consecutive_failures == 0


def test_global_copy_and_source_refreshing_at_once_share_one_token_request(sandbox, tenant):
    conn = due_connection(sandbox, tenant)
    copy = make_global_copy(conn)
    results = run_callers(
        subprocess_env(sandbox.url), [("connection", conn.pk), ("global", copy.pk)], processes=4, threads=3
    )
    assert [r for r in results if "error" in r] == []
    assert sandbox.token_requests() == 1
    assert {r["token"] for r in results} == {stored(conn)["access_token"]}
    copy = GlobalConnection.objects.get(pk=copy.pk)
    assert copy.version == 2 and copy.status == ConnectionStatus.ACTIVE


def test_without_redis_the_database_lease_keeps_it_single_flight(sandbox, tenant):
    """REDIS_URL empty: PostgreSQL advisory locks serve as the lease."""
    conn = due_connection(sandbox, tenant)
    env = {**subprocess_env(sandbox.url), "REDIS_URL": ""}
    results = run_callers(env, [("connection", conn.pk)], processes=4, threads=4)
    assert [r for r in results if "error" in r] == []
    assert sandbox.token_requests() == 1
    assert {r["token"] for r in results} == {stored(conn)["access_token"]}
