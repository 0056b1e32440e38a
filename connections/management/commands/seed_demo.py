"""Create the demo tenant, its users, a superuser and (with the sandbox) ready OAuth clients.

Idempotent: passwords and keys are printed once, when created; later runs say what exists.
"""

import secrets

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse

from catalog.models import App, OAuthClient
from catalog.services import oauth_client_secret, oauth_client_set
from connections.models import Member, Role, Tenant

DEMO_TENANT = ("Demo Co", "demo")
DEMO_USERS = [
    ("demo-admin", Role.ADMIN, "admin@demo.test"),
    ("demo-operator", Role.OPERATOR, "operator@demo.test"),
    ("demo-viewer", Role.VIEWER, "viewer@demo.test"),
]
SUPERUSER = ("sysadmin", "sysadmin@demo.test")
OAUTH2_CLIENT_ID = "demo-oauth2-client"
OAUTH1_CLIENT_KEY = "demo-oauth1-client"
SANDBOX_EMAIL = "demo@sandbox.test"
SANDBOX_BASIC_USERNAME = "demo"


def new_password() -> str:
    return secrets.token_urlsafe(12)


class Command(BaseCommand):
    help = "Create the demo tenant 'Demo Co' with an admin, an operator, a viewer, a superuser and sandbox clients."

    def handle(self, *args, **options):
        self.created = []  # (what, login, secret) printed once at the end
        with transaction.atomic():
            tenant = self.seed_tenant()
            self.seed_users(tenant)
        if settings.SANDBOX_ENABLED and apps.is_installed("sandbox"):
            self.seed_sandbox()
        self.report()

    # -- tenant and people ------------------------------------------------------------------

    def seed_tenant(self) -> Tenant:
        name, slug = DEMO_TENANT
        tenant, created = Tenant.objects.get_or_create(slug=slug, defaults={"name": name})
        self.stdout.write(f"{'Created' if created else 'Tenant exists:'} {tenant.name} (slug {tenant.slug}).")
        return tenant

    def seed_users(self, tenant: Tenant) -> None:
        User = get_user_model()
        for username, role, email in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                password = new_password()
                user = User.objects.create_user(username=username, email=email, password=password)
                self.created.append((f"{role.label} of {tenant.name}", username, password))
            else:
                self.stdout.write(f"User {username} exists (its password was printed when it was created).")
            Member.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})

        username, email = SUPERUSER
        if not User.objects.filter(username=username).exists():
            password = new_password()
            User.objects.create_superuser(username=username, email=email, password=password)
            self.created.append(("Superuser for /admin/", username, password))
        else:
            self.stdout.write(f"Superuser {username} exists (its password was printed when it was created).")

    # -- sandbox: OAuth clients registered on both sides, an API key, a basic login --------

    def seed_sandbox(self) -> None:
        # sandbox is an installed app only while SANDBOX_ENABLED: imported when it is on.
        from sandbox import services as sandbox
        from sandbox.models import ApiKey, BasicAccount
        from sandbox.models import OAuth2Client as SandboxOAuth2Client

        def app_or_warn(slug):
            app = App.objects.filter(slug=slug).first()
            if app is None:
                self.stdout.write(self.style.WARNING(
                    f"The catalog has no app {slug!r}: run `python manage.py sync_catalog`, then seed_demo again."
                ))
            return app

        for slug, client_id, register in (
            ("sandbox-oauth2", OAUTH2_CLIENT_ID, "oauth2"),
            ("sandbox-oauth1", OAUTH1_CLIENT_KEY, "oauth1"),
        ):
            app = app_or_warn(slug)
            if app is None:
                continue
            client = OAuthClient.objects.filter(app=app).first()
            if client is not None and client.client_id == client_id:
                secret = oauth_client_secret(client)
                created = False
            else:
                secret = secrets.token_urlsafe(32)
                created = True
            redirect_uri = settings.BASE_URL + reverse("connections:callback", args=[slug])
            with transaction.atomic():
                if register == "oauth2":
                    sandbox.ensure_client(
                        client_id=client_id, client_secret=secret, redirect_uris=[redirect_uri],
                        name="App Connections demo",
                    )
                else:
                    sandbox.ensure_oauth1_client(
                        client_key=client_id, client_secret=secret, callback_uris=[redirect_uri],
                        name="App Connections demo",
                    )
                if created:
                    oauth_client_set(app=app, client_id=client_id, client_secret=secret)
            self.stdout.write(
                f"{'Registered' if created else 'Kept'} the {app.name} client {client_id!r} "
                f"(redirect URI {redirect_uri}); its secret is in the vault."
            )

        if app_or_warn("sandbox-api-key") is not None:
            if ApiKey.objects.filter(account__email=SANDBOX_EMAIL).exists():
                self.stdout.write("The sandbox API key exists (it was printed when it was created).")
            else:
                key = sandbox.create_api_key(SANDBOX_EMAIL)
                self.created.append(("Sandbox API key (for the “Sandbox API key” app)", "api_key", key))
        if app_or_warn("sandbox-client-credentials") is not None:
            machine_id = "sandbox-machine-client"
            if SandboxOAuth2Client.objects.filter(client_id=machine_id).exists():
                self.stdout.write("The sandbox machine client exists (its secret was printed when it was created).")
            else:
                machine_secret = secrets.token_urlsafe(24)
                sandbox.ensure_client(
                    client_id=machine_id, client_secret=machine_secret, redirect_uris=[],
                    name="Demo machine client",
                )  # fmt: skip
                self.created.append(
                    ("Sandbox machine client (for “Sandbox client credentials”: id, secret)", machine_id, machine_secret)
                )
        if app_or_warn("sandbox-basic") is not None:
            if BasicAccount.objects.filter(username=SANDBOX_BASIC_USERNAME).exists():
                self.stdout.write("The sandbox basic login exists (it was printed when it was created).")
            else:
                password = new_password()
                sandbox.create_basic_account(SANDBOX_BASIC_USERNAME, password, SANDBOX_EMAIL)
                self.created.append(("Sandbox basic login (for the “Sandbox basic” app)", SANDBOX_BASIC_USERNAME, password))

    # -- output -------------------------------------------------------------------------------

    def report(self) -> None:
        login_url = settings.BASE_URL + reverse("login")
        if not self.created:
            self.stdout.write(self.style.SUCCESS(f"Demo data is up to date. Sign in at {login_url}"))
            return
        width = max(len(login) for _, login, _ in self.created)
        lines = ["", "Demo credentials: shown ONCE, write them down now.", ""]
        for what, login, secret in self.created:
            lines.append(f"  {login.ljust(width)}  {secret}    {what}")
        lines += ["", f"Sign in at {login_url}  (Django admin: {settings.BASE_URL}/admin/)", ""]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))
