"""Connection list benchmark: /connections/ for a tenant with 10,000 connections over 40 apps,
beside the Django admin changelist of the same rows.

Run with `make bench`. Prints the median server time (test Client, in process: URL routing,
middleware, queries and template rendering) and the query count of each page, and their ratio.
Targets: at most 10 queries per list page, and no slower than the admin changelist. The query
counts are asserted; the timings are printed beside the target since they depend on the machine.
"""

import os
import statistics
import time

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import App
from connections.models import Connection, ConnectionStatus, Member, Role, Tenant

pytestmark = [pytest.mark.bench, pytest.mark.django_db]

CONNECTIONS = int(os.environ.get("BENCH_LIST_CONNECTIONS", 10_000))
APPS = 40
REQUESTS = int(os.environ.get("BENCH_LIST_REQUESTS", 20))
MAX_QUERIES = 10
ADMIN_URL = "/admin/connections/connection/"


def _populate():
    tenant = Tenant.objects.create(name="Bench Corp", slug="bench")
    other = Tenant.objects.create(name="Other Corp", slug="other")
    user = get_user_model().objects.create_user(
        username="bench-admin", password="pw-for-bench", is_staff=True, is_superuser=True
    )
    Member.objects.create(user=user, tenant=tenant, role=Role.ADMIN)
    apps = App.objects.bulk_create(
        [
            App(slug=f"bench-app-{index:02d}", name=f"Bench App {index:02d}", category="crm", auth_mode="api_key", spec={})
            for index in range(APPS)
        ]
    )
    now = timezone.now()
    statuses = [ConnectionStatus.ACTIVE] * 7 + [ConnectionStatus.EXPIRED, ConnectionStatus.ERROR, ConnectionStatus.REVOKED]
    rows = [
        Connection(
            tenant=tenant, app=apps[index % APPS], name=f"Connection {index:05d}", status=statuses[index % len(statuses)],
            created_by=user, account_label=f"user{index}@bench.test", authorized_at=now, last_checked_at=now,
        )
        for index in range(CONNECTIONS)
    ]
    # Another tenant's rows share the table, as in production.
    rows += [
        Connection(tenant=other, app=apps[index % APPS], name=f"Other {index:05d}", created_by=user)
        for index in range(CONNECTIONS // 10)
    ]
    Connection.all_objects.bulk_create(rows, batch_size=2000)
    with db_connection.cursor() as cursor:
        cursor.execute("ANALYZE connections_connection")
    return user, tenant, apps


def _measure(client, url):
    """Return (median ms, min ms, queries, bytes) over REQUESTS requests, after two warm-ups."""
    for _ in range(2):
        assert client.get(url).status_code == 200
    timings = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(db_connection) as captured:
        response = client.get(url)
    return statistics.median(timings), min(timings), len(captured.captured_queries), len(response.content)


def test_connection_list_beside_admin_changelist(bench_table, settings):
    settings.DEBUG = False
    if not admin.site.is_registered(Connection):  # the project's ConnectionAdmin is used when present
        admin.site.register(Connection, admin.ModelAdmin)
    user, tenant, apps = _populate()
    client = Client()
    client.force_login(user)
    session = client.session
    session["tenant_id"] = tenant.pk
    session.save()

    last_page = -(-Connection.objects.for_tenant(tenant).exclude(status=ConnectionStatus.REVOKED).count() // 25)
    pages = [
        ("/connections/", "list, first page"),
        (f"/connections/?page={last_page}", f"list, last page ({last_page})"),
        (f"/connections/?app={apps[7].slug}&status=active", "list, app + status filter"),
        ("/connections/?q=Connection+04", "list, search"),
        ("/connections/?status=history", "list, history (revoked)"),
        (ADMIN_URL, "admin changelist"),
        (f"{ADMIN_URL}?app__id__exact={apps[7].pk}&status__exact=active", "admin, app + status filter"),
        (f"{ADMIN_URL}?q=Connection+04", "admin, search"),
    ]
    results = {label: _measure(client, url) for url, label in pages}

    admin_median = results["admin changelist"][0]
    table = bench_table(
        f"Connection list: {CONNECTIONS:,} connections over {APPS} apps, median of {REQUESTS} requests "
        f"(target: ≤{MAX_QUERIES} queries, ratio ≤ 1.00 vs the admin changelist)",
        ["page", "median ms", "min ms", "queries", "KB", "ratio vs admin"],
    )
    for _url, label in pages:
        median, fastest, queries, size = results[label]
        table.add(label, f"{median:.1f}", f"{fastest:.1f}", queries, f"{size / 1024:.0f}", f"{median / admin_median:.2f}")

    for _url, label in pages:
        if label.startswith("list"):
            assert results[label][2] <= MAX_QUERIES, (label, results[label][2])
