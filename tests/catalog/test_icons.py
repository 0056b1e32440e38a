"""Brand icons: the spec's icon key, the vendored Simple Icons tiles and the fallback letters."""

import pytest
from django.core.management import call_command
from django.template import Context, Template

from catalog import icons
from catalog.models import App
from catalog.schema import validate_app

VALID = {
    "slug": "acme",
    "name": "Acme",
    "category": "crm",
    "auth": "api_key",
    "base_url": "https://api.acme.test",
    "apply": {"headers": {"Authorization": "Bearer {api_key}"}},
    "fields": [{"key": "api_key", "label": "API key", "secret": True}],
    "test": {"method": "GET", "path": "/me"},
}


def test_icon_key_is_a_simple_icons_slug():
    assert validate_app({**VALID, "icon": "zoho"}) == []
    problems = validate_app({**VALID, "icon": "../../etc/passwd"})
    assert problems and any("icon" in problem for problem in problems)


def test_icon_is_the_key_then_the_slug_then_the_slug_without_hyphens():
    assert icons.icon_candidates(slug="zoho-crm", spec={"icon": "zoho"}) == [
        "zoho",
        "zoho-crm",
        "zohocrm",
    ]
    assert icons.icon_path(slug="help-scout", spec={}) == "brands/helpscout.svg"
    assert icons.icon_path(slug="x-twitter", spec={"icon": "x"}) is None  # not vendored: letters
    assert icons.icon_path(slug="acme-unknown", spec=None) is None


def test_vendored_icons_match_the_catalog(capsys):
    call_command("vendor_brand_icons", "--check")
    assert "up to date" in capsys.readouterr().out


def test_tiles_are_plain_svg_with_a_readable_glyph():
    svg = (icons.brands_dir() / "stripe.svg").read_text()
    assert (
        svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
        and "<script" not in svg
        and "<title>" not in svg
    )
    assert 'fill="#635BFF"' in svg and 'fill="#FFFFFF"' in svg
    assert icons.glyph_colour("FFC233") == "1A1A1A" and icons.glyph_colour("000000") == "FFFFFF"
    assert (
        "Simple Icons" in (icons.brands_dir() / "README.md").read_text()
        and "CC0" in (icons.brands_dir() / "README.md").read_text()
    )


@pytest.mark.django_db
def test_app_icon_tag_uses_the_tile_or_letters():
    stripe = App(slug="stripe", name="Stripe", spec={})
    acme = App(slug="acme", name="Acme Billing", spec={})
    html = Template("{% load ui %}{% app_icon a 'lg' %}|{% app_icon b %}").render(
        Context({"a": stripe, "b": acme})
    )
    tile, letters = html.split("|")
    assert (
        tile
        == '<img class="app-icon lg" src="/static/brands/stripe.svg" alt="" width="36" height="36" loading="lazy">'
    )
    assert ">AB<" in letters and 'aria-hidden="true"' in letters and "style=" not in letters


@pytest.mark.django_db
def test_catalog_sorts_names_ignoring_case(client_for, operator_member):
    App.objects.create(slug="zoom", name="Zoom", category="communication", auth_mode="api_key")
    App.objects.create(
        slug="monday", name="monday.com", category="productivity", auth_mode="api_key"
    )
    App.objects.create(slug="asana", name="Asana", category="productivity", auth_mode="api_key")
    html = client_for(operator_member).get("/catalog/").content.decode()
    assert html.index("Asana") < html.index("monday.com") < html.index("Zoom")


@pytest.mark.django_db
def test_sandbox_docs_link_points_at_the_sandbox(client_for, operator_member, settings):
    settings.SANDBOX_URL = "http://localhost:8123"
    App.objects.create(
        slug="sandbox-basic",
        name="Sandbox basic",
        category="sandbox",
        auth_mode="basic",
        docs_url="{sandbox}/sandbox/",
    )
    html = client_for(operator_member).get("/catalog/sandbox-basic/").content.decode()
    assert 'href="http://localhost:8123/sandbox/"' in html and "{sandbox}" not in html
