"""Selectors: every read is scoped to the tenant; missing and not-yours are the same 404."""

import uuid

import pytest
from django.http import Http404
from django.utils import timezone

from connections import selectors
from connections.models import Attempt, Connection, ConnectionStatus, Event, GlobalConnection

from .lifecycle_helpers import make_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def apps(db):
    return make_app("api_key"), make_app("basic")


def test_connection_get_for_tenant_404s_across_tenants(apps, tenant, other_tenant):
    mine = Connection.all_objects.create(tenant=tenant, app=apps[0], name="Mine")
    theirs = Connection.all_objects.create(tenant=other_tenant, app=apps[0], name="Theirs")
    assert selectors.connection_get_for_tenant(tenant=tenant, pk=mine.pk) == mine
    for pk in (theirs.pk, uuid.uuid4(), "not-a-uuid"):
        with pytest.raises(Http404):
            selectors.connection_get_for_tenant(tenant=tenant, pk=pk)


def test_list_filters_and_hides_revoked_unless_asked(apps, tenant, other_tenant, django_assert_max_num_queries):
    key, basic = apps
    Connection.all_objects.create(tenant=tenant, app=key, name="Alpha", account_label="ann@x")
    Connection.all_objects.create(tenant=tenant, app=basic, name="Beta", status=ConnectionStatus.EXPIRED)
    Connection.all_objects.create(tenant=tenant, app=basic, name="Gamma", status=ConnectionStatus.REVOKED)
    Connection.all_objects.create(tenant=other_tenant, app=key, name="Other")
    names = lambda qs: [c.name for c in qs]  # noqa: E731
    assert names(selectors.connection_list_for_tenant(tenant=tenant)) == ["Alpha", "Beta"]
    assert names(selectors.connection_list_for_tenant(tenant=tenant, app=basic.slug)) == ["Beta"]
    assert names(selectors.connection_list_for_tenant(tenant=tenant, app=key)) == ["Alpha"]
    assert names(selectors.connection_list_for_tenant(tenant=tenant, status="revoked")) == ["Gamma"]
    assert names(selectors.connection_list_for_tenant(tenant=tenant, q="ANN")) == ["Alpha"]
    with django_assert_max_num_queries(1):
        rows = list(selectors.connection_list_for_tenant(tenant=tenant))
        assert [r.app.name for r in rows] == ["Acme Keys", "Acme Basic"]


def test_attempts_and_events_are_scoped(apps, tenant, other_tenant):
    theirs = Attempt.all_objects.create(tenant=other_tenant, app=apps[0], name="x", expires_at=timezone.now())
    with pytest.raises(Http404):
        selectors.attempt_get_for_tenant(tenant=tenant, pk=theirs.pk)
    assert selectors.attempt_get_for_tenant(tenant=other_tenant, pk=theirs.pk) == theirs
    connection = Connection.all_objects.create(tenant=tenant, app=apps[0], name="Mine")
    Event.all_objects.create(tenant=tenant, connection=connection, kind="created")
    Event.all_objects.create(tenant=tenant, connection=connection, kind="renamed")
    assert [e.kind for e in selectors.events_for(connection)] == ["renamed", "created"]


def test_global_connections_visible_hides_unpublished_and_revoked(apps):
    live = GlobalConnection.objects.create(app=apps[0], name="Live")
    GlobalConnection.objects.create(app=apps[0], name="Gone", unpublished_at=timezone.now())
    GlobalConnection.objects.create(app=apps[0], name="Revoked", status=ConnectionStatus.REVOKED)
    assert list(selectors.global_connections_visible()) == [live]
    assert selectors.global_connection_get(pk=live.pk) == live
    Event.all_objects.create(global_connection=live, kind="published")
    assert [e.kind for e in selectors.events_for(live)] == ["published"]


def _connect(tenant, app, name):
    return Connection.all_objects.create(tenant=tenant, app=app, name=name)


def test_ordinals():
    assert [selectors.ordinal(n) for n in (1, 2, 3, 10, 11, 12, 13, 21, 22, 23, 101, 111)] == [
        "first", "second", "third", "tenth", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th",
    ]


def test_default_name_counts_live_connections_and_skips_taken_names(tenant, other_tenant):
    app = make_app("oauth2")
    assert selectors.connection_default_name(tenant=tenant, app=app) == "My first Acme CRM account"
    _connect(tenant, app, "My first Acme CRM account")
    _connect(other_tenant, app, "Theirs")
    assert selectors.connection_default_name(tenant=tenant, app=app) == "My second Acme CRM account"
    _connect(tenant, app, "My third Acme CRM account")
    # Two live: "third" would be next but is taken, so "fourth".
    assert selectors.connection_default_name(tenant=tenant, app=app) == "My fourth Acme CRM account"
    for i in range(8):
        _connect(tenant, app, f"n{i}")
    assert selectors.connection_default_name(tenant=tenant, app=app) == "My 11th Acme CRM account"
