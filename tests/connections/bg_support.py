"""Helpers for the background tests: sandbox apps, real OAuth2 grants, connections, a worker."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from django.conf import settings
from django.db import connection as db_connection
from django.utils import timezone

from catalog.models import App
from catalog.services import oauth_client_set
from connections.models import Connection, GlobalConnection
from vault.services import secret_open, secret_seal

ROOT = Path(__file__).resolve().parents[2]
BASE_URL = "{sandbox}/sandbox/api"
TEST = {"method": "GET", "path": "/me", "account": "account.email"}


def _app(slug, auth, extra):
    spec = {
        "slug": slug, "name": slug.replace("-", " ").title(), "category": "sandbox",
        "description": "Sandbox", "docs_url": "", "auth": auth, "base_url": BASE_URL,
        "fields": [], "test": TEST, **extra,
    }
    app, _ = App.objects.update_or_create(
        slug=slug,
        defaults={"name": spec["name"], "category": "sandbox", "auth_mode": auth, "spec": spec, "enabled": True},
    )
    return app


def oauth2_app(sandbox, *, slug="sandbox-oauth2"):
    """Return the sandbox OAuth2 app with the sandbox's client registered."""
    app = _app(slug, "oauth2", {"oauth2": {
        "authorize_url": "{sandbox}/sandbox/oauth2/authorize",
        "token_url": "{sandbox}/sandbox/oauth2/token",
        "revoke_url": "{sandbox}/sandbox/oauth2/revoke",
        "scopes": ["profile", "read"], "scope_separator": " ", "pkce": True,
        "client_auth": "body", "authorize_params": {},
    }})
    oauth_client_set(app=app, client_id=sandbox.client_id, client_secret=sandbox.client_secret)
    return app


def api_key_app():
    return _app("sandbox-api-key", "api_key", {
        "fields": [{"key": "api_key", "label": "API key", "secret": True, "required": True}],
        "apply": {"headers": {"X-API-Key": "{api_key}"}, "query": {}},
    })


def basic_app():
    return _app("sandbox-basic", "basic", {
        "fields": [
            {"key": "username", "label": "Username", "secret": False, "required": True},
            {"key": "password", "label": "Password", "secret": True, "required": True},
        ],
        "basic": {"username": "{username}", "password": "{password}"},
    })


def oauth2_grant(sandbox) -> dict:
    """Run the sandbox's authorization-code flow (PKCE); return credentials as stored."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    params = {
        "response_type": "code", "client_id": sandbox.client_id, "redirect_uri": sandbox.redirect_uri,
        "scope": "profile read", "state": state, "code_challenge": challenge, "code_challenge_method": "S256",
    }
    url = requests.Request("GET", sandbox.authorize_url, params=params).prepare().url
    back = sandbox.approve(url)
    code = parse_qs(urlsplit(back).query)["code"][0]
    answer = requests.post(sandbox.token_url, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": sandbox.redirect_uri,
        "client_id": sandbox.client_id, "client_secret": sandbox.client_secret, "code_verifier": verifier,
    }, timeout=10)
    answer.raise_for_status()
    token = answer.json()
    return {
        "access_token": token["access_token"], "refresh_token": token["refresh_token"],
        "token_type": token.get("token_type", "Bearer"),
        "expires_at": time.time() + float(token.get("expires_in", 3600)),
        "scope": token.get("scope", "profile read").split(),
    }


def make_connection(tenant, app, credentials, *, name=None, created_by=None, expires_in=None, **fields):
    """Create an active connection holding credentials (expires_in overrides the token's expiry)."""
    credentials = dict(credentials)
    if expires_in is not None:
        credentials["expires_at"] = time.time() + expires_in
    now = timezone.now()
    expires_at = credentials.get("expires_at")
    return Connection.all_objects.create(
        tenant=tenant, app=app, name=name or f"{app.name} {secrets.token_hex(3)}",
        credentials=secret_seal(payload=credentials, purpose="connection"),
        authorized_at=fields.pop("authorized_at", now), created_by=created_by, version=1,
        expires_at=dt.datetime.fromtimestamp(expires_at, tz=dt.UTC) if expires_at else None,
        **fields,
    )


def make_global_copy(connection, **fields):
    """Publish a connection the way approval does: a global row sharing the Secret."""
    return GlobalConnection.objects.create(
        app=connection.app, name=f"{connection.name} (global)", credentials=connection.credentials,
        config=connection.config, scopes=connection.scopes, account_label=connection.account_label,
        authorized_at=connection.authorized_at, expires_at=connection.expires_at, version=1,
        source_connection=connection, source_tenant=connection.tenant, **fields,
    )


def stored(connection) -> dict:
    connection.refresh_from_db()
    return secret_open(secret=connection.credentials, purpose="connection")


def token_works(sandbox, access_token) -> bool:
    answer = requests.get(sandbox.me_url, headers={"Authorization": f"Bearer {access_token}"}, timeout=10)
    return answer.status_code == 200


def subprocess_env(sandbox_url: str | None = None) -> dict:
    """Return the environment of this test process, pointed at the test database."""
    env = dict(os.environ)
    db = settings.DATABASES["default"]
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    at = f"{user}{password}@" if user else ""
    env["DATABASE_URL"] = f"postgres://{at}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db_connection.settings_dict['NAME']}"
    env["VAULT_KEYS"] = settings.VAULT_KEYS
    env["SECRET_KEY"] = settings.SECRET_KEY
    env["PYTHONPATH"] = str(ROOT)
    env["REDIS_URL"] = settings.REDIS_URL
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    for key in ("FAILURE_THRESHOLD", "REFRESH_WINDOW", "CHECK_INTERVAL", "HTTP_TIMEOUT", "CHECKS_PER_APP", "HEALTH_HISTORY"):
        env[key] = str(getattr(settings, key))
    if sandbox_url:
        env["SANDBOX_URL"] = sandbox_url
        env["BASE_URL"] = sandbox_url
    return env


class Worker:
    """A real `celery -A config worker` subprocess with the test's environment."""

    def __init__(self, env, *, concurrency=2, pool="prefork", name=None, log=None):
        self.name = name or f"test-{secrets.token_hex(3)}@%h"
        self.log_path = log or Path(f"/tmp/celery-{secrets.token_hex(4)}.log")
        self.args = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
            "--concurrency", str(concurrency), "--pool", pool, "-n", self.name, "--without-gossip",
            "--without-mingle", "--without-heartbeat",
        ]
        self.env = env
        self.process = None

    def start(self, timeout=60):
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            self.args, env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_path.read_text()[-3000:]}")
            if " ready." in self.log_path.read_text():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready: {self.log_path.read_text()[-3000:]}")

    def output(self) -> str:
        return self.log_path.read_text()

    def kill(self):
        """SIGKILL the whole worker (main process and pool children): a crash, no goodbye."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()


def wait_for(predicate, *, timeout=30.0, every=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {message}")


def purge_broker():
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
