"""Production settings: `check --deploy` passes; missing or malformed keys stop start-up clearly."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def database_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    db = settings.DATABASES["default"]
    return f"sqlite:///{db['NAME']}"


def production_env(**overrides) -> dict:
    """Return a clean production environment: nothing inherited from the test run's settings."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "ENV_FILE": "/dev/null",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "VAULT_KEYS": "prod1:" + base64.b64encode(os.urandom(32)).decode(),
        "ALLOWED_HOSTS": "connections.example.com",
        "BASE_URL": "https://connections.example.com",
        "DATABASE_URL": database_url(),
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_passes_in_production():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_are_secure():
    script = (
        "import django;django.setup();from django.conf import settings as s;"
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_SAMESITE,"
        " s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_SSL_REDIRECT, s.SANDBOX_ENABLED,"
        " 'sandbox' in s.INSTALLED_APPS, s.STORAGES['staticfiles']['BACKEND'])"
    )
    env = production_env(DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False", "True", "True", "Lax", "True", "True", "False", "False",
        "whitenoise.storage.CompressedManifestStaticFilesStorage",
    ]


@pytest.mark.parametrize(
    "vault_keys, message",
    [
        ("", "VAULT_KEYS is not set"),
        ("k1:" + base64.b64encode(os.urandom(16)).decode(), "AES-256 needs exactly 32"),
        ("no-colon-here", "is not 'id:base64key'"),
        ("k1:***not-base64***", "is not valid base64"),
    ],
)
def test_missing_or_malformed_vault_keys_fail_the_check(vault_keys, message):
    result = manage("check", env=production_env(VAULT_KEYS=vault_keys))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "vault.E001" in output and message in output
    assert "Set VAULT_KEYS to 'id:base64key" in output  # says what to set


def test_missing_secret_key_fails_the_check():
    result = manage("check", env=production_env(SECRET_KEY=""))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stdout + result.stderr


def test_production_serves_the_login_page_with_hashed_static_files(tmp_path):
    env = production_env(STATIC_ROOT=str(tmp_path / "static"))
    collected = manage("collectstatic", "--noinput", env=env)
    assert collected.returncode == 0, collected.stderr
    script = (
        "import django;django.setup();from django.test import Client;"
        "r=Client().get('/accounts/login/', secure=True, HTTP_HOST='connections.example.com');"
        "print(r.status_code);print(r.content.decode())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    status, _, html = result.stdout.partition("\n")
    assert status == "200"
    assert 'name="username"' in html
    css = [line for line in html.splitlines() if "stylesheet" in line][0]
    assert "/static/css/app." in css and "/static/css/app.css" not in css  # hashed name
