from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug
from django.utils.text import slugify

from connections.models import Tenant


class Command(BaseCommand):
    help = "Create a tenant (a company). Example: create_tenant 'Acme Inc' --slug acme"

    def add_arguments(self, parser):
        parser.add_argument("name", help="The company's name as people see it.")
        parser.add_argument("--slug", help="Short unique id used in commands (default: from the name).")

    def handle(self, *args, name, slug=None, **options):
        name = name.strip()
        if not name:
            raise CommandError("The tenant name is empty.")
        slug = (slug or slugify(name)).strip()
        try:
            validate_slug(slug)
        except ValidationError:
            raise CommandError(
                f"Invalid slug {slug!r}: use lowercase letters, digits, '-' and '_' only."
            ) from None
        if len(slug) > Tenant._meta.get_field("slug").max_length:
            raise CommandError(f"Slug {slug!r} is too long (64 characters at most).")
        existing = Tenant.objects.filter(slug=slug).first()
        if existing is not None:
            raise CommandError(f"A tenant with slug {slug!r} already exists ({existing.name}). Choose another --slug.")
        tenant = Tenant.objects.create(name=name, slug=slug)
        self.stdout.write(self.style.SUCCESS(f"Created tenant {tenant.name} (slug {tenant.slug})."))
        self.stdout.write(f"Add people with: manage.py add_member {tenant.slug} USERNAME --role admin")
