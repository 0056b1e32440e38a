"""Brand icons of catalog apps: Simple Icons glyphs vendored under static/brands/ (CC0).

An app's icon is the Simple Icons slug its spec names (`icon:`), else its own slug, else its
slug without hyphens (Simple Icons slugs have none: "help-scout" is "helpscout"). Apps whose
icon is not vendored get a letters tile. `manage.py vendor_brand_icons` writes the files.
"""

import functools
from pathlib import Path

from django.conf import settings

BRANDS_DIR = "brands"
# The glyph sits in a tile of the brand's colour: 24-unit glyph in a 36-unit square.
TILE = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="-6 -6 36 36">'
    '<rect x="-6" y="-6" width="36" height="36" rx="9" fill="#{background}"/>'
    '<g fill="#{foreground}">{glyph}</g></svg>\n'
)


def brands_dir() -> Path:
    """Return the folder the vendored icons live in (static/brands/ of the project)."""
    return Path(settings.BASE_DIR) / "static" / BRANDS_DIR


def icon_candidates(*, slug: str, spec: dict | None) -> list[str]:
    """Return the Simple Icons slugs to try for an app, most specific first."""
    named = (spec or {}).get("icon")
    candidates = [named] if named else []
    candidates += [slug, slug.replace("-", "")]
    return list(dict.fromkeys(c for c in candidates if c))


@functools.cache
def vendored() -> frozenset[str]:
    """Return the Simple Icons slugs present under static/brands/ (read once per process)."""
    folder = brands_dir()
    if not folder.is_dir():
        return frozenset()
    return frozenset(path.stem for path in folder.glob("*.svg"))


def icon_path(*, slug: str, spec: dict | None) -> str | None:
    """Return the static path of an app's brand icon ("brands/stripe.svg"), or None."""
    available = vendored()
    for candidate in icon_candidates(slug=slug, spec=spec):
        if candidate in available:
            return f"{BRANDS_DIR}/{candidate}.svg"
    return None


def glyph_colour(hex_colour: str) -> str:
    """Return white or near-black, whichever reads better on the brand colour (WCAG luminance)."""
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    on_white = 1.05 / (luminance + 0.05)
    on_black = (luminance + 0.05) / (0.0 + 0.05)
    return "FFFFFF" if on_white >= on_black else "1A1A1A"


def tile_svg(*, svg: str, hex_colour: str) -> str:
    """Return a Simple Icons SVG redrawn as a tile: the glyph on its brand colour."""
    inner = svg.split(">", 1)[1].rsplit("</svg>", 1)[0]
    if "</title>" in inner:
        inner = inner.split("</title>", 1)[1]
    return TILE.format(
        background=hex_colour.upper(), foreground=glyph_colour(hex_colour), glyph=inner
    )
