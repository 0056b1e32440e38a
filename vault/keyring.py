"""Parse VAULT_KEYS into a keyring; generate development secrets. No Django imports here."""

import base64
import binascii
import os
import secrets
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
KEY_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


class KeyringError(ValueError):
    """VAULT_KEYS is missing or malformed; the message says what to set."""


@dataclass(frozen=True)
class Keyring:
    keys: dict[str, bytes]
    primary_id: str
    ciphers: dict[str, AESGCM] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        # One prepared cipher per key: building AESGCM costs as much as one encryption.
        object.__setattr__(self, "ciphers", {kid: AESGCM(key) for kid, key in self.keys.items()})

    def __repr__(self):
        return f"Keyring(primary_id={self.primary_id!r}, key_ids={list(self.keys)!r})"

    @property
    def primary(self) -> bytes:
        return self.keys[self.primary_id]

    def cipher(self, key_id: str) -> AESGCM | None:
        """Return the prepared cipher for key_id, or None when the keyring lacks it."""
        return self.ciphers.get(key_id)


HINT = (
    "Set VAULT_KEYS to 'id:base64key[,id:base64key…]' (first is primary), each key 32 random "
    'bytes in base64, for example: python -c "import base64,os;'
    "print('k1:'+base64.b64encode(os.urandom(32)).decode())\""
)


def parse_keyring(value: str) -> Keyring:
    """Return the keyring described by a VAULT_KEYS string, or raise KeyringError."""
    value = (value or "").strip()
    if not value:
        raise KeyringError(f"VAULT_KEYS is not set. {HINT}")
    keys: dict[str, bytes] = {}
    for position, item in enumerate(value.split(","), start=1):
        item = item.strip()
        key_id, sep, encoded = item.partition(":")
        if not sep or not key_id or not encoded:
            raise KeyringError(f"VAULT_KEYS entry {position} is not 'id:base64key'. {HINT}")
        if not set(key_id) <= KEY_ID_CHARS or len(key_id) > 32:
            raise KeyringError(
                f"VAULT_KEYS entry {position}: key id {key_id!r} may use only letters, digits, "
                f"'_', '-' and '.', up to 32 characters."
            )
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"VAULT_KEYS key {key_id!r} is not valid base64. {HINT}") from None
        if len(raw) != KEY_BYTES:
            raise KeyringError(
                f"VAULT_KEYS key {key_id!r} is {len(raw)} bytes; AES-256 needs exactly 32. {HINT}"
            )
        if key_id in keys:
            raise KeyringError(f"VAULT_KEYS names key id {key_id!r} twice.")
        keys[key_id] = raw
    return Keyring(keys=keys, primary_id=next(iter(keys)))


def generate_key_entry(key_id: str = "k1") -> str:
    """Return a new 'id:base64key' entry for VAULT_KEYS."""
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def development_secret(path: Path, *, kind: str) -> str:
    """Return the development value stored at path, generating it (with a warning) when missing."""
    path = Path(path)
    if path.exists():
        return path.read_text().strip()
    value = generate_key_entry("dev1") if kind == "VAULT_KEYS" else secrets.token_urlsafe(50)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    warnings.warn(
        f"{kind} was not set: generated a development value in {path}. "
        f"Set {kind} in the environment for production.",
        stacklevel=2,
    )
    return value
