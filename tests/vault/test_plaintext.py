"""Plaintext never reaches the database, SQL, logs, __str__/__repr__, error reports or the admin."""

import base64
import datetime
import io
import json
import logging
import sys
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.views.debug import ExceptionReporter

from vault.models import Secret
from vault.services import VaultError, secret_open, secret_replace, secret_seal


@pytest.fixture
def canary():
    return f"CANARY-{uuid.uuid4().hex}-do-not-store"


def forms_of(text: str) -> list[bytes]:
    """Return the byte strings that would betray text: raw, UTF-16, hex, base64 at any offset."""
    raw = text.encode()
    forms = [raw, text.encode("utf-16-le"), raw.hex().encode(), raw.hex().upper().encode()]
    for shift in range(3):
        # The middle of the base64 of any stream holding text at this alignment.
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms.append(encode(raw[shift:])[:-4])
    forms.append(json.dumps(text).encode())
    return forms


def as_bytes(value) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def assert_nowhere(canary: str, haystack) -> None:
    blob = haystack if isinstance(haystack, bytes) else as_bytes(haystack)
    for form in forms_of(canary):
        assert form not in blob, f"found {form!r}"


def dump_database() -> bytes:
    """Return every value of every table, read with raw SQL, as one byte string."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                chunks.extend(as_bytes(value) for value in row)
                # Binary columns also as the text forms a dump or admin would show.
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(base64.b64encode(bytes(value)))
    return b"\n".join(chunks)


@pytest.mark.django_db
def test_known_secret_appears_nowhere_in_the_database(use_keys, canary):
    with CaptureQueriesContext(connection) as queries:
        secret = secret_seal(payload={"api_key": canary}, purpose="connection")
        replaced = secret_seal(payload={"password": "first"}, purpose="attempt")
        secret_replace(secret=replaced, payload={"password": canary})
        use_keys("k2", "k1")
        call_command("rotate_vault_keys", stdout=io.StringIO(), stderr=io.StringIO())
        for pk in (secret.pk, replaced.pk):
            assert canary in json.dumps(secret_open(secret=Secret.objects.get(pk=pk)))

    # Every column of vault_secret, read raw.
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM vault_secret")
        columns = [column.name for column in cursor.description]
        rows = cursor.fetchall()
    assert set(columns) == {"id", "purpose", "key_id", "ciphertext", "created_at", "updated_at"}
    assert len(rows) == 2
    for row in rows:
        for value in row:
            assert_nowhere(canary, value)
    # Every table, for good measure, and every statement we sent with its parameters.
    assert_nowhere(canary, dump_database())
    assert queries.captured_queries
    assert_nowhere(canary, "\n".join(query["sql"] for query in queries.captured_queries))


@pytest.mark.django_db
def test_logs_hold_no_plaintext(use_keys, canary, caplog):
    caplog.set_level(logging.DEBUG)
    secret = secret_seal(payload={"token": canary}, purpose="connection")
    secret_open(secret=secret)
    use_keys("k2", "k1")
    call_command("rotate_vault_keys", stdout=io.StringIO(), stderr=io.StringIO())
    use_keys("k3")
    with pytest.raises(VaultError):
        secret_open(secret=Secret.objects.get(pk=secret.pk))
    assert_nowhere(canary, caplog.text)


@pytest.mark.django_db
def test_str_and_repr_show_no_plaintext_nor_ciphertext(use_keys, canary):
    secret = secret_seal(payload={"token": canary}, purpose="webhook")
    stored = Secret.objects.get(pk=secret.pk)
    for obj in (secret, stored):
        for text in (str(obj), repr(obj)):
            assert_nowhere(canary, text)
            assert str(secret.pk) in text
            assert "webhook" in text and "k1" in text
            assert base64.b64encode(bytes(stored.ciphertext)).decode() not in text
            assert bytes(stored.ciphertext).hex() not in text


class Hidden:
    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return "<hidden>"


@pytest.mark.django_db
def test_error_reports_hide_the_payload(use_keys, canary, settings, monkeypatch):
    settings.DEBUG = False

    def report_of(call):
        try:
            call()
        except Exception:
            reporter = ExceptionReporter(None, *sys.exc_info())
            # The HTML report (error pages, admin emails) shows each frame's local variables.
            html = reporter.get_traceback_html()
            assert "Local vars" in html
            return reporter.get_traceback_text() + html
        raise AssertionError("expected an exception")

    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Secret, "save", broken_save)
    # The report shows the test's own frames too: hold the canary where its repr hides it.
    hidden = Hidden(canary)
    text = report_of(lambda: secret_seal(payload={"token": hidden.value}, purpose="connection"))
    assert "database went away" in text and "secret_seal" in text
    assert "<td>payload</td>" in text
    assert_nowhere(canary, text)
    assert "VAULT_KEYS = '********************'" in text
    monkeypatch.undo()

    use_keys("k1")
    secret = secret_seal(payload={"token": canary}, purpose="connection")
    # json.loads fails with the plaintext as its argument: that frame is hidden too.
    monkeypatch.setattr("vault.services.json.loads", lambda text: 1 / 0)
    text = report_of(lambda: secret_open(secret=secret))
    assert "ZeroDivisionError" in text and "decrypt" in text
    assert_nowhere(canary, text)


@pytest.mark.django_db
def test_unserializable_payload_is_a_vault_error_without_the_value(use_keys, canary):
    with pytest.raises(VaultError, match="must be JSON-serializable") as caught:
        secret_seal(payload={"token": canary, "when": datetime.datetime(2030, 1, 1)}, purpose="x")
    assert caught.value.__suppress_context__
    assert_nowhere(canary, str(caught.value))
    assert not Secret.objects.exists()


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser(
        username="root", email="root@example.com", password="pw-for-tests-only"
    )
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_admin_lists_secrets_without_plaintext_or_ciphertext(use_keys, canary, staff_client):
    secret = secret_seal(payload={"client_secret": canary}, purpose="oauth_client")
    ciphertext = bytes(Secret.objects.get(pk=secret.pk).ciphertext)

    pages = [
        staff_client.get("/admin/vault/secret/"),
        staff_client.get("/admin/vault/secret/", {"q": str(secret.pk)}),
        staff_client.get("/admin/vault/secret/", {"q": "not-a-uuid"}),
        staff_client.get(f"/admin/vault/secret/{secret.pk}/change/"),
        staff_client.get(f"/admin/vault/secret/{secret.pk}/history/"),
    ]

    for response in pages:
        assert response.status_code == 200
        body = response.content
        assert_nowhere(canary, body)
        assert base64.b64encode(ciphertext) not in body
        assert ciphertext.hex().encode() not in body
        assert b"Ciphertext" not in body and b"ciphertext" not in body
    listing, found, not_found, detail = (page.content.decode() for page in pages[:4])
    assert str(secret.pk) in listing and "oauth_client" in listing and "k1" in listing
    assert str(secret.pk) in found
    assert str(secret.pk) not in not_found
    assert "oauth_client" in detail and "k1" in detail


@pytest.mark.django_db
def test_admin_cannot_add_change_or_delete_secrets(use_keys, staff_client):
    secret = secret_seal(payload={"k": "v"}, purpose="connection")
    assert staff_client.get("/admin/vault/secret/add/").status_code == 403
    response = staff_client.post(
        f"/admin/vault/secret/{secret.pk}/change/", {"purpose": "webhook", "key_id": "k9"}
    )
    assert response.status_code == 403
    assert (
        staff_client.post(f"/admin/vault/secret/{secret.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    stored = Secret.objects.get(pk=secret.pk)
    assert (stored.purpose, stored.key_id) == ("connection", "k1")
    assert b"Add secret" not in staff_client.get("/admin/vault/secret/").content


@pytest.mark.django_db
def test_admin_is_for_staff_only(use_keys, client, django_user_model):
    secret_seal(payload={"k": "v"}, purpose="connection")
    user = django_user_model.objects.create_user(username="plain", password="pw-for-tests-only")
    client.force_login(user)
    response = client.get("/admin/vault/secret/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
