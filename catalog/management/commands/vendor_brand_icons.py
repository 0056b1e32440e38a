"""Copy the brand icons the catalog uses from the simple-icons-pack package into static/brands/.

Run at build time (`make icons`), never at request time: the SVGs are committed, so the
dashboard serves them itself and no CDN is involved. simple-icons-pack is a development
dependency; production only needs the committed files.
"""

from importlib.metadata import version

from django.core.management.base import BaseCommand, CommandError

from catalog import icons
from catalog.schema import default_files, validate_files

LICENCE = """# Brand icons

Glyphs from Simple Icons {version} (https://simpleicons.org), via the PyPI package
simple-icons-pack, released under CC0 1.0 Universal: no attribution is required.
The brands themselves are trademarks of their owners; each may have brand guidelines.

Written by `python manage.py vendor_brand_icons` (`make icons`): one tile per catalog app
whose Simple Icons slug exists (the spec's `icon:` key, else the app slug). Do not edit by
hand; rerun the command after adding apps.

{rows}
"""


class Command(BaseCommand):
    help = "Write static/brands/*.svg for the catalog's apps from simple-icons-pack (CC0)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true", help="Report differences, write nothing."
        )

    def handle(self, *args, check=False, **options):
        try:
            import simple_icons_pack  # a dev dependency: production never runs this command
        except ImportError:
            raise CommandError(
                "simple-icons-pack is not installed: pip install -r requirements.lock"
            ) from None

        wanted, missing = {}, []
        for spec in validate_files(default_files()):
            for candidate in icons.icon_candidates(slug=spec["slug"], spec=spec):
                found = simple_icons_pack.get_icon(candidate)
                if found is not None:
                    wanted[found.slug] = (found, spec)
                    break
            else:
                missing.append(spec["slug"])

        folder = icons.brands_dir()
        files = {
            slug: icons.tile_svg(svg=found.svg, hex_colour=found.hex)
            for slug, (found, _) in wanted.items()
        }
        rows = "\n".join(
            f"- `{slug}.svg`: {found.title} ({spec['slug']})"
            for slug, (found, spec) in sorted(wanted.items())
        )
        files_text = {f"{slug}.svg": text for slug, text in files.items()}
        files_text["README.md"] = LICENCE.format(version=version("simple-icons-pack"), rows=rows)
        present = {path.name for path in folder.glob("*")} if folder.is_dir() else set()
        stale = present - set(files_text)
        changed = [
            name
            for name, text in files_text.items()
            if not (folder / name).is_file() or (folder / name).read_text() != text
        ]

        if check:
            if changed or stale:
                raise CommandError(
                    f"static/brands is out of date: changed {sorted(changed)}, stale {sorted(stale)}."
                    " Run make icons."
                )
            self.stdout.write(f"static/brands is up to date: {len(files)} icons.")
            return
        folder.mkdir(parents=True, exist_ok=True)
        for name in changed:
            (folder / name).write_text(files_text[name])
        for name in stale:
            (folder / name).unlink()
        icons.vendored.cache_clear()
        self.stdout.write(
            f"{len(files)} icons in static/brands ({len(changed)} written, {len(stale)} removed)."
        )
        if missing:
            self.stdout.write(f"No Simple Icons glyph (letters tile): {', '.join(missing)}")
