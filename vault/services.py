"""Seal, open, replace, destroy and rotate secrets with AES-256-GCM.

The associated data binds each ciphertext to its Secret id and purpose, so a ciphertext
copied into another row, or read for another purpose, fails to open.
"""

import functools
import itertools
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection, transaction
from django.db.models import Count
from django.views.decorators.debug import sensitive_variables

from .keyring import Keyring, parse_keyring
from .models import Secret

NONCE_BYTES = 12
# Every local of a decorated function's frame, and of the frames below it (json, cryptography),
# is hidden from error reports with DEBUG off: they hold payloads, plaintexts and keys.
hide_locals = sensitive_variables()


class VaultError(Exception):
    """A secret could not be sealed or opened. The message never contains plaintext."""


@functools.cache
def get_keyring() -> Keyring:
    """Return the keyring from settings.VAULT_KEYS (cached; reset when the setting changes)."""
    return parse_keyring(settings.VAULT_KEYS)


def _reset_keyring(*, setting, **kwargs):
    if setting == "VAULT_KEYS":
        get_keyring.cache_clear()


setting_changed.connect(_reset_keyring)


def associated_data(secret_id: uuid.UUID, purpose: str) -> bytes:
    return f"{secret_id}|{purpose}".encode()


def _seal_bytes(cipher: AESGCM, *, secret_id: uuid.UUID, purpose: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, plaintext, associated_data(secret_id, purpose))


def _open_bytes(
    keyring: Keyring, *, secret_id: uuid.UUID, purpose: str, key_id: str, blob: bytes
) -> bytes:
    cipher = keyring.cipher(key_id)
    if cipher is None:
        raise VaultError(
            f"Secret {secret_id} is sealed with key {key_id!r}, which is not in VAULT_KEYS."
        )
    if len(blob) <= NONCE_BYTES:
        raise VaultError(f"Secret {secret_id} has a truncated ciphertext.")
    try:
        return cipher.decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data(secret_id, purpose)
        )
    except InvalidTag:
        raise VaultError(
            f"Secret {secret_id} failed authentication: tampered, moved from another row, "
            f"or opened for the wrong purpose."
        ) from None


def _serialize(payload: dict) -> bytes:
    try:
        return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    except (TypeError, ValueError) as exc:
        # json's messages name types, never values; `from None` keeps its frames (and their
        # locals, the payload) out of error reports.
        raise VaultError(f"A secret's payload must be JSON-serializable: {exc}.") from None


@hide_locals
def encrypt(*, key: bytes, secret_id: uuid.UUID, purpose: str, payload: dict) -> bytes:
    """Return nonce + ciphertext of the payload under key."""
    return _seal_bytes(
        AESGCM(key), secret_id=secret_id, purpose=purpose, plaintext=_serialize(payload)
    )


@hide_locals
def decrypt(*, keyring: Keyring, secret: Secret) -> dict:
    """Return the payload of a secret, or raise VaultError."""
    plaintext = _open_bytes(
        keyring,
        secret_id=secret.id,
        purpose=secret.purpose,
        key_id=secret.key_id,
        blob=bytes(secret.ciphertext),
    )
    try:
        return json.loads(plaintext)
    except ValueError:
        raise VaultError(f"Secret {secret.id} does not hold a JSON payload.") from None


@hide_locals
def secret_seal(*, payload: dict, purpose: str) -> Secret:
    """Encrypt payload under the primary key and store it as a new Secret."""
    if not isinstance(payload, dict):
        raise VaultError("A secret's payload must be a dict.")
    keyring = get_keyring()
    secret = Secret(id=uuid.uuid4(), purpose=purpose, key_id=keyring.primary_id)
    secret.ciphertext = _seal_bytes(
        keyring.cipher(keyring.primary_id),
        secret_id=secret.id,
        purpose=purpose,
        plaintext=_serialize(payload),
    )
    secret.save(force_insert=True)
    return secret


@hide_locals
def secret_open(*, secret: Secret, purpose: str | None = None) -> dict:
    """Return the decrypted payload; purpose, when given, must match the secret's."""
    if purpose is not None and purpose != secret.purpose:
        raise VaultError(f"Secret {secret.id} is not a {purpose!r} secret.")
    return decrypt(keyring=get_keyring(), secret=secret)


@hide_locals
def secret_replace(*, secret: Secret, payload: dict) -> Secret:
    """Re-seal the secret in place with a new payload under the primary key."""
    if not isinstance(payload, dict):
        raise VaultError("A secret's payload must be a dict.")
    keyring = get_keyring()
    secret.key_id = keyring.primary_id
    secret.ciphertext = _seal_bytes(
        keyring.cipher(keyring.primary_id),
        secret_id=secret.id,
        purpose=secret.purpose,
        plaintext=_serialize(payload),
    )
    secret.save(update_fields=["key_id", "ciphertext", "updated_at"])
    return secret


@transaction.atomic
def secret_destroy(*, secret: Secret) -> None:
    """Delete the secret; its ciphertext is overwritten first so no copy lingers in the row."""
    Secret.objects.filter(pk=secret.pk).update(ciphertext=b"")
    Secret.objects.filter(pk=secret.pk).delete()


# Key rotation ------------------------------------------------------------------------------

ROTATION_BATCH_SIZE = 500
ROTATION_MAX_PASSES = 3
FAILED_IDS_KEPT = 10_000  # enough to skip known-bad rows on a later pass; bounded memory
EXAMPLE_IDS = 5


@dataclass
class RotationReport:
    """What secrets_rotate did (or, in a dry run, would do). Ids and counts only."""

    primary_id: str
    dry_run: bool = False
    already_current: int = 0
    to_rotate: int = 0
    rotated: Counter = field(default_factory=Counter)  # old key id -> secrets re-encrypted
    unknown: Counter = field(default_factory=Counter)  # key id not in VAULT_KEYS -> secrets
    unknown_examples: dict = field(default_factory=dict)  # key id -> a few secret ids
    failed: int = 0  # secrets whose ciphertext failed authentication
    failed_examples: list = field(default_factory=list)
    leftover: int = 0  # still under an old key after the last pass (written concurrently)
    batches: int = 0
    passes: int = 0
    seconds: float = 0.0

    @property
    def rotated_total(self) -> int:
        return sum(self.rotated.values())

    @property
    def problems(self) -> int:
        """Return how many secrets are still not under the primary key and need a person."""
        return sum(self.unknown.values()) + self.failed + self.leftover


@hide_locals
def _rotate_batch(
    *,
    keyring: Keyring,
    old_key_ids: list[str],
    ids: list[uuid.UUID],
    dry_run: bool,
    report: RotationReport,
    failed_ids: set,
) -> int:
    """Re-encrypt the secrets among ids still under an old key; return how many were handled.

    Runs in its own transaction. The rows are locked (FOR UPDATE SKIP LOCKED) and filtered on
    their old key id, so a row re-sealed meanwhile, or rotated by an earlier run, is left alone:
    nothing is re-encrypted twice.
    """
    primary_id = keyring.primary_id
    primary = keyring.cipher(primary_id)
    with transaction.atomic():
        rows = Secret.objects.filter(pk__in=ids, key_id__in=old_key_ids).order_by("pk")
        if not dry_run:
            rows = rows.select_for_update(skip_locked=True)
        rows = rows.values_list("pk", "purpose", "key_id", "ciphertext")
        handled = 0
        updates = []
        for pk, purpose, key_id, blob in rows:
            if pk in failed_ids:
                continue
            handled += 1
            try:
                plaintext = _open_bytes(
                    keyring, secret_id=pk, purpose=purpose, key_id=key_id, blob=bytes(blob)
                )
            except VaultError:
                report.failed += 1
                if len(report.failed_examples) < EXAMPLE_IDS:
                    report.failed_examples.append(pk)
                if len(failed_ids) < FAILED_IDS_KEPT:
                    failed_ids.add(pk)
                continue
            ciphertext = _seal_bytes(primary, secret_id=pk, purpose=purpose, plaintext=plaintext)
            updates.append((pk, key_id, ciphertext))
            report.rotated[key_id] += 1
        if updates and not dry_run:
            _write_batch(updates, primary_id)
    return handled


def _batches(iterable, size: int):
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _write_batch(updates: list[tuple[uuid.UUID, str, bytes]], primary_id: str) -> None:
    """Store re-encrypted ciphertexts, each only if the row still has its old key id.

    The key id match is a compare-and-swap: a row re-sealed meanwhile by another writer keeps
    its new value. updated_at is left alone: the payload did not change. One statement per
    batch on PostgreSQL; QuerySet.bulk_update would build a CASE expression costing
    milliseconds a row.
    """
    meta = Secret._meta
    id_field, key_field, blob_field = (meta.get_field(n) for n in ("id", "key_id", "ciphertext"))
    quote = connection.ops.quote_name
    table, id_col, key_col, blob_col = (
        quote(name)
        for name in (meta.db_table, id_field.column, key_field.column, blob_field.column)
    )
    if connection.vendor == "postgresql":
        values = ", ".join(["(%s::uuid, %s, %s::bytea)"] * len(updates))
        sql = (
            f"UPDATE {table} AS s SET {key_col} = %s, {blob_col} = v.ciphertext "
            f"FROM (VALUES {values}) AS v(id, old_key_id, ciphertext) "
            f"WHERE s.{id_col} = v.id AND s.{key_col} = v.old_key_id"
        )
        params = [primary_id]
        for pk, old_key_id, ciphertext in updates:
            params.extend((pk, old_key_id, ciphertext))
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    sql = (
        f"UPDATE {table} SET {key_col} = %s, {blob_col} = %s WHERE {id_col} = %s AND {key_col} = %s"
    )
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                (
                    primary_id,
                    blob_field.get_db_prep_value(ciphertext, connection),
                    id_field.get_db_prep_value(pk, connection),
                    old_key_id,
                )
                for pk, old_key_id, ciphertext in updates
            ],
        )


def secrets_rotate(
    *,
    batch_size: int = ROTATION_BATCH_SIZE,
    dry_run: bool = False,
    on_batch: Callable[[RotationReport, int], None] | None = None,
) -> RotationReport:
    """Re-encrypt every secret not under the primary key, in batches, each in a transaction.

    Constant memory (ids streamed in order, rows fetched a batch at a time), safe beside
    concurrent writers, resumable: a run that stops half-way leaves committed batches under
    the primary key, and the next run only touches what is left. Secrets whose key id is not
    in VAULT_KEYS, or whose ciphertext fails authentication, are counted in the report, never
    re-encrypted and never fatal.
    """
    started = time.monotonic()
    keyring = get_keyring()
    old_key_ids = [key_id for key_id in keyring.keys if key_id != keyring.primary_id]
    report = RotationReport(primary_id=keyring.primary_id, dry_run=dry_run)
    report.already_current = Secret.objects.filter(key_id=keyring.primary_id).count()
    unknown = (
        Secret.objects.exclude(key_id__in=list(keyring.keys))
        .values_list("key_id")
        .annotate(n=Count("pk"))
        .order_by("key_id")
    )
    for key_id, n in unknown:
        report.unknown[key_id] = n
        report.unknown_examples[key_id] = list(
            Secret.objects.filter(key_id=key_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:EXAMPLE_IDS]
        )
    report.to_rotate = Secret.objects.filter(key_id__in=old_key_ids).count() if old_key_ids else 0

    failed_ids: set = set()
    while old_key_ids and report.passes < (1 if dry_run else ROTATION_MAX_PASSES):
        report.passes += 1
        rotated_before = report.rotated_total
        # One streamed, ordered read of the ids to visit (a server-side cursor: constant
        # memory), then one transaction per batch that locks and re-checks those rows by
        # primary key. Unlike "key_id IN … AND id > last ORDER BY id LIMIT n" per batch, the
        # cost does not depend on the planner's statistics, which a rotation makes stale.
        pending = (
            Secret.objects.filter(key_id__in=old_key_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
            .iterator(chunk_size=batch_size)
        )
        for ids in _batches(pending, batch_size):
            handled = _rotate_batch(
                keyring=keyring,
                old_key_ids=old_key_ids,
                ids=ids,
                dry_run=dry_run,
                report=report,
                failed_ids=failed_ids,
            )
            if handled:
                report.batches += 1
                if on_batch is not None:
                    on_batch(report, handled)
        if dry_run:
            break
        # Rows skipped because another transaction held them, or sealed meanwhile under an
        # old key by a process that still has the old VAULT_KEYS: go round again.
        report.leftover = max(
            Secret.objects.filter(key_id__in=old_key_ids).count() - report.failed, 0
        )
        if not report.leftover or report.rotated_total == rotated_before:
            break
        if len(failed_ids) >= FAILED_IDS_KEPT:
            break
    report.seconds = time.monotonic() - started
    return report
