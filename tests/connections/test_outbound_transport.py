"""The outbound adapter at send time: real loopback listeners, `responses`, TLS, OAuth sessions."""

import datetime
import ssl
import time

import pytest
import requests
import responses
import urllib3.util.connection
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests_oauthlib import OAuth1Session, OAuth2Session

from connections import outbound
from connections.outbound import OutboundRefused
from tests.conftest import PUBLIC_TEST_ADDRESS

from .outbound_support import KeptListener, Listener, header


@pytest.fixture(autouse=True)
def production_like(settings):
    settings.DEBUG = False
    settings.OUTBOUND_ALLOW = []
    settings.SANDBOX_ENABLED = False
    settings.HTTP_TIMEOUT = 5.0
    settings.OUTBOUND_MAX_BYTES = 1024 * 1024


def resolve_to(monkeypatch, answers):
    """Make the resolver answer `answers` (one list per call, the last repeated); count calls."""
    calls = []

    def resolve(host, port):
        calls.append(host)
        return answers[min(len(calls), len(answers)) - 1]

    monkeypatch.setattr(outbound, "resolve", resolve)
    return calls


def connects(monkeypatch):
    """Record the (address, port) of every TCP connection urllib3 opens."""
    seen = []
    create = urllib3.util.connection.create_connection

    def spy(address, *args, **kwargs):
        seen.append(address)
        return create(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", spy)
    return seen


# Refused URLs send nothing.


@pytest.mark.parametrize(
    "spelling",
    ["127.0.0.1", "localhost", "LOCALHOST", "localhost.", "0x7f000001", "2130706433", "127.1",
     "017700000001", "[::ffff:127.0.0.1]"],
)  # fmt: skip
def test_a_refused_url_reaches_nothing(spelling):
    with Listener() as listener:
        with pytest.raises(OutboundRefused) as refused:
            outbound.session().get(f"http://{spelling}:{listener.port}/admin/login/")
        time.sleep(0.05)

    assert refused.value.code == "private_address"
    assert listener.accepted == 0


def test_a_refused_post_sends_no_secret(monkeypatch):
    resolve_to(monkeypatch, [["127.0.0.1"]])
    with Listener() as listener, pytest.raises(OutboundRefused):
        outbound.session().post(
            f"https://tokens.example:{listener.port}/oauth/token",
            data={"client_secret": "platform-secret"},
        )

    assert listener.accepted == 0 and listener.requests == []


def test_outbound_allow_opens_loopback_and_the_original_host_header_arrives(settings, monkeypatch):
    settings.OUTBOUND_ALLOW = ["127.0.0.0/8"]
    resolve_to(monkeypatch, [["127.0.0.1"]])

    with Listener() as listener:
        answer = outbound.session().get(f"http://erp.internal.example:{listener.port}/api/me?x=1")

    assert answer.status_code == 200 and answer.text == "ok"
    assert listener.requests[0].startswith(b"GET /api/me?x=1 HTTP/1.1")
    assert header(listener.requests[0], "Host") == f"erp.internal.example:{listener.port}"


def test_outbound_allow_by_host_and_port_only_that_port(settings, monkeypatch):
    resolve_to(monkeypatch, [["127.0.0.1"]])
    with Listener() as listener, Listener() as other:
        settings.OUTBOUND_ALLOW = [f"erp.internal.example:{listener.port}"]
        assert outbound.session().get(f"http://erp.internal.example:{listener.port}/").ok
        with pytest.raises(OutboundRefused):
            outbound.session().get(f"http://erp.internal.example:{other.port}/")

    assert listener.accepted == 1 and other.accepted == 0


def test_removing_the_allow_entry_closes_the_address_again(settings):
    with Listener() as listener:
        settings.OUTBOUND_ALLOW = ["127.0.0.1"]
        http = outbound.session()
        assert http.get(listener.url + "/").ok
        settings.OUTBOUND_ALLOW = []
        with pytest.raises(OutboundRefused) as refused:
            http.get(listener.url + "/")

    assert refused.value.code == "private_address"
    assert listener.accepted == 1


# DNS answers that change between the check and the connection.


def test_rebinding_after_the_check_cannot_move_the_connection(monkeypatch):
    calls = resolve_to(monkeypatch, [[PUBLIC_TEST_ADDRESS], ["127.0.0.1"]])
    seen = connects(monkeypatch)

    with Listener() as listener, pytest.raises(requests.ConnectionError):
        outbound.session().get(f"https://rebind.example:{listener.port}/")

    assert calls == ["rebind.example"]
    assert seen == [(PUBLIC_TEST_ADDRESS, listener.port)]
    assert listener.accepted == 0


def test_the_connection_goes_to_the_checked_address_whatever_dns_says_next(settings, monkeypatch):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    calls = resolve_to(monkeypatch, [["127.0.0.1"], [PUBLIC_TEST_ADDRESS]])
    seen = connects(monkeypatch)

    with Listener() as listener:
        answer = outbound.session().get(f"http://pinned.example:{listener.port}/x")

    assert answer.ok and calls == ["pinned.example"]
    assert seen == [("127.0.0.1", listener.port)]
    assert header(listener.requests[0], "Host") == f"pinned.example:{listener.port}"


def test_each_request_is_checked_again(settings, monkeypatch):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    resolve_to(monkeypatch, [["127.0.0.1"], ["10.9.9.9"]])
    http = outbound.session()

    with Listener() as listener:
        assert http.get(f"http://flip.example:{listener.port}/").ok
        with pytest.raises(OutboundRefused) as refused:
            http.get(f"http://flip.example:{listener.port}/")

    assert refused.value.code == "private_address"
    assert listener.accepted == 1


def test_a_connection_made_outside_a_checked_exchange_is_refused(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    adapter = outbound.OutboundAdapter()
    with Listener() as listener:
        pool = adapter.poolmanager.connection_from_url(listener.url)
        with pytest.raises(OutboundRefused):
            pool.urlopen("GET", "/", retries=False)

    assert listener.accepted == 0


# Redirects, sizes and time.


def test_redirects_are_never_followed(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    with Listener() as target:
        reply = (
            f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{target.port}/internal\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n"
        ).encode()
        with Listener(reply) as redirector:
            http = outbound.session()
            first = http.get(redirector.url + "/")
            second = http.get(redirector.url + "/", allow_redirects=True)
            third = http.post(redirector.url + "/", data={"a": "b"})

    assert [first.status_code, second.status_code, third.status_code] == [302, 302, 302]
    assert first.history == [] and second.history == []
    assert target.accepted == 0


@responses.activate
def test_redirects_are_not_followed_with_responses_either():
    responses.add(
        responses.GET,
        "https://api.example.com/a",
        status=301,
        headers={"Location": "https://169.254.169.254/latest/meta-data/"},
    )

    answer = outbound.session().get("https://api.example.com/a")

    assert answer.status_code == 301
    assert [call.request.url for call in responses.calls] == ["https://api.example.com/a"]


def test_a_declared_length_over_the_cap_is_refused_unread(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.OUTBOUND_MAX_BYTES = 1000
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n" + b"x" * 5000

    with Listener(reply) as listener, pytest.raises(OutboundRefused) as refused:
        outbound.session().get(listener.url + "/")

    assert refused.value.code == "too_large"
    assert "1000 bytes" in refused.value.message


def test_an_undeclared_body_is_cut_at_the_cap(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.OUTBOUND_MAX_BYTES = 64 * 1024
    reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"y" * (512 * 1024)

    with Listener(reply) as listener, pytest.raises(OutboundRefused) as refused:
        outbound.session().get(listener.url + "/")

    assert refused.value.code == "too_large"


@responses.activate
def test_the_cap_applies_to_mocked_answers_and_a_streaming_caller_may_read_more(settings):
    settings.OUTBOUND_MAX_BYTES = 1000
    responses.add(
        responses.GET,
        "https://files.example.com/big",
        body=b"z" * 5000,
        auto_calculate_content_length=False,
    )

    with pytest.raises(OutboundRefused) as refused:
        outbound.session().get("https://files.example.com/big")
    assert refused.value.code == "too_large"

    streaming = outbound.session(stream_max_bytes=10_000).get(
        "https://files.example.com/big", stream=True
    )
    assert sum(len(chunk) for chunk in streaming.iter_content(1024)) == 5000

    small = outbound.session(stream_max_bytes=2000).get(
        "https://files.example.com/big", stream=True
    )
    with pytest.raises(OutboundRefused):
        b"".join(small.iter_content(512))


def test_a_trickling_server_is_cut_at_the_total_deadline(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.HTTP_TIMEOUT = 1.0
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"

    with Listener(reply, trickle=0.05) as listener:
        started = time.monotonic()
        with pytest.raises(OutboundRefused) as refused:
            # Each byte comes well within the per-read timeout: only a total deadline stops it.
            outbound.session().get(listener.url + "/", timeout=5)
        elapsed = time.monotonic() - started

    assert refused.value.code == "too_slow"
    assert isinstance(refused.value, requests.Timeout)
    assert 0.9 < elapsed < 2.5


def test_a_trickling_body_is_cut_at_the_total_deadline(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.HTTP_TIMEOUT = 1.0
    # Headers at once; then a body without a length, one byte at a time, never ending.
    with Listener(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", trickle=0.05, burst=True
    ) as listener:
        started = time.monotonic()
        with pytest.raises(OutboundRefused) as refused:
            outbound.session().get(listener.url + "/")
        elapsed = time.monotonic() - started

    assert refused.value.code == "too_slow"
    assert elapsed < 2.5


def test_slow_dns_counts_against_the_deadline(settings, monkeypatch):
    settings.HTTP_TIMEOUT = 0.5

    def slow(host, port):
        time.sleep(2)
        return [PUBLIC_TEST_ADDRESS]

    monkeypatch.setattr(outbound, "resolve", slow)
    started = time.monotonic()
    with pytest.raises(OutboundRefused) as refused:
        outbound.session().get("https://slow-dns.example/")

    assert refused.value.code == "too_slow"
    assert time.monotonic() - started < 1.5


# responses sees the original URL; checks run before it.


@responses.activate
def test_responses_sees_the_original_url_after_the_checks():
    responses.add(responses.GET, "https://api.example.com/v1/me", json={"ok": True})

    answer = outbound.session().get("https://api.example.com/v1/me")

    assert answer.json() == {"ok": True}
    assert responses.calls[0].request.url == "https://api.example.com/v1/me"


@responses.activate
def test_a_refused_url_never_reaches_responses():
    responses.add(responses.GET, "http://169.254.169.254/latest/meta-data/", body="secret")

    with pytest.raises(OutboundRefused):
        outbound.session().get("http://169.254.169.254/latest/meta-data/")

    assert len(responses.calls) == 0


@responses.activate
def test_plain_http_to_a_public_host_is_refused_unless_debug(settings):
    responses.add(responses.GET, "http://api.example.com/", body="ok")

    with pytest.raises(OutboundRefused) as refused:
        outbound.session().get("http://api.example.com/")
    assert refused.value.code == "scheme"

    settings.DEBUG = True
    assert outbound.session().get("http://api.example.com/").text == "ok"


def test_proxies_are_refused_and_the_environment_is_ignored(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    http = outbound.session()

    assert http.trust_env is False
    with pytest.raises(OutboundRefused) as refused:
        http.get("https://api.example.com/", proxies={"https": "http://10.0.0.1:3128"})
    assert refused.value.code == "proxy"


def test_a_hardened_session_takes_no_other_adapter():
    http = outbound.session()

    with pytest.raises(TypeError):
        http.mount("https://", requests.adapters.HTTPAdapter())
    assert outbound.is_hardened(http)
    assert not outbound.is_hardened(requests.Session())


# OAuth sessions hardened in place.


@responses.activate
def test_oauth2_session_token_requests_go_through_the_checks(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    responses.add(
        responses.POST,
        "https://auth.example.com/token",
        json={"access_token": "a", "token_type": "Bearer", "refresh_token": "r"},
    )
    oauth = outbound.harden(OAuth2Session("client-id", redirect_uri="https://app.example/cb"))

    token = oauth.fetch_token(
        "https://auth.example.com/token",
        code="c",
        client_secret="platform-secret",
        include_client_id=True,
    )
    assert token["access_token"] == "a"

    for url in (
        "https://127.0.0.1:8443/x?.zendesk.com/oauth/tokens",
        "http://169.254.169.254/token",
    ):
        with pytest.raises(OutboundRefused):
            oauth.fetch_token(url, code="c", client_secret="platform-secret")
        with pytest.raises(OutboundRefused):
            oauth.refresh_token(url, refresh_token="r", client_id="client-id", client_secret="s")
    assert len(responses.calls) == 1


@responses.activate
def test_oauth1_session_token_requests_go_through_the_checks():
    responses.add(
        responses.POST,
        "https://api.example.com/oauth/request_token",
        body="oauth_token=t&oauth_token_secret=s&oauth_callback_confirmed=true",
    )
    oauth = outbound.harden(
        OAuth1Session("key", client_secret="secret", callback_uri="https://app.example/cb")
    )

    assert (
        oauth.fetch_request_token("https://api.example.com/oauth/request_token")["oauth_token"]
        == "t"
    )
    with pytest.raises(OutboundRefused):
        oauth.fetch_request_token("https://10.0.0.5/oauth/request_token")
    with pytest.raises(OutboundRefused):
        oauth.fetch_access_token("https://localhost/oauth/access_token", verifier="v")
    assert len(responses.calls) == 1


# TLS: SNI and the certificate check use the original name, not the pinned address.


@pytest.fixture
def tls_for(tmp_path):
    """Return (server SSLContext, CA file) for a self-signed certificate naming `name`."""

    def make(name):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        cert_file = tmp_path / f"{name}.pem"
        key_file = tmp_path / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context, str(cert_file)

    return make


def test_tls_uses_the_original_name_for_sni_and_the_certificate(settings, monkeypatch, tls_for):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    resolve_to(monkeypatch, [["127.0.0.1"]])
    context, ca_file = tls_for("pinned.example")

    with Listener(tls=context) as listener:
        answer = outbound.session().get(
            f"https://pinned.example:{listener.port}/me", verify=ca_file
        )

    assert answer.status_code == 200
    assert listener.server_names == ["pinned.example"]
    assert header(listener.requests[0], "Host") == f"pinned.example:{listener.port}"


def test_tls_to_a_name_the_certificate_does_not_hold_fails(settings, monkeypatch, tls_for):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    resolve_to(monkeypatch, [["127.0.0.1"]])
    context, ca_file = tls_for("pinned.example")

    with Listener(tls=context) as listener:
        with pytest.raises(requests.exceptions.SSLError):
            outbound.session().get(f"https://other.example:{listener.port}/", verify=ca_file)
        with pytest.raises(requests.exceptions.SSLError):
            # verify=False is not honoured: a hardened session always checks certificates.
            outbound.session().get(f"https://other.example:{listener.port}/", verify=False)

    assert listener.requests == []


# Kept-alive connections: per checked address, watched per exchange, replaced when stale.


def test_a_connection_is_kept_for_the_next_request_to_the_same_address(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]

    with KeptListener() as listener:
        for _ in range(5):
            with outbound.session() as http:  # every proxied call builds its own session
                assert http.get(listener.url + "/x").text == "ok"

    assert listener.accepted == 1
    assert [number for number, _ in listener.requests] == [1] * 5


def test_a_kept_connection_never_serves_another_checked_address(settings, monkeypatch):
    settings.OUTBOUND_ALLOW = ["127.0.0.0/8"]
    resolve_to(monkeypatch, [["127.0.0.1"], ["127.0.0.2"]])
    seen = connects(monkeypatch)

    with KeptListener() as listener:  # listens on 127.0.0.1 only
        assert outbound.session().get(f"http://moving.example:{listener.port}/").ok
        # DNS now answers another address: the connection kept to the first one is not used.
        with pytest.raises(requests.ConnectionError):
            outbound.session().get(f"http://moving.example:{listener.port}/")

    assert seen == [("127.0.0.1", listener.port), ("127.0.0.2", listener.port)]
    assert len(listener.requests) == 1


def test_a_kept_connection_closed_as_the_request_leaves_is_retried_once_anew(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    # Each connection answers its first request, then closes on the second unanswered.
    with KeptListener(lambda connection, index: "ok" if index == 0 else "drop") as listener:
        http = outbound.session()
        assert http.get(listener.url + "/one").ok
        answer = http.post(listener.url + "/two", data=b"payload")

    assert answer.status_code == 200 and answer.text == "ok"
    assert listener.accepted == 2
    assert [line for _, line in listener.requests] == [
        b"GET /one HTTP/1.1", b"POST /two HTTP/1.1", b"POST /two HTTP/1.1",
    ]  # fmt: skip


def test_a_new_connection_that_fails_is_not_retried(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    with KeptListener(lambda connection, index: "drop") as listener:
        with pytest.raises(requests.ConnectionError):
            outbound.session().get(listener.url + "/")

    assert listener.accepted == 1 and len(listener.requests) == 1


def test_the_deadline_holds_on_a_kept_connection(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.HTTP_TIMEOUT = 1.0
    with KeptListener(lambda connection, index: "ok" if index == 0 else "trickle") as listener:
        assert outbound.session().get(listener.url + "/").ok
        time.sleep(1.2)  # past the first exchange's deadline: its watch was lifted in the pool
        started = time.monotonic()
        with pytest.raises(OutboundRefused) as refused:
            outbound.session().get(listener.url + "/slow", timeout=5)
        elapsed = time.monotonic() - started

    assert refused.value.code == "too_slow"
    assert listener.accepted == 1  # the second request went out on the kept connection
    assert 0.9 < elapsed < 2.5


def test_a_cut_off_answer_leaves_no_connection_to_keep(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.OUTBOUND_MAX_BYTES = 1000
    # The first connection declares 100000 bytes (refused unread), later ones answer "ok".
    with KeptListener(lambda connection, index: "trickle" if connection == 1 else "ok") as listener:
        with pytest.raises(OutboundRefused) as refused:
            outbound.session().get(listener.url + "/big")
        assert outbound.session().get(listener.url + "/small").ok

    assert refused.value.code == "too_large"
    assert [number for number, _ in listener.requests] == [1, 2]


def test_an_idle_connection_past_the_keep_alive_time_is_replaced(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.OUTBOUND_KEEP_ALIVE_SECONDS = 0.2
    with KeptListener() as listener:
        assert outbound.session().get(listener.url + "/").ok
        assert outbound.session().get(listener.url + "/").ok
        time.sleep(0.3)
        assert outbound.session().get(listener.url + "/").ok

    assert [number for number, _ in listener.requests] == [1, 1, 2]


def test_keep_alive_zero_opens_a_connection_per_request(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1"]
    settings.OUTBOUND_KEEP_ALIVE_SECONDS = 0
    with KeptListener() as listener:
        http = outbound.session()
        for _ in range(3):
            assert http.get(listener.url + "/").ok

    assert listener.accepted == 3
