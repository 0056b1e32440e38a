"""Sweep benchmarks: refresh and check 2,000 connections on a real worker (`make bench`).

A loopback HTTP endpoint (a threaded http.server in this process) answers every token and
test request after 50 ms. Beat's entry points (refresh_due_tokens, check_connections) are
called with .delay() and a real `celery -A config worker` runs the work with the Procfile's
worker settings (prefork, concurrency ${CELERY_CONCURRENCY:-4}); CHECK_SPREAD=0 so the check
sweep is not spread over five minutes. Printed: wall time beside the ideal
(N × 50 ms ÷ concurrency), token requests (must equal N), and the worker's peak RSS for
N=500 and N=2,000 (flat memory: the sweeps stream ids, tasks carry one id each).
"""

import datetime as dt
import json
import os
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from catalog.models import App
from catalog.services import oauth_client_set
from connections.models import Connection, HealthCheck, Tenant
from connections.tasks import check_connections, refresh_due_tokens
from tests.connections.bg_support import Worker, purge_broker, subprocess_env, wait_for
from vault.models import Secret
from vault.services import encrypt, get_keyring

pytestmark = [pytest.mark.bench, pytest.mark.django_db(transaction=True)]

SIZES = [int(n) for n in os.environ.get("BENCH_SWEEP_SIZES", "500,2000").split(",")]
LATENCY = 0.05
CONCURRENCY = int(os.environ.get("CELERY_CONCURRENCY", 4))
TARGET_FACTOR = 2.0


class SlowProvider:
    """Token endpoint and API answering after 50 ms; counts token requests."""

    def __init__(self):
        self.token_requests = 0
        self.api_requests = 0
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, payload):
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                time.sleep(LATENCY)
                with provider.lock:
                    provider.token_requests += 1
                self._answer({"access_token": secrets.token_urlsafe(24), "refresh_token": secrets.token_urlsafe(24),
                              "token_type": "Bearer", "expires_in": 3600, "scope": "read"})

            def do_GET(self):
                time.sleep(LATENCY)
                with provider.lock:
                    provider.api_requests += 1
                self._answer({"account": {"email": "bench@loopback.test"}})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def provider():
    started = SlowProvider()
    yield started
    started.close()


def bench_app(provider, n):
    spec = {
        "slug": f"bench-{n}", "name": f"Bench {n}", "category": "developer-tools", "auth": "oauth2",
        "description": "", "docs_url": "", "base_url": provider.url, "fields": [],
        "oauth2": {"authorize_url": provider.url + "/authorize", "token_url": provider.url + "/token",
                   "revoke_url": None, "scopes": ["read"], "scope_separator": " ", "pkce": True,
                   "client_auth": "body", "authorize_params": {}},
        "test": {"method": "GET", "path": "/me", "account": "account.email"},
    }
    app = App.objects.create(slug=spec["slug"], name=spec["name"], category="developer-tools",
                             auth_mode="oauth2", spec=spec)
    oauth_client_set(app=app, client_id="bench", client_secret="bench-secret")
    return app


def create_due_connections(tenant, app, n):
    keyring = get_keyring()
    now = timezone.now()
    expires = time.time() + 120
    for start in range(0, n, 500):
        secret_rows, connection_rows = [], []
        for i in range(start, min(n, start + 500)):
            sid = uuid.uuid4()
            payload = {"access_token": secrets.token_urlsafe(16), "refresh_token": secrets.token_urlsafe(16),
                       "token_type": "Bearer", "expires_at": expires, "scope": ["read"]}
            secret_rows.append(Secret(id=sid, purpose="connection", key_id=keyring.primary_id, ciphertext=encrypt(
                key=keyring.primary, secret_id=sid, purpose="connection", payload=payload)))
            connection_rows.append(Connection(
                tenant=tenant, app=app, name=f"bench {i}", credentials_id=sid, version=1,
                authorized_at=now - dt.timedelta(hours=1), expires_at=dt.datetime.fromtimestamp(expires, tz=dt.UTC),
            ))
        Secret.objects.bulk_create(secret_rows)
        Connection.all_objects.bulk_create(connection_rows)


def peak_rss(worker) -> int:
    """Return the summed VmHWM (peak RSS) of the worker's main process and pool processes, bytes."""
    pids = [worker.process.pid]
    children = Path(f"/proc/{worker.process.pid}/task/{worker.process.pid}/children")
    if children.exists():
        pids += [int(pid) for pid in children.read_text().split()]
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) * 1024
    return total


@pytest.mark.timeout(3600)
def test_refresh_and_check_sweeps(provider, bench_table):
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    table = bench_table(
        f"Sweeps on a real worker (prefork, concurrency {CONCURRENCY}); endpoint answers after "
        f"{LATENCY * 1000:.0f} ms; {os.cpu_count()} CPUs, load average at start {load}",
        ["sweep", "N", "wall s", "ideal s", "ratio", "target", "token requests", "worker peak RSS MB"],
    )
    env = subprocess_env()
    env.update({"CHECK_SPREAD": "0", "CHECKS_PER_APP": str(CONCURRENCY), "LOG_LEVEL": "WARNING"})
    # The stand-in provider listens on loopback: the worker's outbound layer must be told.
    env["OUTBOUND_ALLOW"] = urlsplit(provider.url).netloc
    results = {}
    for n in SIZES:
        tenant = Tenant.objects.create(name=f"Bench {n}", slug=f"bench-{n}")
        app = bench_app(provider, n)
        create_due_connections(tenant, app, n)
        purge_broker()
        worker = Worker(env, concurrency=CONCURRENCY, pool="prefork").start()
        try:
            ideal = n * LATENCY / CONCURRENCY
            provider.token_requests = 0
            started = time.monotonic()
            refresh_due_tokens.delay()
            wait_for(lambda: Connection.all_objects.filter(app=app, version=2).count() == n,
                     timeout=ideal * 10 + 60, every=0.25, message="refresh sweep")
            refresh_wall = time.monotonic() - started
            time.sleep(0.5)
            tokens = provider.token_requests

            started = time.monotonic()
            check_connections.delay()
            wait_for(lambda: HealthCheck.objects.filter(connection__app=app, kind="check").count() == n,
                     timeout=ideal * 10 + 60, every=0.25, message="check sweep")
            check_wall = time.monotonic() - started
            rss = peak_rss(worker)
        finally:
            worker.stop()
        results[n] = (refresh_wall, check_wall, tokens, rss)
        for name, wall in (("refresh", refresh_wall), ("check", check_wall)):
            table.add(name, n, f"{wall:.1f}", f"{ideal:.1f}", f"{wall / ideal:.2f}x", f"<= {TARGET_FACTOR:g}x",
                      tokens if name == "refresh" else "-", f"{rss / 1e6:.0f}")
        assert tokens == n  # exactly one token request per connection
        assert Connection.all_objects.filter(app=app, status="active", consecutive_failures=0).count() == n
        assert Connection.all_objects.filter(app=app, last_checked_at__isnull=True).count() == 0
    if len(results) > 1:
        small, large = min(results), max(results)
        growth = results[large][3] / results[small][3]
        table.add("memory", f"{small}->{large}", "-", "-", f"{growth:.2f}x RSS", "flat", "-", "-")
