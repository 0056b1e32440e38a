import base64
import io
import threading
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

import vault.services
from vault.models import Secret
from vault.services import encrypt, secret_open, secret_replace, secret_seal, secrets_rotate


def seal_many(n: int, purpose: str = "connection") -> dict:
    """Seal n secrets under the current primary key; return {id: payload}."""
    sealed = {}
    for i in range(n):
        payload = {"access_token": f"tok-{i}-{uuid.uuid4().hex}", "n": i}
        sealed[secret_seal(payload=payload, purpose=purpose).pk] = payload
    return sealed


def ciphertexts() -> dict:
    return {pk: bytes(blob) for pk, blob in Secret.objects.values_list("pk", "ciphertext")}


def key_ids() -> dict:
    return dict(Secret.objects.values_list("pk", "key_id"))


def assert_open_to(sealed: dict) -> None:
    for secret in Secret.objects.filter(pk__in=list(sealed)):
        assert secret_open(secret=secret) == sealed[secret.pk]


def rotate(*args, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_vault_keys", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_rotation_moves_every_secret_to_the_new_key(use_keys):
    sealed = seal_many(7)
    before = ciphertexts()
    updated = dict(Secret.objects.values_list("pk", "updated_at"))
    use_keys("k2", "k1")

    out, err = rotate(batch_size=3)

    assert "Re-encrypted 7 secrets from keys {k1: 7} to k2 in " in out
    assert "; 0 already current." in out
    assert "the other keys can now be removed from VAULT_KEYS" in out
    assert set(key_ids().values()) == {"k2"}
    after = ciphertexts()
    assert all(after[pk] != before[pk] for pk in sealed)
    assert_open_to(sealed)
    # Re-encryption is not a change of the payload.
    assert dict(Secret.objects.values_list("pk", "updated_at")) == updated

    use_keys("k2")
    assert_open_to(sealed)


@pytest.mark.django_db
def test_rotation_handles_several_old_keys_and_counts_current_ones(use_keys):
    sealed = seal_many(3)
    use_keys("k3")
    sealed |= seal_many(2, purpose="oauth_client")
    use_keys("k2", "k1", "k3")
    sealed |= seal_many(4, purpose="attempt")

    out, _ = rotate()

    assert "Re-encrypted 5 secrets from keys {k1: 3, k3: 2} to k2" in out
    assert "; 4 already current." in out
    use_keys("k2")
    assert_open_to(sealed)


@pytest.mark.django_db
def test_a_second_run_has_nothing_to_do(use_keys):
    sealed = seal_many(4)
    use_keys("k2", "k1")
    rotate()
    before = ciphertexts()

    out, _ = rotate()

    assert "Re-encrypted 0 secrets from keys {} to k2" in out
    assert "4 already current." in out
    assert ciphertexts() == before
    assert_open_to(sealed)


@pytest.mark.django_db
def test_rotation_resumes_after_a_crash_without_re_encrypting_twice(use_keys, monkeypatch):
    sealed = seal_many(10)
    use_keys("k2", "k1")
    real_write = vault.services._write_batch
    writes = []

    def crash_on_second_batch(updates, primary_id):
        writes.append(len(updates))
        if len(writes) == 2:
            raise RuntimeError("killed mid-run")
        real_write(updates, primary_id)

    monkeypatch.setattr(vault.services, "_write_batch", crash_on_second_batch)
    with pytest.raises(RuntimeError, match="killed mid-run"):
        rotate(batch_size=3)

    # The first batch was committed, the second rolled back with its transaction.
    after_crash = key_ids()
    done = {pk for pk, key_id in after_crash.items() if key_id == "k2"}
    assert len(done) == 3
    assert sorted(done) == sorted(sealed)[:3]
    crashed_ciphertexts = ciphertexts()

    monkeypatch.setattr(vault.services, "_write_batch", real_write)
    out, _ = rotate(batch_size=3)

    assert "Re-encrypted 7 secrets from keys {k1: 7} to k2" in out
    assert "; 3 already current." in out
    final = ciphertexts()
    assert {pk: final[pk] for pk in done} == {pk: crashed_ciphertexts[pk] for pk in done}
    assert all(final[pk] != crashed_ciphertexts[pk] for pk in set(sealed) - done)
    use_keys("k2")
    assert_open_to(sealed)


@pytest.mark.django_db
def test_service_stopped_by_its_batch_hook_resumes(use_keys):
    sealed = seal_many(5)
    use_keys("k2", "k1")

    def stop(report, handled):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        secrets_rotate(batch_size=2, on_batch=stop)
    first = {pk: blob for pk, blob in ciphertexts().items() if key_ids()[pk] == "k2"}
    assert len(first) == 2

    report = secrets_rotate(batch_size=2)

    assert report.rotated == {"k1": 3}
    assert report.already_current == 2
    assert report.problems == 0
    assert {pk: ciphertexts()[pk] for pk in first} == first
    assert_open_to(sealed)


@pytest.mark.django_db
def test_unknown_key_id_is_reported_and_the_rest_is_rotated(use_keys):
    use_keys("k3")
    lost = seal_many(2)
    use_keys("k1")
    sealed = seal_many(3)
    lost_before = {pk: blob for pk, blob in ciphertexts().items() if pk in lost}
    use_keys("k2", "k1")

    with pytest.raises(CommandError, match=r"2 secret\(s\) are not under key k2"):
        rotate(batch_size=2)

    ids = key_ids()
    assert {ids[pk] for pk in sealed} == {"k2"}
    assert {ids[pk] for pk in lost} == {"k3"}
    assert {pk: blob for pk, blob in ciphertexts().items() if pk in lost} == lost_before
    assert_open_to(sealed)


@pytest.mark.django_db
def test_unknown_key_message_names_the_key_and_ids_but_no_plaintext(use_keys):
    use_keys("k3")
    lost = seal_many(2)
    use_keys("k2", "k1")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command("rotate_vault_keys", stdout=out, stderr=err)
    message = err.getvalue()
    assert "2 secret(s) are sealed with key 'k3', which is not in VAULT_KEYS" in message
    assert "Add 'k3' back to VAULT_KEYS" in message
    for pk, payload in lost.items():
        assert str(pk) in message
        assert payload["access_token"] not in message + out.getvalue()
    assert "Re-encrypted 0 secrets" in out.getvalue()


@pytest.mark.django_db
def test_tampered_secret_is_reported_and_left_alone(use_keys):
    sealed = seal_many(4)
    bad = sorted(sealed)[1]
    blob = bytearray(ciphertexts()[bad])
    blob[-1] ^= 0xFF
    Secret.objects.filter(pk=bad).update(ciphertext=bytes(blob))
    use_keys("k2", "k1")

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match=r"1 secret\(s\) are not under key k2"):
        call_command("rotate_vault_keys", batch_size=2, stdout=out, stderr=err)

    assert "Re-encrypted 3 secrets from keys {k1: 3} to k2" in out.getvalue()
    assert "1 secret(s) failed authentication" in err.getvalue()
    assert str(bad) in err.getvalue()
    assert key_ids()[bad] == "k1"
    assert ciphertexts()[bad] == bytes(blob)
    del sealed[bad]
    assert_open_to(sealed)


@pytest.mark.django_db
def test_dry_run_opens_everything_and_writes_nothing(use_keys):
    seal_many(4)
    use_keys("k2", "k1")
    before = ciphertexts()

    out, err = rotate("--dry-run", batch_size=3)

    assert "Dry run: would re-encrypt 4 secrets from keys {k1: 4} to k2; 0 already current" in out
    assert ciphertexts() == before
    assert set(key_ids().values()) == {"k1"}
    assert "Batch 2: 4/4 secrets handled (4 to re-encrypt, 0 failed)." in err


@pytest.mark.django_db
def test_progress_is_one_line_per_batch_when_not_a_terminal(use_keys):
    seal_many(5)
    use_keys("k2", "k1")
    _, err = rotate(batch_size=2)
    assert err.splitlines() == [
        "Batch 1: 2/5 secrets handled (2 re-encrypted, 0 failed).",
        "Batch 2: 4/5 secrets handled (4 re-encrypted, 0 failed).",
        "Batch 3: 5/5 secrets handled (5 re-encrypted, 0 failed).",
    ]
    _, err = rotate(verbosity=0)
    assert err == ""


@pytest.mark.django_db
def test_bad_options_and_bad_keys_are_command_errors(use_keys, settings):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        rotate(batch_size=0)
    settings.VAULT_KEYS = "k1:short"
    with pytest.raises(CommandError, match="VAULT_KEYS"):
        rotate()


@pytest.mark.django_db
def test_secret_replaced_during_the_run_keeps_its_new_payload(use_keys):
    sealed = seal_many(6)
    use_keys("k2", "k1")
    last = sorted(sealed)[-1]

    def writer_between_batches(report, handled):
        if report.batches == 1:
            secret_replace(secret=Secret.objects.get(pk=last), payload={"access_token": "new"})

    report = secrets_rotate(batch_size=2, on_batch=writer_between_batches)

    assert report.rotated == {"k1": 5}
    assert secret_open(secret=Secret.objects.get(pk=last)) == {"access_token": "new"}


@pytest.mark.django_db
def test_secret_sealed_under_an_old_key_during_the_run_is_caught_by_a_second_pass(use_keys, keys):
    sealed = seal_many(4)
    use_keys("k2", "k1")
    old_key = base64.b64decode(keys["k1"].split(":", 1)[1])
    early_id = uuid.UUID(int=0)

    def stale_process_writes(report, handled):
        # A process still on the old VAULT_KEYS seals a secret behind the cursor.
        if report.passes == 1 and report.batches == 1:
            payload = {"access_token": "written-by-a-stale-process"}
            Secret.objects.create(
                id=early_id,
                purpose="connection",
                key_id="k1",
                ciphertext=encrypt(
                    key=old_key, secret_id=early_id, purpose="connection", payload=payload
                ),
            )
            sealed[early_id] = payload

    report = secrets_rotate(batch_size=2, on_batch=stale_process_writes)

    assert report.passes == 2
    assert report.rotated == {"k1": 5}
    assert report.leftover == 0
    assert set(key_ids().values()) == {"k2"}
    use_keys("k2")
    assert_open_to(sealed)


@pytest.mark.django_db(transaction=True)
def test_rows_locked_by_another_transaction_are_skipped_then_rotated_by_a_later_run(use_keys):
    sealed = seal_many(5)
    use_keys("k2", "k1")
    locked_id = sorted(sealed)[2]
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        try:
            with transaction.atomic():
                Secret.objects.select_for_update().get(pk=locked_id)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold_lock)
    thread.start()
    try:
        assert locked.wait(timeout=10)
        report = secrets_rotate(batch_size=2)
    finally:
        release.set()
        thread.join(timeout=30)

    assert report.rotated == {"k1": 4}
    assert report.leftover == 1
    assert key_ids()[locked_id] == "k1"
    report = secrets_rotate(batch_size=2)
    assert report.rotated == {"k1": 1}
    assert report.already_current == 4
    assert set(key_ids().values()) == {"k2"}
    assert_open_to(sealed)


class TerminalStream(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.django_db
def test_progress_bar_on_a_terminal(use_keys):
    seal_many(3)
    use_keys("k2", "k1")
    err = TerminalStream()
    call_command("rotate_vault_keys", batch_size=2, stdout=io.StringIO(), stderr=err)
    bar = err.getvalue()
    assert "Re-encrypting to k2" in bar
    assert "3/3" in bar and "100%" in bar
    assert "Batch 1" not in bar


@pytest.mark.django_db
@pytest.mark.parametrize("vendor", ["postgresql", "generic"])
def test_write_is_a_compare_and_swap_on_the_old_key_id(use_keys, monkeypatch, vendor):
    stale = seal_many(1)
    fresh = seal_many(1)
    use_keys("k2", "k1")
    [stale_id], [fresh_id] = list(stale), list(fresh)
    secret_replace(secret=Secret.objects.get(pk=fresh_id), payload={"access_token": "newer"})
    fresh_blob = ciphertexts()[fresh_id]
    if vendor == "generic":
        # The portable executemany path, used on databases other than PostgreSQL.
        monkeypatch.setattr(connection, "vendor", "generic")

    vault.services._write_batch(
        [(stale_id, "k1", b"rotated-stale"), (fresh_id, "k1", b"would-overwrite-fresh")], "k2"
    )

    assert ciphertexts()[stale_id] == b"rotated-stale"
    assert key_ids()[stale_id] == "k2"
    assert ciphertexts()[fresh_id] == fresh_blob
    assert secret_open(secret=Secret.objects.get(pk=fresh_id)) == {"access_token": "newer"}
