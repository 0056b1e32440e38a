"""The connection list's query count does not grow with the number of connections."""

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import App
from connections.models import Connection, ConnectionStatus, GlobalConnection

MAX_QUERIES = 10


def _fill(member, count, apps=5):
    app_rows = [
        App.objects.create(slug=f"bulk-{index}", name=f"Bulk {index}", category="crm", auth_mode="api_key", spec={})
        for index in range(apps)
    ]
    now = timezone.now()
    statuses = [ConnectionStatus.ACTIVE, ConnectionStatus.EXPIRED, ConnectionStatus.ERROR, ConnectionStatus.REVOKED]
    Connection.all_objects.bulk_create(
        [
            Connection(
                tenant=member.tenant, app=app_rows[index % apps], name=f"Connection {index:05d}",
                status=statuses[index % len(statuses)], created_by=member.user, account_label=f"user{index}@acme.test",
                authorized_at=now, last_checked_at=now,
            )
            for index in range(count)
        ],
        batch_size=500,
    )
    GlobalConnection.objects.create(app=app_rows[0], name="Shared")
    return app_rows


def _count_queries(client, **params):
    with CaptureQueriesContext(db_connection) as captured:
        response = client.get(reverse("connections:list"), params)
    assert response.status_code == 200
    return len(captured.captured_queries), response


@pytest.mark.parametrize("count", [10, 1000])
def test_list_queries_do_not_grow(client_for, operator_member, django_assert_max_num_queries, count):
    _fill(operator_member, count)
    client = client_for(operator_member)
    client.get(reverse("connections:list"))  # warm the session and content types
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(reverse("connections:list"))
    assert response.status_code == 200
    assert "Connection 00000" in response.content.decode()


def test_query_count_is_the_same_for_10_and_1000(client_for, operator_member, make_member, other_tenant):
    small = make_member(other_tenant, "operator", username="small-op")
    _fill(operator_member, 1000, apps=5)
    Connection.all_objects.bulk_create(
        [
            Connection(tenant=small.tenant, app=App.objects.get(slug=f"bulk-{index % 5}"), name=f"S{index}",
                       created_by=small.user)
            for index in range(10)
        ]
    )
    big_count, _ = _count_queries(client_for(operator_member))
    big_count, _ = _count_queries(client_for(operator_member))
    small_count, _ = _count_queries(client_for(small))
    small_count, _ = _count_queries(client_for(small))
    assert big_count == small_count
    filtered, _ = _count_queries(client_for(operator_member), app="bulk-1", status="active", q="Connection", page=3)
    assert filtered <= MAX_QUERIES
