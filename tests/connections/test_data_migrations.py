"""Data migrations keep existing connections working."""

import importlib
import io

import pytest
from django.apps import apps
from django.core.management import call_command

from catalog.models import App
from connections.models import Connection

pytestmark = pytest.mark.django_db


def test_twilio_connections_take_their_account_sid_as_user_name(tenant):
    call_command("sync_catalog", stdout=io.StringIO())
    twilio, other = App.objects.get(slug="twilio"), App.objects.get(slug="stripe")
    old = Connection.all_objects.create(tenant=tenant, app=twilio, name="Old", config={"account_sid": "AC1"})
    keyed = Connection.all_objects.create(
        tenant=tenant, app=twilio, name="Key", config={"account_sid": "AC2", "username": "SK9"}
    )
    unrelated = Connection.all_objects.create(tenant=tenant, app=other, name="S", config={"account_sid": "x"})

    migration = importlib.import_module("connections.migrations.0008_twilio_user_name")
    migration.copy_account_sid(apps, None)

    for row in (old, keyed, unrelated):
        row.refresh_from_db()
    assert old.config == {"account_sid": "AC1", "username": "AC1"}
    assert keyed.config["username"] == "SK9" and "username" not in unrelated.config
