import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from vault.keyring import generate_key_entry

# In-process checks run the security tag only (the vault's); the subprocess runs them all.
ROOT = Path(__file__).resolve().parents[2]
SHORT_KEY = "k1:" + base64.b64encode(b"s" * 16).decode()


@pytest.mark.parametrize(
    "value, message",
    [
        ("", "VAULT_KEYS is not set"),
        (SHORT_KEY, "key 'k1' is 16 bytes; AES-256 needs exactly 32"),
        ("k1:%%%", "key 'k1' is not valid base64"),
        ("just-a-key", "entry 1 is not 'id:base64key'"),
    ],
)
def test_check_command_fails_on_missing_or_malformed_keys(settings, value, message):
    settings.VAULT_KEYS = value
    with pytest.raises(SystemCheckError) as caught:
        call_command("check", tags=["security"])
    text = str(caught.value)
    assert "vault.E001" in text
    assert message in text
    assert "Set VAULT_KEYS to 'id:base64key" in text


def test_check_command_passes_with_good_keys(settings, capsys):
    settings.VAULT_KEYS = f"{generate_key_entry('k2')},{generate_key_entry('k1')}"
    call_command("check", tags=["security"])
    assert "no issues" in capsys.readouterr().out


def production_env(**overrides) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "LC_ALL", "DATABASE_URL", "REDIS_URL", "TMPDIR"}
    }
    env.update(
        ENV_FILE="/dev/null",
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        SECRET_KEY="production-like-" + "x" * 50,
        ALLOWED_HOSTS="connections.example.com",
        BASE_URL="https://connections.example.com",
        CELERY_BROKER_URL="memory://",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(overrides)
    return env


def manage(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "value, message",
    [
        (None, "VAULT_KEYS is not set"),
        (SHORT_KEY, "is 16 bytes; AES-256 needs exactly 32"),
        ("k1:" + "A" * 43, "is not valid base64"),
    ],
)
def test_production_start_up_fails_without_a_good_key(value, message):
    env = production_env()
    if value is not None:
        env["VAULT_KEYS"] = value
    result = manage("check", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "vault.E001" in result.stderr
    assert message in result.stderr
    assert "Set VAULT_KEYS to 'id:base64key" in result.stderr
    # No development key was made behind the operator's back.
    assert "generated a development value" not in result.stderr


def test_production_start_up_passes_with_a_good_key():
    result = manage("check", env=production_env(VAULT_KEYS=generate_key_entry("prod1")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
