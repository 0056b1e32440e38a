"""Server and worker processes refuse to start with a bad VAULT_KEYS (they run no system checks)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def start(module: str, vault_keys: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VAULT_KEYS": vault_keys, "DEBUG": "false", "ENV_FILE": "/dev/null"}
    code = f"import {module}"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
@pytest.mark.parametrize("bad", ["", "k1:not-base64!", "k1:c2hvcnQ="])
def test_web_process_refuses_a_bad_keyring(module, bad):
    result = start(module, bad)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "VAULT_KEYS" in result.stderr


def test_web_process_starts_with_a_good_keyring():
    result = start("config.wsgi", settings.VAULT_KEYS)
    assert result.returncode == 0, result.stderr


def test_celery_worker_refuses_a_bad_keyring():
    env = {**os.environ, "VAULT_KEYS": "k1:c2hvcnQ=", "DEBUG": "false", "ENV_FILE": "/dev/null"}
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "ERROR"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "VAULT_KEYS" in result.stdout + result.stderr
