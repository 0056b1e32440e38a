"""The daily prune of proxy usage rows: older than PROXY_CALL_RETENTION_DAYS go, every tenant's."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from connections.models import ProxyCall, Usage
from connections.services.usage import proxy_calls_prune, usage_record
from connections.tasks import prune_proxy_calls

from .bg_support import api_key_app, make_connection

pytestmark = pytest.mark.django_db


def calls(connection, *, days_ago: float, count: int):
    at = timezone.now() - dt.timedelta(days=days_ago)
    ProxyCall.all_objects.bulk_create(
        ProxyCall(
            tenant=connection.tenant, connection=connection, consumer="Flow", method="GET", path="/x",
            status=200, created_at=at,
        )  # fmt: skip
        for _ in range(count)
    )


def test_rows_past_the_retention_go_in_batches_and_recent_ones_stay(tenant, other_tenant, settings):
    settings.PROXY_CALL_RETENTION_DAYS = 30
    mine = make_connection(tenant, api_key_app(), {"api_key": "k-1"})
    theirs = make_connection(other_tenant, api_key_app(), {"api_key": "k-2"}, name="Theirs")
    calls(mine, days_ago=45, count=7)
    calls(theirs, days_ago=31, count=5)
    calls(mine, days_ago=29, count=3)
    calls(theirs, days_ago=0, count=2)
    usage_record(tenant=tenant, connection=mine, consumer="Flow")
    assert proxy_calls_prune(batch=4) == 12
    assert ProxyCall.objects.for_tenant(tenant).count() == 3
    assert ProxyCall.objects.for_tenant(other_tenant).count() == 2
    assert Usage.objects.for_tenant(tenant).get().count == 1  # totals are not pruned
    assert proxy_calls_prune() == 0


def test_the_beat_task_and_the_command_prune(tenant, settings, capsys):
    settings.PROXY_CALL_RETENTION_DAYS = 7
    mine = make_connection(tenant, api_key_app(), {"api_key": "k-1"})
    calls(mine, days_ago=8, count=2)
    assert prune_proxy_calls() == 2
    calls(mine, days_ago=10, count=1)
    call_command("prune_proxy_calls")
    assert "Deleted 1 proxy call older than 7 days" in capsys.readouterr().out
    assert ProxyCall.objects.for_tenant(tenant).count() == 0


def test_the_beat_runs_it_daily(settings):
    job = settings.CELERY_BEAT_SCHEDULE["prune-proxy-calls"]
    assert job["task"] == "connections.tasks.prune_proxy_calls" and job["schedule"] == 24 * 3600.0
