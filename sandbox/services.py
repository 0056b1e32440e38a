"""Registrations of the sandbox provider: clients, accounts, API keys, basic logins.

Every function is idempotent: calling it again with the same arguments changes nothing, and
with new arguments updates the existing row.
"""

import secrets

from django.db import transaction

from .models import Account, ApiKey, BasicAccount, OAuth1Client, OAuth2Client, digest

DEFAULT_EMAIL = "demo@sandbox.test"
DEFAULT_SCOPES = ["profile", "read", "write"]


def account_get_or_create(email: str = DEFAULT_EMAIL, name: str = "") -> Account:
    """Return the sandbox account with this email, creating it if needed."""
    email = email.strip().lower()
    account, _ = Account.objects.get_or_create(
        email=email, defaults={"name": name or email.split("@")[0].replace(".", " ").title()}
    )
    return account


@transaction.atomic
def ensure_client(
    client_id: str,
    client_secret: str,
    redirect_uris: list[str],
    access_token_lifetime: int = 3600,
    name: str = "Sandbox OAuth2 client",
    scopes: list[str] | None = None,
) -> OAuth2Client:
    """Create or update the OAuth2 client `client_id`."""
    client, _ = OAuth2Client.objects.update_or_create(
        client_id=client_id,
        defaults={
            "secret_digest": digest(client_secret),
            "redirect_uris": list(redirect_uris),
            "access_token_lifetime": int(access_token_lifetime),
            "name": name,
            "scopes": list(scopes or DEFAULT_SCOPES),
        },
    )
    return client


@transaction.atomic
def ensure_oauth1_client(
    client_key: str,
    client_secret: str,
    callback_uris: list[str],
    name: str = "Sandbox OAuth1 client",
) -> OAuth1Client:
    """Create or update the OAuth1 client `client_key`."""
    client, _ = OAuth1Client.objects.update_or_create(
        client_key=client_key,
        defaults={"client_secret": client_secret, "callback_uris": list(callback_uris), "name": name},
    )
    return client


def client_service_account(client: OAuth2Client) -> Account:
    """Return the account a client acts as in the client credentials grant."""
    return account_get_or_create(f"client-{client.pk}@service.sandbox.test", name=f"{client.name} (service)")


def create_api_key(account_email: str = DEFAULT_EMAIL) -> str:
    """Create an API key for the account and return it (it is shown only this once)."""
    account = account_get_or_create(account_email)
    key = "sbx_" + secrets.token_urlsafe(24)
    ApiKey.objects.create(key_digest=digest(key), prefix=key[:8], account=account)
    return key


@transaction.atomic
def create_basic_account(username: str, password: str, email: str = DEFAULT_EMAIL) -> BasicAccount:
    """Create or update a basic-auth login for the account."""
    account = account_get_or_create(email)
    login, _ = BasicAccount.objects.update_or_create(
        username=username, defaults={"password_digest": digest(password), "account": account}
    )
    return login
