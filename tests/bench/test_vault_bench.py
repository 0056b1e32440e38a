"""Vault benchmarks: seal+open throughput beside raw AES-GCM, and rotating 100,000 secrets.

Run with `make bench`. Memory: "heap peak" is tracemalloc's peak of the Python heap; the peak
RSS is reset before each in-process run, so "ru_maxrss" is that run's own peak and "ru_maxrss
delta" its growth over the RSS at the start. Prints tables; the targets (rotation of 100,000 secrets in under 60 s
and under 300 MB) are shown beside the figures rather than asserted, since timings depend on
the machine. Correctness is asserted.
"""

import base64
import io
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.management import call_command
from django.db import connection

from vault.models import Secret
from vault.services import associated_data, encrypt, secret_open, secret_seal

pytestmark = [pytest.mark.bench, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ROTATION_SECRETS = int(os.environ.get("BENCH_ROTATION_SECRETS", "100000"))
TARGET_SECONDS = 60
TARGET_BYTES = 300 * 10**6
PAYLOAD = {
    "access_token": "a" * 64,
    "refresh_token": "r" * 64,
    "token_type": "Bearer",
    "expires_at": 1_900_000_000.0,
    "scope": "profile read write",
}


def key_entry(key_id: str) -> tuple[str, bytes]:
    key = os.urandom(32)
    return f"{key_id}:{base64.b64encode(key).decode()}", key


def mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 10**6:.1f} MB"


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}"


def verdict(seconds: float, memory: int | None) -> str:
    ok = seconds < TARGET_SECONDS and (memory is None or memory < TARGET_BYTES)
    return "yes" if ok else "NO"


def test_seal_and_open_throughput(settings, bench_table, monkeypatch):
    entry, key = key_entry("k1")
    settings.VAULT_KEYS = entry
    table = bench_table(
        "Vault: seal+open operations per second (payload: an OAuth2 credentials dict)",
        ["operation", "n", "seconds", "ops/s", "us/op", "x raw"],
    )
    plaintext = json.dumps(PAYLOAD, separators=(",", ":"), sort_keys=True).encode()
    aad = associated_data(uuid.uuid4(), "connection")

    n = 50_000
    cipher = AESGCM(key)
    started = time.perf_counter()
    for _ in range(n):
        nonce = os.urandom(12)
        assert cipher.decrypt(nonce, cipher.encrypt(nonce, plaintext, aad), aad) == plaintext
    raw = (time.perf_counter() - started) / n
    table.add(
        "raw AESGCM encrypt+decrypt (prepared key)",
        n,
        f"{raw * n:.2f}",
        rate(1, raw),
        f"{raw * 1e6:.1f}",
        "1.0",
    )

    def row(label, n, seconds):
        per = seconds / n
        table.add(label, n, f"{seconds:.2f}", rate(1, per), f"{per * 1e6:.1f}", f"{per / raw:.1f}")

    # Our services on in-memory Secret objects: JSON, associated data, nonce, the model object.
    with monkeypatch.context() as patched:
        patched.setattr(Secret, "save", lambda self, *args, **kwargs: None)
        started = time.perf_counter()
        for _ in range(n):
            secret = secret_seal(payload=PAYLOAD, purpose="connection")
            assert secret_open(secret=secret, purpose="connection") == PAYLOAD
        row("secret_seal + secret_open, no database", n, time.perf_counter() - started)

    n_db = 2_000
    started = time.perf_counter()
    for _ in range(n_db):
        secret = secret_seal(payload=PAYLOAD, purpose="connection")
        assert secret_open(secret=Secret.objects.get(pk=secret.pk)) == PAYLOAD
    row("secret_seal (INSERT) + get + secret_open (SELECT)", n_db, time.perf_counter() - started)

    started = time.perf_counter()
    for _ in range(n_db):
        Secret.objects.get(pk=secret.pk)
    row("  of which: the SELECT alone", n_db, time.perf_counter() - started)


def create_secrets(n: int, *, key_id: str, key: bytes, chunk: int = 5_000) -> list[tuple]:
    """Bulk-create n secrets under key_id, a chunk at a time; return (id, purpose, payload)s."""
    purposes = ["connection", "oauth_client", "attempt", "webhook"]
    sample = []
    made = 0
    while made < n:
        rows = []
        for i in range(made, min(made + chunk, n)):
            secret_id, purpose = uuid.uuid4(), purposes[i % 4]
            payload = {**PAYLOAD, "access_token": f"tok-{i}"}
            rows.append(
                Secret(
                    id=secret_id,
                    purpose=purpose,
                    key_id=key_id,
                    ciphertext=encrypt(
                        key=key, secret_id=secret_id, purpose=purpose, payload=payload
                    ),
                )
            )
            if i % 997 == 0:
                sample.append((secret_id, purpose, payload))
        Secret.objects.bulk_create(rows)
        made += len(rows)
    return sample


def assert_all_under(key_id: str, sample: list[tuple]) -> None:
    assert Secret.objects.exclude(key_id=key_id).count() == 0
    assert Secret.objects.count() == ROTATION_SECRETS
    for secret_id, purpose, payload in sample:
        assert secret_open(secret=Secret.objects.get(pk=secret_id), purpose=purpose) == payload


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


# Runs manage.py and reports, on exit, the peak RSS of its own address space (VmHWM), which
# ru_maxrss of a child started by fork/vfork does not give (it inherits the parent's peak).
CHILD = (
    "import atexit, re, runpy, sys\n"
    "def report():\n"
    "    status = open('/proc/self/status').read()\n"
    "    print('VmHWM', re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr)\n"
    "atexit.register(report)\n"
    "sys.argv = ['manage.py', *sys.argv[1:]]\n"
    "runpy.run_path('manage.py', run_name='__main__')\n"
)


def test_rotate_100k_secrets(settings, bench_table, measure):
    k1, k1_key = key_entry("k1")
    k2, _ = key_entry("k2")
    k3, _ = key_entry("k3")
    k4, _ = key_entry("k4")
    settings.VAULT_KEYS = k1
    started = time.perf_counter()
    sample = create_secrets(ROTATION_SECRETS, key_id="k1", key=k1_key)
    created = time.perf_counter() - started
    random.shuffle(sample)

    table = bench_table(
        f"Vault: rotate_vault_keys over {ROTATION_SECRETS:,} secrets "
        f"(batch 500; target < {TARGET_SECONDS} s and < {mb(TARGET_BYTES)})",
        ["run", "wall", "secrets/s", "heap peak", "ru_maxrss delta", "ru_maxrss", "on target"],
    )
    table.add(
        "setup: encrypt + bulk_create under k1",
        f"{created:.1f} s",
        rate(ROTATION_SECRETS, created),
        "-",
        "-",
        "-",
        "",
    )

    def rotate() -> str:
        out = io.StringIO()
        call_command("rotate_vault_keys", stdout=out, stderr=io.StringIO())
        return out.getvalue()

    def peak(m) -> str:
        return mb(m.rss_peak) + ("" if m.peak_is_own else " (process peak, not reset)")

    settings.VAULT_KEYS = f"{k2},{k1}"
    with measure() as timed:
        out = rotate()
    assert (
        f"Re-encrypted {ROTATION_SECRETS} secrets from keys {{k1: {ROTATION_SECRETS}}} to k2" in out
    )
    assert_all_under("k2", sample)
    table.add(
        "call_command in process, k1 -> k2",
        f"{timed.seconds:.1f} s",
        rate(ROTATION_SECRETS, timed.seconds),
        "-",
        mb(timed.rss_delta),
        peak(timed),
        verdict(timed.seconds, timed.rss_delta),
    )

    settings.VAULT_KEYS = f"{k3},{k2}"
    with measure(trace_heap=True) as traced:
        out = rotate()
    assert f"from keys {{k2: {ROTATION_SECRETS}}} to k3" in out
    assert_all_under("k3", sample)
    table.add(
        "call_command in process, k2 -> k3, tracemalloc on",
        f"{traced.seconds:.1f} s",
        rate(ROTATION_SECRETS, traced.seconds),
        mb(traced.heap_peak),
        mb(traced.rss_delta),
        peak(traced),
        verdict(timed.seconds, traced.heap_peak),
    )

    # A fresh process, as an operator runs it: the whole process's peak, Django included.
    env = {**os.environ, "DATABASE_URL": database_url(), "VAULT_KEYS": f"{k4},{k3}"}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, "rotate_vault_keys"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"from keys {{k3: {ROTATION_SECRETS}}} to k4" in result.stdout
    child_peak = int(result.stderr.rsplit("VmHWM ", 1)[1].split()[0]) * 1024
    settings.VAULT_KEYS = k4
    assert_all_under("k4", sample)
    table.add(
        "manage.py rotate_vault_keys (new process), k3 -> k4",
        f"{seconds:.1f} s",
        rate(ROTATION_SECRETS, seconds),
        "-",
        "-",
        mb(child_peak),
        verdict(seconds, child_peak),
    )
