"""Register our OAuth client with a provider: the client secret is read from standard input."""

import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from catalog.models import App
from catalog.schema import CatalogError
from catalog.services import oauth_client_set


class Command(BaseCommand):
    help = (
        "Set the OAuth client id of an app and read its client secret from standard input "
        "(never from the command line): echo \"$SECRET\" | manage.py set_oauth_client SLUG --client-id ID"
    )

    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--scopes", help="space-separated scopes replacing the app's defaults")

    def handle(self, *args, slug, client_id, scopes, **options):
        app = App.objects.filter(slug=slug).first()
        if app is None:
            raise CommandError(f"Unknown app '{slug}'. Run sync_catalog, or check the slug.")
        if not app.needs_oauth_client:
            raise CommandError(
                f"App '{slug}' uses {app.get_auth_mode_display()}: only OAuth apps have a client."
            )
        stdin = options.get("stdin") or sys.stdin
        if stdin.isatty():
            secret = getpass.getpass("Client secret (not echoed): ").strip()
        else:
            secret = stdin.readline().strip()
        if not secret:
            raise CommandError("Empty client secret: pipe it on standard input.")
        try:
            client = oauth_client_set(
                app=app,
                client_id=client_id,
                client_secret=secret,
                scopes_override=scopes.split() if scopes is not None else None,
            )
        except CatalogError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"OAuth client for {app.name} saved."))
        self.stdout.write(f"Redirect URI to register with the provider: {client.redirect_uri}")
