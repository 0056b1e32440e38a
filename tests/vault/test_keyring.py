import base64
import os
import stat
import warnings

import pytest

from vault.keyring import KeyringError, development_secret, generate_key_entry, parse_keyring

KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.b64encode(b"B" * 32).decode()


def test_parse_one_key():
    keyring = parse_keyring(f"k1:{KEY_A}")
    assert keyring.primary_id == "k1"
    assert keyring.primary == b"A" * 32
    assert keyring.cipher("k1") is not None
    assert keyring.cipher("k2") is None


def test_first_key_is_primary_and_spaces_are_ignored():
    keyring = parse_keyring(f" k2:{KEY_B} , k1:{KEY_A} ")
    assert keyring.primary_id == "k2"
    assert keyring.keys == {"k2": b"B" * 32, "k1": b"A" * 32}


def test_repr_names_key_ids_only():
    text = repr(parse_keyring(f"k2:{KEY_B},k1:{KEY_A}"))
    assert text == "Keyring(primary_id='k2', key_ids=['k2', 'k1'])"
    assert KEY_A not in text and KEY_B not in text


@pytest.mark.parametrize(
    "value, message",
    [
        ("", "VAULT_KEYS is not set"),
        ("   ", "VAULT_KEYS is not set"),
        (None, "VAULT_KEYS is not set"),
        (KEY_A, "entry 1 is not 'id:base64key'"),
        (f"k1:{KEY_A},k2", "entry 2 is not 'id:base64key'"),
        (f"k1:{KEY_A},", "entry 2 is not 'id:base64key'"),
        (f":{KEY_A}", "entry 1 is not 'id:base64key'"),
        ("k1:", "entry 1 is not 'id:base64key'"),
        ("k1:not base64!!", "key 'k1' is not valid base64"),
        ("k1:" + KEY_A[:-2], "key 'k1' is not valid base64"),
        (
            "k1:" + base64.b64encode(b"s" * 16).decode(),
            "key 'k1' is 16 bytes; AES-256 needs exactly 32",
        ),
        ("k1:" + base64.b64encode(b"l" * 64).decode(), "key 'k1' is 64 bytes"),
        (f"k1:{KEY_A},k1:{KEY_B}", "names key id 'k1' twice"),
        (f"k 1:{KEY_A}", "key id 'k 1' may use only letters"),
        (f"k/1:{KEY_A}", "key id 'k/1' may use only letters"),
        (f"{'k' * 33}:{KEY_A}", "up to 32 characters"),
    ],
)
def test_malformed_values_are_refused_with_what_to_set(value, message):
    with pytest.raises(KeyringError, match=message.replace("(", r"\(")) as caught:
        parse_keyring(value)
    text = str(caught.value)
    assert KEY_A not in text and KEY_B not in text


def test_errors_that_concern_the_format_include_the_hint():
    with pytest.raises(KeyringError, match="Set VAULT_KEYS to 'id:base64key"):
        parse_keyring("k1:" + base64.b64encode(b"s" * 16).decode())


def test_generated_entry_parses():
    keyring = parse_keyring(generate_key_entry("k9"))
    assert keyring.primary_id == "k9"
    assert len(keyring.primary) == 32


def test_development_vault_keys_are_generated_once_with_a_warning(tmp_path):
    path = tmp_path / "var" / "vault_keys"
    with pytest.warns(UserWarning, match=r"VAULT_KEYS was not set: generated a development value"):
        value = development_secret(path, kind="VAULT_KEYS")
    assert parse_keyring(value).primary_id == "dev1"
    assert path.read_text().strip() == value
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert development_secret(path, kind="VAULT_KEYS") == value


def test_development_secret_key_is_long_and_random(tmp_path):
    with pytest.warns(UserWarning, match="SECRET_KEY was not set"):
        first = development_secret(tmp_path / "secret_key", kind="SECRET_KEY")
    with pytest.warns(UserWarning):
        second = development_secret(tmp_path / "other", kind="SECRET_KEY")
    assert len(first) >= 50
    assert first != second
