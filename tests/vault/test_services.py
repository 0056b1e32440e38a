import pytest

from vault.models import Secret
from vault.services import VaultError, secret_destroy, secret_open, secret_replace, secret_seal


@pytest.mark.django_db
def test_round_trip():
    secret = secret_seal(payload={"access_token": "tok-123"}, purpose="connection")
    assert secret_open(secret=Secret.objects.get(pk=secret.pk)) == {"access_token": "tok-123"}


@pytest.mark.django_db
def test_ciphertext_copied_to_another_row_fails_to_open():
    a = secret_seal(payload={"k": "a"}, purpose="connection")
    b = secret_seal(payload={"k": "b"}, purpose="connection")
    b.ciphertext = a.ciphertext
    with pytest.raises(VaultError, match="failed authentication"):
        secret_open(secret=b)


@pytest.mark.django_db
def test_replace_and_destroy():
    secret = secret_seal(payload={"k": "a"}, purpose="connection")
    secret_replace(secret=secret, payload={"k": "b"})
    assert secret_open(secret=Secret.objects.get(pk=secret.pk)) == {"k": "b"}
    secret_destroy(secret=secret)
    assert not Secret.objects.filter(pk=secret.pk).exists()
