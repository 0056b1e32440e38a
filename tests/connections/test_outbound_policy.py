"""Which URLs the outbound layer lets an operator type and the app request (no request sent)."""

import socket

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

from connections import outbound
from connections.outbound import OutboundRefused, check_operator_url
from tests.conftest import PUBLIC_TEST_ADDRESS


@pytest.fixture(autouse=True)
def production_like(settings):
    settings.DEBUG = False
    settings.OUTBOUND_ALLOW = []
    settings.SANDBOX_ENABLED = True
    settings.SANDBOX_URL = "http://localhost:8000"


def verdict(url):
    try:
        check_operator_url(url)
    except OutboundRefused as refusal:
        return refusal.code
    return "ok"


TABLE = [
    # Public hosts over https.
    ("https://api.example.com/v1", "ok"),
    ("https://API.Example.COM./v1", "ok"),
    ("https://8.8.8.8/", "ok"),
    ("https://[2606:4700::1111]/", "ok"),
    ("https://[64:ff9b::808:808]/", "ok"),  # NAT64 of a public address
    ("https://[2002:808:808::1]/", "ok"),  # 6to4 of a public address
    ("https://xn--bcher-kva.example/", "ok"),  # an IDN in its ASCII form
    ("https://api.example.com:8443/hook?token=1", "ok"),
    # Schemes.
    ("http://api.example.com/", "scheme"),
    ("ftp://api.example.com/", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("gopher://api.example.com/", "scheme"),
    ("javascript:alert(1)", "scheme"),
    # Credentials in the URL.
    ("https://user:secret@api.example.com/", "credentials_in_url"),
    ("https://x@evil.com/", "credentials_in_url"),
    ("https://api.example.com@127.0.0.1/", "credentials_in_url"),
    # Loopback in every spelling the C resolver reads.
    ("https://127.0.0.1/", "private_address"),
    ("https://127.0.0.1:8443/x?", "private_address"),
    ("https://localhost/", "private_address"),
    ("https://localhost./", "private_address"),
    ("https://LOCALHOST/", "private_address"),
    ("https://tenant.localhost/", "private_address"),
    ("https://0x7f000001/", "private_address"),
    ("https://2130706433/", "private_address"),
    ("https://017700000001/", "private_address"),
    ("https://127.1/", "private_address"),
    ("https://0177.0.0.01/", "private_address"),
    ("https://0x7f.1/", "private_address"),
    ("https://127.0.0.1./", "private_address"),
    ("https://0.0.0.0/", "private_address"),
    ("https://0/", "private_address"),
    ("https://[::1]/", "private_address"),
    ("https://[::]/", "private_address"),
    ("https://[::ffff:127.0.0.1]/", "private_address"),
    ("https://[::ffff:7f00:1]/", "private_address"),
    ("https://[::127.0.0.1]/", "private_address"),  # IPv4-compatible
    ("https://[64:ff9b::7f00:1]/", "private_address"),  # NAT64 of loopback
    ("https://[2002:7f00:1::]/", "private_address"),  # 6to4 of loopback
    # Private, link-local, shared and special ranges.
    ("https://10.0.0.1/", "private_address"),
    ("https://172.16.5.4/", "private_address"),
    ("https://172.31.255.255/", "private_address"),
    ("https://192.168.1.1/", "private_address"),
    ("https://169.254.169.254/latest/meta-data/", "private_address"),
    ("https://[2002:a9fe:a9fe::]/", "private_address"),  # 6to4 of the metadata address
    ("https://[::ffff:169.254.169.254]/", "private_address"),
    ("https://100.64.0.1/", "private_address"),
    ("https://[fc00::1]/", "private_address"),
    ("https://[fd12:3456::1]/", "private_address"),
    ("https://[fe80::1]/", "private_address"),
    ("https://224.0.0.1/", "private_address"),
    ("https://[ff02::1]/", "private_address"),
    ("https://240.0.0.1/", "private_address"),
    ("https://255.255.255.255/", "private_address"),
    ("https://192.0.2.1/", "private_address"),
    ("https://198.51.100.7/", "private_address"),
    ("https://203.0.113.9/", "private_address"),
    ("https://198.18.0.1/", "private_address"),
    ("https://[2001:db8::1]/", "private_address"),
    ("https://[2001::1]/", "private_address"),  # Teredo
    # Malformed hosts.
    ("https://bücher.example/", "bad_url"),
    ("https://exa mple.com/", "bad_url"),
    ("https://example.com\\@evil.com/", "bad_url"),
    ("https://%31%32%37.0.0.1/", "bad_url"),
    ("https://evil.com%2F@x/", "credentials_in_url"),
    ("https:///path", "bad_url"),
    ("https://example.com:99999/", "bad_url"),
    ("https://1.2.3.999/", "bad_url"),
    ("https://[fe80::1%25eth0]/", "bad_url"),
    ("https://exa\nmple.com/", "bad_url"),
    ("", "bad_url"),
]


@pytest.mark.parametrize("url,expected", TABLE, ids=[url or "empty" for url, _ in TABLE])
def test_operator_url_verdicts(url, expected):
    assert verdict(url) == expected


def test_the_table_is_long_enough_to_mean_something():
    assert len(TABLE) >= 40


def test_private_message_says_what_to_do():
    with pytest.raises(OutboundRefused) as refused:
        check_operator_url("https://10.1.2.3/")

    assert refused.value.message == (
        "This address is on a private network. Ask your administrator to allow it (OUTBOUND_ALLOW)."
    )


def test_no_message_quotes_the_url():
    for url in (
        "https://10.1.2.3/secret-path?token=abc",
        "https://u:p@x.example/",
        "http://x.example/?k=v",
    ):
        with pytest.raises(OutboundRefused) as refused:
            check_operator_url(url)
        assert "secret" not in refused.value.message and "abc" not in refused.value.message
        assert "x.example" not in refused.value.message


def test_normalised_url_lowercases_host_and_drops_fragment():
    assert check_operator_url("  HTTPS://API.Example.com./v1/Things?a=1#frag ") == (
        "https://api.example.com/v1/Things?a=1"
    )
    assert (
        check_operator_url("https://[2606:4700::1111]:8443/x") == "https://[2606:4700::1111]:8443/x"
    )


def test_every_resolved_address_must_be_public(monkeypatch):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: [PUBLIC_TEST_ADDRESS, "10.0.0.7"])

    assert verdict("https://split.example/") == "private_address"


def test_a_name_resolving_to_the_metadata_address_is_refused(monkeypatch):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["169.254.169.254"])

    assert verdict("https://metadata.google.internal/") == "private_address"


def test_unresolvable_name_is_a_refusal_and_a_connection_error(monkeypatch):
    def fail(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(outbound, "resolve", fail)

    with pytest.raises(OutboundRefused) as refused:
        check_operator_url("https://nowhere.example/")
    assert refused.value.code == "unresolvable"
    assert isinstance(refused.value, requests.ConnectionError)


def test_debug_allows_http_but_never_a_private_address(settings):
    settings.DEBUG = True

    assert verdict("http://api.example.com/") == "ok"
    assert verdict("http://127.0.0.1:8100/admin/login/") == "private_address"
    assert verdict("https://169.254.169.254/") == "private_address"


def test_outbound_allow_cidr_opens_private_addresses_and_http(settings):
    settings.OUTBOUND_ALLOW = ["10.0.0.0/8"]

    assert verdict("https://10.1.2.3/") == "ok"
    assert verdict("http://10.1.2.3:8080/api") == "ok"
    assert verdict("https://192.168.1.1/") == "private_address"
    assert verdict("http://api.example.com/") == "scheme"


def test_outbound_allow_host_and_port(settings, monkeypatch):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["10.20.30.40"])
    settings.OUTBOUND_ALLOW = "erp.internal:8443, [fd00::1]:9000"

    assert verdict("https://erp.internal:8443/api") == "ok"
    assert verdict("http://erp.internal:8443/api") == "ok"
    assert verdict("https://erp.internal/api") == "private_address"
    assert verdict("https://other.internal:8443/api") == "private_address"
    assert verdict("https://[fd00::1]:9000/") == "ok"
    assert verdict("https://[fd00::1]:9001/") == "private_address"


def test_outbound_allow_plain_address_and_name(settings, monkeypatch):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["192.168.7.7"])
    settings.OUTBOUND_ALLOW = ["127.0.0.1", "Crm.Corp.Example."]

    assert verdict("http://127.0.0.1:9999/") == "ok"
    assert verdict("http://127.0.0.2/") == "private_address"
    assert verdict("https://crm.corp.example/") == "ok"


def test_a_malformed_outbound_allow_entry_stops_with_its_name(settings):
    settings.OUTBOUND_ALLOW = ["10.0.0.0/33"]

    with pytest.raises(ImproperlyConfigured, match="10.0.0.0/33"):
        check_operator_url("https://api.example.com/")


def test_sandbox_url_only_while_enabled_and_only_its_pages(settings):
    assert verdict("http://localhost:8000/sandbox/api/me") == "ok"
    assert verdict("http://localhost:8000/sandbox") == "ok"
    assert verdict("http://localhost:8000/admin/login/") == "private_address"
    assert verdict("http://localhost:8000/sandbox/../admin/") == "private_address"
    assert verdict("http://localhost:8001/sandbox/api/me") == "private_address"
    assert verdict("http://127.0.0.1:8000/sandbox/api/me") == "private_address"

    settings.SANDBOX_ENABLED = False
    assert verdict("http://localhost:8000/sandbox/api/me") == "private_address"


@pytest.mark.parametrize(
    "host,address",
    [
        ("0x7f000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("10.258", "10.0.1.2"),
        ("0", "0.0.0.0"),
        ("api.example.com", None),
        ("08.1.1.1", None),
        ("1.2.3.4.5", None),
        ("256.0.0.1", None),
    ],
)
def test_ipv4_literals_are_read_as_inet_aton_reads_them(host, address):
    literal = outbound.ipv4_literal(host)
    assert (str(literal) if literal else None) == address
    if address is not None:
        assert socket.inet_ntoa(socket.inet_aton(host)) == address


@pytest.mark.parametrize(
    "url,shown",
    [
        (
            "https://hooks.example.com/services/T0/B0/XXXXSECRET",
            "https://hooks.example.com/services/…",
        ),
        (
            "https://user:pw@hooks.example.com:8443/hook?token=abc#x",
            "https://hooks.example.com:8443/hook?…",
        ),
        ("https://hooks.example.com", "https://hooks.example.com/"),
        ("HTTPS://[2606:4700::1111]/a/b", "https://[2606:4700::1111]/a/…"),
        ("not a url", "(not a valid address)"),
        ("https://example.com:99999/", "(not a valid address)"),
    ],
)
def test_display_url_never_shows_credentials_query_or_deep_path(url, shown):
    assert outbound.display_url(url) == shown
