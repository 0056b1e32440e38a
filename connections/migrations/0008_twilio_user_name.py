"""Twilio's basic-auth user name became a field of its own (the Account SID, or an API key
SID with that key's secret). Connections made before it used the Account SID: they keep
working by taking it as their user name."""

from django.db import migrations


def copy_account_sid(apps, schema_editor):
    Connection = apps.get_model("connections", "Connection")
    for connection in Connection._default_manager.filter(app__slug="twilio").iterator():
        config = dict(connection.config or {})
        if config.get("account_sid") and not config.get("username"):
            config["username"] = config["account_sid"]
            connection.config = config
            connection.save(update_fields=["config"])


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0007_webhook_deliveries"),
    ]

    operations = [migrations.RunPython(copy_account_sid, migrations.RunPython.noop)]
