"""Headers and page chrome every response shares: CSP, Permissions-Policy, 500, signing out."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import render_to_string

pytestmark = pytest.mark.django_db

TEMPLATE_DIRS = [
    Path(settings.BASE_DIR) / "templates",
    Path(settings.BASE_DIR) / "sandbox" / "templates",
]
# What a default-src 'self' policy without 'unsafe-inline' blocks in markup.
BLOCKED = re.compile(
    r"""\sstyle=|<style|\son[a-z]+=|<script(?![^>]*\ssrc=)[^>]*>\s*\S|javascript:"""
)


def test_pages_send_a_strict_csp_and_a_permissions_policy(client, settings):
    assert settings.DEBUG is False  # make test runs with DEBUG off, as production does
    response = client.get("/accounts/login/")
    csp = dict(
        part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")
    )
    assert csp["default-src"] == "'self'"
    assert (
        csp["script-src"] == "'self'"
        and csp["style-src"] == "'self'"
        and csp["img-src"] == "'self'"
    )
    assert csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    policy = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in policy


def test_no_template_carries_what_the_csp_blocks():
    for bad in ('<p style="x">', "<style>", '<select onchange="go()">', "<script>go()</script>"):
        assert BLOCKED.search(bad), bad
    assert not BLOCKED.search('<script src="/static/js/app.js" defer></script>')
    offenders = []
    for folder in TEMPLATE_DIRS:
        for path in folder.rglob("*.html"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if BLOCKED.search(line):
                    offenders.append(f"{path.relative_to(settings.BASE_DIR)}:{number}")
    assert offenders == []


def test_500_page_renders_without_context_in_our_look():
    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html and "/static/css/app.css" in html


def test_an_error_answers_with_our_500_page(client, settings):
    from django.urls import path

    def broken(request):
        raise RuntimeError("boom")

    settings.ROOT_URLCONF = type("urls", (), {"urlpatterns": [path("broken/", broken)]})
    client.raise_request_exception = False
    response = client.get("/broken/")
    assert response.status_code == 500 and b"Something went wrong on our side" in response.content


def test_signing_out_says_so_on_the_sign_in_page(client_for, operator_member):
    client = client_for(operator_member)
    response = client.post("/accounts/logout/", follow=True)
    assert response.request["PATH_INFO"] == "/accounts/login/"
    assert "You are signed out." in response.content.decode()


def test_every_page_has_a_skip_link_to_its_main_content(client_for, operator_member):
    html = client_for(operator_member).get("/connections/").content.decode()
    assert '<a class="skip-link" href="#content">Skip to content</a>' in html
    assert 'id="content"' in html
