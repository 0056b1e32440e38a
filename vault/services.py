"""Seal, open, replace and destroy secrets with AES-256-GCM.

The associated data binds each ciphertext to its Secret id and purpose, so a ciphertext
copied into another row, or read for another purpose, fails to open.
"""

import functools
import json
import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.signals import setting_changed
from django.db import transaction

from .keyring import Keyring, parse_keyring
from .models import Secret

NONCE_BYTES = 12


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


def encrypt(*, key: bytes, secret_id: uuid.UUID, purpose: str, payload: dict) -> bytes:
    """Return nonce + ciphertext of the payload under key."""
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data(secret_id, purpose))


def decrypt(*, keyring: Keyring, secret: Secret) -> dict:
    """Return the payload of a secret, or raise VaultError."""
    key = keyring.keys.get(secret.key_id)
    if key is None:
        raise VaultError(
            f"Secret {secret.id} is sealed with key {secret.key_id!r}, which is not in VAULT_KEYS."
        )
    blob = bytes(secret.ciphertext)
    if len(blob) <= NONCE_BYTES:
        raise VaultError(f"Secret {secret.id} has a truncated ciphertext.")
    try:
        plaintext = AESGCM(key).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data(secret.id, secret.purpose)
        )
    except InvalidTag:
        raise VaultError(
            f"Secret {secret.id} failed authentication: tampered, moved from another row, "
            f"or opened for the wrong purpose."
        ) from None
    return json.loads(plaintext)


def secret_seal(*, payload: dict, purpose: str) -> Secret:
    """Encrypt payload under the primary key and store it as a new Secret."""
    if not isinstance(payload, dict):
        raise VaultError("A secret's payload must be a dict.")
    keyring = get_keyring()
    secret = Secret(id=uuid.uuid4(), purpose=purpose, key_id=keyring.primary_id)
    secret.ciphertext = encrypt(
        key=keyring.primary, secret_id=secret.id, purpose=purpose, payload=payload
    )
    secret.save(force_insert=True)
    return secret


def secret_open(*, secret: Secret, purpose: str | None = None) -> dict:
    """Return the decrypted payload; purpose, when given, must match the secret's."""
    if purpose is not None and purpose != secret.purpose:
        raise VaultError(f"Secret {secret.id} is not a {purpose!r} secret.")
    return decrypt(keyring=get_keyring(), secret=secret)


def secret_replace(*, secret: Secret, payload: dict) -> Secret:
    """Re-seal the secret in place with a new payload under the primary key."""
    keyring = get_keyring()
    secret.key_id = keyring.primary_id
    secret.ciphertext = encrypt(
        key=keyring.primary, secret_id=secret.id, purpose=secret.purpose, payload=payload
    )
    secret.save(update_fields=["key_id", "ciphertext", "updated_at"])
    return secret


@transaction.atomic
def secret_destroy(*, secret: Secret) -> None:
    """Delete the secret; its ciphertext is overwritten first so no copy lingers in the row."""
    Secret.objects.filter(pk=secret.pk).update(ciphertext=b"")
    Secret.objects.filter(pk=secret.pk).delete()
