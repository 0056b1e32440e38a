"""Builders for the provider contract tests: catalog entries as Apps, with a registered client."""

from catalog.models import App
from catalog.schema import default_files, validate_files
from catalog.services import oauth_client_set

CATALOG = {spec["slug"]: spec for spec in validate_files(default_files())}
CLIENT_ID = "cid-123"
CLIENT_SECRET = "csecret-456"


def catalog_app(slug: str, *, client: bool = True) -> App:
    """Create the App of one shipped catalog entry (its spec as sync_catalog stores it)."""
    spec = CATALOG[slug]
    app = App.objects.create(
        slug=spec["slug"], name=spec["name"], category=spec["category"], auth_mode=spec["auth"], spec=spec
    )
    if client and app.needs_oauth_client:
        oauth_client_set(app=app, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        app.refresh_from_db()
    return app
