"""Credential proxy benchmark: /api/proxy/<id>/<path> against a direct call to the same endpoint.

Run with `make bench` (or `make bench ARGS=tests/bench/test_proxy_bench.py`). Two gunicorn
processes with threads serve this project on loopback: "app" plays the third-party app (the
sandbox's echo endpoint, authenticated by an API key), "web" runs the proxy, whose sandbox URL
is the app's. In one run the benchmark sends the same GET directly to the app (requests, with
the API key) and through the proxy (with an API token), interleaved, and prints:

- p50 and p99 latency of each and the proxy's overhead (targets: ≤ 2 ms at p50);
- requests per second with CONCURRENCY client threads, direct and proxied, for one web process
  (target: proxied ≥ 0.5 × direct);
- database queries per proxied call (measured in process on the same code path; target ≤ 4,
  asserted);
- the floor: the same GET through a bare WSGI app (tests/bench/floor_wsgi.py: no Django, one
  kept requests.Session, nothing checked or recorded) in a third gunicorn of the same shape,
  interleaved with the other two. Its overhead is what gunicorn, requests and the second hop
  cost on this machine before the proxy does anything.

The web process keeps its token and connection lookups (connections/services/lookups.py), so
queries are counted twice: a call that finds them kept, and one right after a change. The
second test revokes the token, then the connection, in the middle of a stream of calls through
gunicorn: the very next call is refused. Timings depend on the machine (and on what else runs
on it), so they are printed beside their targets, not asserted.
"""

import os
import socket
import statistics
import subprocess
import sys
import threading
import time

import pytest
import requests
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from connections.models import ApiToken, ProxyCall
from connections.services import lookups
from connections.services.connections import connection_revoke
from connections.services.tokens import api_token_create, api_token_revoke
from sandbox import services as sandbox_services
from tests.connections.bg_support import ROOT, api_key_app, make_connection, subprocess_env

pytestmark = [pytest.mark.bench, pytest.mark.django_db(transaction=True)]

CALLS = int(os.environ.get("BENCH_PROXY_CALLS", 300))
SECONDS = float(os.environ.get("BENCH_PROXY_SECONDS", 5))
CONCURRENCY = int(os.environ.get("BENCH_PROXY_CONCURRENCY", 8))
THREADS = int(os.environ.get("BENCH_PROXY_THREADS", 8))
PATH = "echo/bench?page=1"
MAX_QUERIES = 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`gunicorn config.wsgi` (or `module`) with one worker and THREADS threads."""

    def __init__(self, name: str, env: dict, module: str = "config.wsgi", ready: str = "/sandbox/"):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready = ready
        self.log = open(f"/tmp/bench-gunicorn-{name}-{os.getpid()}.log", "w")
        args = [
            sys.executable, "-m", "gunicorn", module, "--bind", f"127.0.0.1:{self.port}",
            "--workers", "1", "--worker-class", "gthread", "--threads", str(THREADS),
            "--log-level", "warning", "--keep-alive", "5",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait(self, timeout: float = 60) -> "Gunicorn":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {open(self.log.name).read()[-2000:]}")
            try:
                requests.get(self.url + self.ready, timeout=5)
                return self
            except (requests.ConnectionError, requests.Timeout):  # still booting
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def cpu_seconds(self) -> float:
        """Return the CPU time (user + system) used so far by the master and its workers."""
        pids = [self.process.pid]
        try:
            children = open(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read()
            pids += [int(pid) for pid in children.split()]
        except OSError:
            return 0.0
        ticks = 0
        for pid in pids:
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


@pytest.fixture
def servers(settings):
    env = subprocess_env()
    # Both processes as deployed: persistent database connections (settings.py's default
    # outside tests).
    env.update(
        {"SANDBOX_ENABLED": "true", "DEBUG": "false", "PROXY_RATE_LIMIT": "0", "CONN_MAX_AGE": "60"}
    )
    app = Gunicorn("app", {**env, "SANDBOX_URL": "http://127.0.0.1:1"})
    web_env = {**env, "SANDBOX_URL": app.url, "BASE_URL": "http://127.0.0.1"}
    web = None
    try:
        app.wait()
        web = Gunicorn("web", web_env)
        web.wait()
    except Exception:
        app.stop()
        if web is not None:
            web.stop()
        raise
    settings.SANDBOX_URL = app.url  # the in-process query count calls the same app
    yield app, web
    web.stop()
    app.stop()


def _percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def _timed(session, url, headers) -> float:
    started = time.perf_counter()
    answer = session.get(url, headers=headers, timeout=30)
    elapsed = (time.perf_counter() - started) * 1000
    assert answer.status_code == 200, answer.text[:300]
    return elapsed


def _throughput(url, headers) -> tuple[float, int]:
    """Return (requests per second, requests) over SECONDS with CONCURRENCY client threads."""
    done, stop = [0] * CONCURRENCY, time.monotonic() + SECONDS

    def run(index):
        with requests.Session() as session:
            while time.monotonic() < stop:
                assert session.get(url, headers=headers, timeout=30).status_code == 200
                done[index] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CONCURRENCY)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started), sum(done)


def test_proxy_overhead_throughput_and_queries(servers, tenant, admin_member, bench_table):
    app, web = servers
    api_key = sandbox_services.create_api_key(sandbox_services.DEFAULT_EMAIL)
    conn = make_connection(tenant, api_key_app(), {"api_key": api_key}, name="Bench key")
    _, raw = api_token_create(
        tenant=tenant, name="Bench", actor=admin_member.user, scopes=["proxy"]
    )
    direct_url, direct_headers = f"{app.url}/sandbox/api/{PATH}", {"X-API-Key": api_key}
    proxy_url, proxy_headers = (
        f"{web.url}/api/proxy/{conn.pk}/{PATH}",
        {"Authorization": f"Bearer {raw}"},
    )

    floor_server = Gunicorn(
        "floor",
        {**subprocess_env(), "FLOOR_UPSTREAM": direct_url, "FLOOR_HEADER": "X-API-Key",
         "FLOOR_VALUE": api_key},
        module="tests.bench.floor_wsgi:application", ready="/",
    )  # fmt: skip
    direct, proxied, floor = [], [], []
    try:
        floor_server.wait()
        with requests.Session() as session:
            for _ in range(20):  # warm-up: imports, connections, the first usage rows
                _timed(session, direct_url, direct_headers)
                _timed(session, proxy_url, proxy_headers)
                _timed(session, floor_server.url, {})
            for _ in range(CALLS):
                direct.append(_timed(session, direct_url, direct_headers))
                proxied.append(_timed(session, proxy_url, proxy_headers))
                floor.append(_timed(session, floor_server.url, {}))
    finally:
        floor_server.stop()
    with requests.Session() as session:
        # CPU per call of each process: the web process's is the proxy's own cost.
        app_before = app.cpu_seconds()
        for _ in range(CALLS):
            _timed(session, direct_url, direct_headers)
        app_cpu = (app.cpu_seconds() - app_before) / CALLS * 1000
        web_before = web.cpu_seconds()
        for _ in range(CALLS):
            _timed(session, proxy_url, proxy_headers)
        web_cpu = (web.cpu_seconds() - web_before) / CALLS * 1000
    direct_rps, _ = _throughput(direct_url, direct_headers)
    proxied_rps, proxied_count = _throughput(proxy_url, proxy_headers)

    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert client.get(f"/api/proxy/{conn.pk}/{PATH}", **auth).status_code == 200
    with CaptureQueriesContext(db_connection) as captured:
        assert client.get(f"/api/proxy/{conn.pk}/{PATH}", **auth).status_code == 200
    queries = len(captured.captured_queries)
    lookups.changed()  # what any revocation or new credentials does
    with CaptureQueriesContext(db_connection) as captured:
        assert client.get(f"/api/proxy/{conn.pk}/{PATH}", **auth).status_code == 200
    queries_after_change = len(captured.captured_queries)
    recorded = ProxyCall.objects.for_tenant(tenant).count()

    p50 = statistics.median(proxied) - statistics.median(direct)
    p99 = _percentile(proxied, 0.99) - _percentile(direct, 0.99)
    floor_p50 = statistics.median(floor) - statistics.median(direct)
    table = bench_table(
        f"Credential proxy vs direct, loopback, gunicorn gthread 1 worker × {THREADS} threads "
        f"({CALLS} sequential calls each; {CONCURRENCY} client threads × {SECONDS:g} s for req/s)",
        ["measure", "direct", "proxied", "overhead / ratio", "target"],
    )
    table.add(
        "p50 latency (ms)",
        f"{statistics.median(direct):.2f}",
        f"{statistics.median(proxied):.2f}",
        f"{p50:+.2f} ms",
        "overhead ≤ 2 ms",
    )
    table.add(
        "p99 latency (ms)",
        f"{_percentile(direct, 0.99):.2f}",
        f"{_percentile(proxied, 0.99):.2f}",
        f"{p99:+.2f} ms",
        "",
    )
    table.add(
        "floor: bare WSGI + requests, p50 (ms)",
        f"{statistics.median(direct):.2f}",
        f"{statistics.median(floor):.2f}",
        f"{floor_p50:+.2f} ms",
        "(no Django, nothing checked)",
    )
    table.add(
        "requests / s",
        f"{direct_rps:.0f}",
        f"{proxied_rps:.0f}",
        f"{proxied_rps / direct_rps:.2f} ×",
        "≥ 0.5 × direct",
    )
    table.add(
        "CPU ms per call (app / web)",
        f"{app_cpu:.2f}",
        f"{web_cpu:.2f}",
        f"{web_cpu / app_cpu:.2f} ×",
        "",
    )
    table.add("queries per proxied call (lookups kept)", "", str(queries), "", f"≤ {MAX_QUERIES}")
    table.add("queries per proxied call (after a change)", "", str(queries_after_change), "", f"≤ {MAX_QUERIES}")
    table.add("usage rows recorded", "", str(recorded), "", "one per call")
    assert queries <= MAX_QUERIES and queries_after_change <= MAX_QUERIES
    assert recorded == 20 + 2 * CALLS + proxied_count + 3


def test_revocation_during_a_stream_of_calls_refuses_the_very_next_call(
    servers, tenant, admin_member
):
    app, web = servers
    api_key = sandbox_services.create_api_key(sandbox_services.DEFAULT_EMAIL)
    conn = make_connection(tenant, api_key_app(), {"api_key": api_key}, name="Revoked midway")
    _, first = api_token_create(
        tenant=tenant, name="One", actor=admin_member.user, scopes=["proxy"]
    )
    _, second = api_token_create(
        tenant=tenant, name="Two", actor=admin_member.user, scopes=["proxy"]
    )
    url = f"{web.url}/api/proxy/{conn.pk}/{PATH}"
    with requests.Session() as session:

        def status(raw):
            return session.get(
                url, headers={"Authorization": f"Bearer {raw}"}, timeout=30
            ).status_code

        assert [status(first) for _ in range(20)] == [200] * 20
        api_token_revoke(token=ApiToken.objects.for_tenant(tenant).get(name="One"), actor=None)
        assert status(first) == 401
        assert [status(second) for _ in range(20)] == [200] * 20
        connection_revoke(connection=conn, actor=admin_member.user)
        assert status(second) == 404
