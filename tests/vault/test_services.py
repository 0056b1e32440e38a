import base64

import pytest

from vault.models import Secret
from vault.services import (
    NONCE_BYTES,
    VaultError,
    get_keyring,
    secret_destroy,
    secret_open,
    secret_replace,
    secret_seal,
)

PAYLOAD = {"access_token": "tok-correct-horse-battery", "refresh_token": "ref-staple-42"}


def reload(secret: Secret) -> Secret:
    return Secret.objects.get(pk=secret.pk)


def assert_no_plaintext(text: str) -> None:
    for value in PAYLOAD.values():
        assert value not in text


@pytest.mark.django_db
def test_round_trip(use_keys):
    secret = secret_seal(payload=PAYLOAD, purpose="connection")
    stored = reload(secret)
    assert stored.key_id == "k1"
    assert stored.purpose == "connection"
    assert secret_open(secret=stored) == PAYLOAD
    assert secret_open(secret=stored, purpose="connection") == PAYLOAD


@pytest.mark.django_db
def test_each_seal_uses_a_fresh_nonce(use_keys):
    a = secret_seal(payload=PAYLOAD, purpose="connection")
    b = secret_seal(payload=PAYLOAD, purpose="connection")
    assert bytes(a.ciphertext)[:NONCE_BYTES] != bytes(b.ciphertext)[:NONCE_BYTES]
    assert bytes(a.ciphertext) != bytes(b.ciphertext)


@pytest.mark.django_db
def test_payload_must_be_a_dict(use_keys):
    with pytest.raises(VaultError, match="must be a dict"):
        secret_seal(payload="tok-plain", purpose="connection")
    secret = secret_seal(payload=PAYLOAD, purpose="connection")
    with pytest.raises(VaultError, match="must be a dict"):
        secret_replace(secret=secret, payload=["tok-plain"])
    assert secret_open(secret=reload(secret)) == PAYLOAD


@pytest.mark.django_db
@pytest.mark.parametrize("position", [0, NONCE_BYTES, NONCE_BYTES + 3, -1])
def test_tampered_ciphertext_fails_with_vault_error(use_keys, position):
    secret = secret_seal(payload=PAYLOAD, purpose="connection")
    blob = bytearray(bytes(secret.ciphertext))
    blob[position] ^= 0x01
    Secret.objects.filter(pk=secret.pk).update(ciphertext=bytes(blob))
    with pytest.raises(VaultError, match="failed authentication") as caught:
        secret_open(secret=reload(secret))
    assert str(secret.pk) in str(caught.value)
    assert_no_plaintext(str(caught.value))


@pytest.mark.django_db
@pytest.mark.parametrize("length", [0, 5, NONCE_BYTES])
def test_truncated_ciphertext_fails_with_vault_error(use_keys, length):
    secret = secret_seal(payload=PAYLOAD, purpose="connection")
    Secret.objects.filter(pk=secret.pk).update(ciphertext=bytes(secret.ciphertext)[:length])
    with pytest.raises(VaultError, match="truncated"):
        secret_open(secret=reload(secret))


@pytest.mark.django_db
def test_ciphertext_copied_to_another_row_fails_to_open(use_keys):
    a = secret_seal(payload={"k": "a"}, purpose="connection")
    b = secret_seal(payload={"k": "b"}, purpose="connection")
    Secret.objects.filter(pk=b.pk).update(ciphertext=bytes(a.ciphertext))
    with pytest.raises(VaultError, match="failed authentication"):
        secret_open(secret=reload(b))
    assert secret_open(secret=reload(a)) == {"k": "a"}


@pytest.mark.django_db
def test_ciphertext_relabelled_with_another_purpose_fails_to_open(use_keys):
    secret = secret_seal(payload=PAYLOAD, purpose="attempt")
    Secret.objects.filter(pk=secret.pk).update(purpose="connection")
    with pytest.raises(VaultError, match="failed authentication") as caught:
        secret_open(secret=reload(secret), purpose="connection")
    assert_no_plaintext(str(caught.value))


@pytest.mark.django_db
def test_opening_for_the_wrong_purpose_is_refused(use_keys):
    secret = secret_seal(payload=PAYLOAD, purpose="oauth_client")
    with pytest.raises(VaultError, match="not a 'connection' secret") as caught:
        secret_open(secret=reload(secret), purpose="connection")
    assert_no_plaintext(str(caught.value))


@pytest.mark.django_db
def test_unknown_key_id_names_the_key_but_not_the_plaintext(use_keys):
    secret = secret_seal(payload=PAYLOAD, purpose="connection")
    use_keys("k2")
    with pytest.raises(VaultError) as caught:
        secret_open(secret=reload(secret))
    message = str(caught.value)
    assert "'k1'" in message and "not in VAULT_KEYS" in message
    assert str(secret.pk) in message
    assert_no_plaintext(message)
    assert "k2" not in message


@pytest.mark.django_db
def test_key_with_the_right_id_but_wrong_bytes_fails_authentication(use_keys, keys):
    secret = secret_seal(payload=PAYLOAD, purpose="connection")
    keys["k1"] = "k1:" + base64.b64encode(b"\x07" * 32).decode()
    use_keys("k1")
    with pytest.raises(VaultError, match="failed authentication"):
        secret_open(secret=reload(secret))


@pytest.mark.django_db
def test_keyring_follows_the_setting(use_keys):
    assert get_keyring().primary_id == "k1"
    use_keys("k2", "k1")
    assert get_keyring().primary_id == "k2"
    assert list(get_keyring().keys) == ["k2", "k1"]
    assert base64.b64encode(get_keyring().primary).decode() not in repr(get_keyring())


@pytest.mark.django_db
def test_replace_reseals_under_the_primary_key_keeping_the_id(use_keys):
    secret = secret_seal(payload={"k": "a"}, purpose="connection")
    use_keys("k2", "k1")
    secret_replace(secret=secret, payload={"k": "b"})
    stored = reload(secret)
    assert stored.pk == secret.pk
    assert stored.key_id == "k2"
    assert secret_open(secret=stored) == {"k": "b"}


@pytest.mark.django_db
def test_destroy_deletes_the_row(use_keys):
    secret = secret_seal(payload={"k": "a"}, purpose="connection")
    secret_destroy(secret=secret)
    assert not Secret.objects.filter(pk=secret.pk).exists()
