import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog import schema
from catalog.models import App


def sync(*args):
    out = io.StringIO()
    call_command("sync_catalog", *[str(a) for a in args], stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


@pytest.fixture
def providers_dir(tmp_path, monkeypatch):
    directory = tmp_path / "providers"
    directory.mkdir()
    monkeypatch.setattr(schema, "PROVIDERS_DIR", directory)
    return directory


@pytest.mark.django_db
def test_check_rejects_broken_file_with_precise_message(write_provider, app_yaml):
    path = write_provider("crm.yaml", app_yaml("salesforce", "Salesforce").replace(
        "test: {method: GET, path: /me, account: user.email}", "test: {path: /me}"))
    with pytest.raises(CommandError) as info:
        sync(path, "--check")
    assert str(info.value) == f"{path}: app 'salesforce': test.method: required"


@pytest.mark.django_db
def test_check_writes_nothing(write_provider, app_yaml):
    path = write_provider("crm.yaml", app_yaml())
    assert sync(path, "--check") == "1 apps valid."
    assert not App.objects.exists()


@pytest.mark.django_db
def test_sync_is_idempotent(write_provider, app_yaml):
    path = write_provider("crm.yaml", app_yaml("one", "One") + app_yaml("two", "Two"))
    assert sync(path) == "2 created, 0 updated, 0 disabled, 0 unchanged"
    assert sync(path) == "0 created, 0 updated, 0 disabled, 2 unchanged"
    one = App.objects.get(slug="one")
    assert (one.name, one.category, one.auth_mode, one.source, one.enabled) == ("One", "crm", "api_key", "file", True)
    assert one.spec["test"] == {"account": "user.email", "method": "GET", "path": "/me"}


@pytest.mark.django_db
def test_changed_app_is_updated(write_provider, app_yaml):
    path = write_provider("crm.yaml", app_yaml("one", "One"))
    sync(path)
    write_provider("crm.yaml", app_yaml("one", "One Renamed"))
    assert sync(path) == "0 created, 1 updated, 0 disabled, 0 unchanged"
    assert App.objects.get(slug="one").name == "One Renamed"


@pytest.mark.django_db
def test_error_in_one_file_writes_nothing(write_provider, app_yaml):
    good = write_provider("good.yaml", app_yaml("good"))
    bad = write_provider("bad.yaml", app_yaml("bad").replace("category: crm", "category: nope"))
    with pytest.raises(CommandError, match=r"bad.yaml: app 'bad': category: must be one of"):
        sync(good, bad)
    assert not App.objects.exists()


@pytest.mark.django_db
def test_removed_apps_are_disabled_not_deleted(providers_dir, app_yaml):
    (providers_dir / "crm.yaml").write_text(app_yaml("one") + app_yaml("two", "Two"))
    App.objects.create(slug="by-admin", name="By admin", category="crm", auth_mode="api_key", source="admin")
    assert sync() == "2 created, 0 updated, 0 disabled, 0 unchanged"
    (providers_dir / "crm.yaml").write_text(app_yaml("one"))
    assert sync() == "0 created, 0 updated, 1 disabled, 1 unchanged"
    assert App.objects.get(slug="two").enabled is False
    assert App.objects.get(slug="by-admin").enabled is True
    # Back in a file: enabled again.
    (providers_dir / "crm.yaml").write_text(app_yaml("one") + app_yaml("two", "Two"))
    assert sync() == "0 created, 1 updated, 0 disabled, 1 unchanged"
    assert App.objects.get(slug="two").enabled is True


@pytest.mark.django_db
def test_explicit_files_do_not_disable_others(write_provider, app_yaml, providers_dir):
    (providers_dir / "crm.yaml").write_text(app_yaml("one"))
    sync()
    other = write_provider("other.yaml", app_yaml("two"))
    assert sync(other) == "1 created, 0 updated, 0 disabled, 0 unchanged"
    assert App.objects.get(slug="one").enabled is True


@pytest.mark.django_db
def test_admin_sourced_app_is_left_alone(write_provider, app_yaml):
    App.objects.create(slug="one", name="Mine", category="crm", auth_mode="api_key", source="admin")
    path = write_provider("crm.yaml", app_yaml("one", "From file"))
    assert sync(path) == "0 created, 0 updated, 0 disabled, 0 unchanged"
    assert App.objects.get(slug="one").name == "Mine"


@pytest.mark.django_db
def test_shipped_files_sync_twice_without_changes():
    first = sync()
    total = len(schema.validate_files(schema.default_files()))
    assert first == f"{total} created, 0 updated, 0 disabled, 0 unchanged"
    assert sync() == f"0 created, 0 updated, 0 disabled, {total} unchanged"
    assert App.objects.filter(enabled=True).count() == total
