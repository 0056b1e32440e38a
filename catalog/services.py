"""Writes of the catalog: syncing provider files into App rows, and OAuth client registrations."""

from dataclasses import dataclass, field

from django.db import transaction

from vault.services import secret_open, secret_replace, secret_seal

from .models import App, OAuthClient
from .schema import CatalogError, default_files, validate_files

OAUTH_CLIENT_PURPOSE = "oauth_client"
SYNCED_COLUMNS = ("name", "category", "description", "auth_mode", "docs_url", "setup_steps", "spec")


@dataclass
class SyncResult:
    created: list = field(default_factory=list)
    updated: list = field(default_factory=list)
    disabled: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # slugs owned by the admin (source=admin)
    checked: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.disabled)} disabled, {len(self.unchanged)} unchanged"
        )


def app_columns(spec: dict) -> dict:
    """Return the App columns that mirror a validated spec."""
    return {
        "name": spec["name"],
        "category": spec["category"],
        "description": spec.get("description", ""),
        "auth_mode": spec["auth"],
        "docs_url": spec.get("docs_url", ""),
        "setup_steps": spec.get("setup_steps", ""),
        "spec": spec,
    }


def catalog_sync(*, paths=None, check: bool = False) -> SyncResult:
    """Validate provider files, then upsert their apps by slug in one transaction.

    Any error refuses the whole set (CatalogError) before anything is written. Apps that came
    from files and are in none of them any more are disabled, only when the full default set
    is synced. Apps whose source is the admin are left alone.
    """
    full_set = paths is None
    paths = default_files() if full_set else list(paths)
    specs = validate_files(paths)
    result = SyncResult(checked=len(specs))
    if check:
        return result

    with transaction.atomic():
        existing = {app.slug: app for app in App.objects.select_for_update()}
        for spec in specs:
            columns = app_columns(spec)
            app = existing.get(spec["slug"])
            if app is None:
                App.objects.create(slug=spec["slug"], source=App.Source.FILE, enabled=True, **columns)
                result.created.append(spec["slug"])
                continue
            if app.source == App.Source.ADMIN:
                result.skipped.append(app.slug)
                continue
            changed = [name for name, value in columns.items() if getattr(app, name) != value]
            if not app.enabled:
                changed.append("enabled")
                app.enabled = True
            if changed:
                for name in changed:
                    if name != "enabled":
                        setattr(app, name, columns[name])
                app.save(update_fields=changed + ["updated_at"])
                result.updated.append(app.slug)
            else:
                result.unchanged.append(app.slug)
        if full_set:
            in_files = {spec["slug"] for spec in specs}
            gone = [
                app for app in existing.values()
                if app.source == App.Source.FILE and app.enabled and app.slug not in in_files
            ]
            for app in gone:
                app.enabled = False
                app.save(update_fields=["enabled", "updated_at"])
                result.disabled.append(app.slug)
    return result


@transaction.atomic
def oauth_client_set(
    *, app: App, client_id: str, client_secret: str | None, scopes_override=None
) -> OAuthClient:
    """Create or update the app's OAuth client; the secret is sealed (replaced in place).

    client_secret None (or blank) keeps the current secret; it is required for a new
    registration. scopes_override None keeps the current override.
    """
    if not app.needs_oauth_client:
        raise CatalogError(f"app '{app.slug}' uses {app.get_auth_mode_display()}, not OAuth")
    client_id = (client_id or "").strip()
    if not client_id:
        raise CatalogError("client id: required")
    client = OAuthClient.objects.select_for_update().filter(app=app).first()
    if client is None:
        client = OAuthClient(app=app)
    if client_secret:
        payload = {"client_secret": client_secret}
        if client.client_secret_id:
            secret_replace(secret=client.client_secret, payload=payload)
        else:
            client.client_secret = secret_seal(payload=payload, purpose=OAUTH_CLIENT_PURPOSE)
    elif not client.client_secret_id:
        raise CatalogError("client secret: required")
    client.client_id = client_id
    if scopes_override is not None:
        client.scopes_override = list(scopes_override)
    client.save()
    return client


def oauth_client_secret(client: OAuthClient) -> str:
    """Return the plaintext client secret of a registration (for the token endpoint only)."""
    return secret_open(secret=client.client_secret, purpose=OAUTH_CLIENT_PURPOSE)["client_secret"]
