"""Validate the provider files and upsert their apps by slug."""

from django.core.management.base import BaseCommand, CommandError

from catalog.schema import CatalogError
from catalog.services import catalog_sync


class Command(BaseCommand):
    help = (
        "Validate provider files (default catalog/providers/*.yaml) and upsert their apps by "
        "slug. Any error refuses the whole set; nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", metavar="FILE", help="provider files (default: all)")
        parser.add_argument("--check", action="store_true", help="validate only, write nothing")

    def handle(self, *args, files, check, **options):
        try:
            result = catalog_sync(paths=files or None, check=check)
        except CatalogError as exc:
            raise CommandError(str(exc)) from None
        if check:
            self.stdout.write(self.style.SUCCESS(f"{result.checked} apps valid."))
            return
        for slug in result.skipped:
            self.stderr.write(
                self.style.WARNING(f"app '{slug}': managed in the admin (source=admin), left alone")
            )
        self.stdout.write(self.style.SUCCESS(result.summary()))
