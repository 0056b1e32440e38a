"""Vault fixtures: known keys, switched with pytest-django's `settings` fixture."""

import base64
import os

import pytest


def new_key_entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


@pytest.fixture
def keys():
    """Return three fresh key entries, 'k1:…', 'k2:…', 'k3:…'."""
    return {key_id: new_key_entry(key_id) for key_id in ("k1", "k2", "k3")}


@pytest.fixture
def use_keys(settings, keys):
    """Return a function that sets VAULT_KEYS to the named keys, the first one primary."""

    def use(*key_ids: str) -> str:
        settings.VAULT_KEYS = ",".join(keys[key_id] for key_id in key_ids)
        return settings.VAULT_KEYS

    use("k1")
    return use
